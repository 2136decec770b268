// Upstreams and clients for the route tests: an upstream that says who it is and what it got.
import { createServer, request, type Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import { freePort } from '../harness/ports.ts';

export interface EchoUpstream {
  name: string;
  port: number;
  /** requests seen */
  hits: number;
  /** ms before answering (settable: a slow instance) */
  delayMs: number;
  server: Server;
  close(): Promise<void>;
}

/** Answers `<name> <request target>` as text, with `x-upstream: <name>`, `server: echo` and the request headers as JSON in `x-seen`. */
export async function startEcho(name: string): Promise<EchoUpstream> {
  const port = await freePort();
  const up: EchoUpstream = { name, port, hits: 0, delayMs: 0, server: undefined as unknown as Server, close: async () => undefined };
  const server = createServer((req, res) => {
    up.hits++;
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name, server: 'echo', 'x-seen': JSON.stringify(req.headers) });
      res.end(`${name} ${req.url}`);
    };
    if (up.delayMs > 0) setTimeout(answer, up.delayMs);
    else answer();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  up.server = server;
  up.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return up;
}

export interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** the local port of the client connection (same port = same connection) */
  localPort: number;
}

export interface GetOptions {
  host: string;
  path?: string;
  headers?: Record<string, string>;
  agent?: Agent;
  /** a loopback source address (127.0.0.0/8), for ip-hash */
  localAddress?: string;
}

/** One GET to the proxy on 127.0.0.1:port, with the raw path as given (no URL normalisation). */
export function get(port: number, o: GetOptions): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: o.path ?? '/', headers: { host: o.host, ...o.headers }, agent: o.agent ?? false, timeout: 10_000, ...(o.localAddress ? { localAddress: o.localAddress } : {}) },
      (res) => {
        const localPort = res.socket?.localPort ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, localPort }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}
