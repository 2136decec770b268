// Shared pieces of the proxy integration tests: loopback upstreams, a small HTTP client, a
// minimal WebSocket (RFC 6455) client and echo server, and a proxy launcher.
import { createHash } from 'node:crypto';
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { startBeacon, type BeaconProcess } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

/** The HTTP engine these tests hold to the contract (npm test runs the proxy suite once per engine). */
export const ENGINE = process.env.BEACON_ENGINE ?? 'auto';

export interface Upstream {
  name: string;
  port: number;
  server: Server;
  /** requests served, by path */
  hits: number;
  /** headers of the last request */
  lastHeaders: IncomingHttpHeaders | undefined;
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * An upstream on 127.0.0.1 answering:
 * - `GET /slow?ms=N` after N ms (`&bytes=B`: B deterministic bytes as the body)
 * - `POST /hash` with the sha256 and size of the body it read
 * - `GET /blob?bytes=N` N deterministic bytes, streamed in chunks
 * - anything else: `<name>` as text
 * - WebSocket upgrades on any path: echoes text frames prefixed with `<name>:` (`?delay=N`:
 *   the 101 comes N ms late; frames that arrive before it are echoed after it)
 */
export async function startUpstream(name: string, fixedPort?: number): Promise<Upstream> {
  const port = fixedPort ?? (await freePort());
  const upstream: Upstream = { name, port, server: undefined as unknown as Server, hits: 0, lastHeaders: undefined, close: async () => undefined };
  const upgraded = new Set<Duplex>();
  const server = createServer((req, res) => {
    upstream.hits++;
    upstream.lastHeaders = req.headers;
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/slow') {
      const ms = Number(url.searchParams.get('ms') ?? 1000);
      const bytes = Number(url.searchParams.get('bytes') ?? 0);
      setTimeout(() => {
        const body = bytes > 0 ? blobChunk(0, bytes) : Buffer.from(`${name} slow done`);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, 'x-upstream': name });
        res.end(body);
      }, ms);
      return;
    }
    if (url.pathname === '/hash') {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name });
        res.end(JSON.stringify({ sha256: hash.digest('hex'), size }));
      });
      return;
    }
    if (url.pathname === '/stream') {
      // one chunk now, the next after `ms`: a proxy that buffers delays the first
      const ms = Number(url.searchParams.get('ms') ?? 1000);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-upstream': name });
      res.write('data: first\n\n');
      setTimeout(() => res.end('data: second\n\n'), ms);
      return;
    }
    if (url.pathname === '/blob') {
      const total = Number(url.searchParams.get('bytes') ?? 1024);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': name });
      let sent = 0;
      const push = (): void => {
        while (sent < total) {
          const n = Math.min(65536, total - sent);
          const chunk = blobChunk(sent, n);
          sent += n;
          if (!res.write(chunk)) return void res.once('drain', push);
        }
        res.end();
      };
      push();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(name);
  });
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    upstream.hits++;
    upstream.lastHeaders = req.headers;
    const key = req.headers['sec-websocket-key'];
    const accept = createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    let switched = false;
    let buffered = Buffer.from(head);
    const answer = (): void => {
      if (!switched) return;
      for (;;) {
        const frame = decodeFrame(buffered);
        if (!frame) break;
        buffered = buffered.subarray(frame.length);
        if (frame.opcode === 8) return void socket.end(encodeFrame(Buffer.alloc(0), false, 8));
        socket.write(encodeFrame(Buffer.from(`${name}:${frame.payload.toString()}`), false));
      }
    };
    const switchProtocols = (): void => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      switched = true;
      answer();
    };
    if (delay > 0) setTimeout(switchProtocols, delay);
    else switchProtocols();
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      answer();
    });
    socket.on('error', () => socket.destroy());
    // http servers allow half-open sockets: answer the peer's FIN ourselves.
    socket.on('end', () => socket.end());
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  upstream.server = server;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of upgraded) s.destroy();
    });
  return upstream;
}

export function blobChunk(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (offset + i) * 31 % 251;
  return b;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  host?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => AsyncIterable<Buffer>);
  agent?: Agent | false;
  timeoutMs?: number;
}

/** One HTTP request to 127.0.0.1:port; rejects on socket errors. */
export function send(port: number, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: { ...(opts.host !== undefined ? { host: opts.host } : {}), ...opts.headers },
        agent: opts.agent ?? false,
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString() });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      (async () => {
        for await (const chunk of body()) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch((err: Error) => req.destroy(err));
    }
  });
}

export interface ProxyUnderTest {
  port: number;
  adminPort: number;
  beacon: BeaconProcess;
  status(): Promise<Record<string, unknown>>;
  metrics(): Promise<string>;
}

/** `beacon proxy` on loopback ports against `storeUrl`, waiting until it listens. */
export async function startProxy(storeUrl: string, args: readonly string[] = []): Promise<ProxyUnderTest> {
  const port = await freePort();
  const adminPort = await freePort();
  const beacon = startBeacon(['proxy', '--store', storeUrl, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, ...args]);
  const workers = args.includes('--workers');
  await beacon.waitForLog(workers ? 'proxy workers listening' : 'proxy listening', {}, 20_000);
  return {
    port,
    adminPort,
    beacon,
    status: async () => JSON.parse((await send(adminPort, { path: '/status' })).text) as Record<string, unknown>,
    metrics: async () => (await send(adminPort, { path: '/metrics' })).text,
  };
}

/**
 * Opens a connection to `port`, writes `pieces` (`gapMs` apart) and collects what comes back
 * until the other side closes; rejects after `timeoutMs`.
 */
export function converse(port: number, pieces: readonly (string | Buffer)[], gapMs = 0, timeoutMs = 5000): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: performance.now() - started });
    });
    socket.on('connect', async () => {
      for (const piece of pieces) {
        socket.write(piece);
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

/** Sends requests until `probe(reply)` holds; returns the elapsed ms. */
export async function untilReply(port: number, opts: RequestOptions, probe: (r: Reply) => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  await waitFor('a matching reply', async () => probe(await send(port, opts)), timeoutMs, 2);
  return performance.now() - started;
}

// --- minimal WebSocket framing (text frames, payloads < 64 KiB) ---

export function encodeFrame(payload: Buffer, mask: boolean, opcode = 1): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : 4;
  const out = Buffer.alloc(head + (mask ? 4 : 0) + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = (mask ? 0x80 : 0) | len;
  else {
    out[1] = (mask ? 0x80 : 0) | 126;
    out.writeUInt16BE(len, 2);
  }
  if (mask) {
    const key = Buffer.from([1, 2, 3, 4]);
    key.copy(out, head);
    for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i]! ^ key[i % 4]!;
  } else payload.copy(out, head);
  return out;
}

export function decodeFrame(buf: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (buf.length < 2) return undefined;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let len = buf[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    offset = 4;
  }
  const maskKey = masked ? buf.subarray(offset, offset + 4) : undefined;
  if (masked) offset += 4;
  if (buf.length < offset + len) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + len));
  if (maskKey) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ maskKey[i % 4]!;
  return { opcode, payload, length: offset + len };
}

/** Opens a WebSocket through `port` with Host `host`; resolves with a send/receive helper. */
/**
 * A WebSocket client through the proxy. `early` frames are sent before the 101 is awaited: the
 * first in the same write as the handshake, the others 50 ms apart.
 */
export async function openWebSocket(
  port: number,
  host: string,
  opts: { path?: string; early?: readonly Buffer[] } = {},
): Promise<{ socket: Socket; response: string; echo(text: string): Promise<string>; receive(): Promise<string>; close(): void }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const key = Buffer.from('0123456789abcdef').toString('base64');
  const [first, ...later] = opts.early ?? [];
  const handshake = Buffer.from(`GET ${opts.path ?? '/chat'} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  socket.write(first === undefined ? handshake : Buffer.concat([handshake, first]));
  for (const frame of later) {
    await new Promise((r) => setTimeout(r, 50));
    socket.write(frame);
  }
  let buffered = Buffer.alloc(0);
  const waiters: ((b: Buffer) => boolean)[] = [];
  socket.on('data', (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    while (waiters.length > 0 && waiters[0]!(buffered)) waiters.shift();
  });
  const next = <T>(parse: (b: Buffer) => { value: T; used: number } | undefined): Promise<T> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('websocket: timed out waiting for data')), 5000);
      const tryParse = (b: Buffer): boolean => {
        const got = parse(b);
        if (!got) return false;
        clearTimeout(timer);
        buffered = buffered.subarray(got.used);
        resolve(got.value);
        return true;
      };
      if (!tryParse(buffered)) waiters.push(tryParse);
    });
  const response = await next((b) => {
    const end = b.indexOf('\r\n\r\n');
    return end === -1 ? undefined : { value: b.subarray(0, end).toString(), used: end + 4 };
  });
  return {
    socket,
    response,
    echo: async (text) => {
      socket.write(encodeFrame(Buffer.from(text), true));
      return next((b) => {
        const f = decodeFrame(b);
        return f ? { value: f.payload.toString(), used: f.length } : undefined;
      });
    },
    receive: () =>
      next((b) => {
        const f = decodeFrame(b);
        return f ? { value: f.payload.toString(), used: f.length } : undefined;
      }),
    close: () => socket.destroy(),
  };
}
