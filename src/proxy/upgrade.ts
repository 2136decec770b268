/**
 * WebSocket handshakes, for both engines: admitted like plain requests (target, Host count and
 * syntax, route), then handed to http-proxy-3 with the proxy's X-Forwarded-* headers. After the
 * upstream's 101 the socket carries frames, so an error there closes it instead of answering.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { admit, hostsOf, isRefusal, noInstance, type Refusal } from './admission.js';
import { affinityKey } from './policies.js';
import { setForwardedOnObject } from './headers.js';
import { headerValue, localResponse, printable } from './responses.js';
import type { Traffic } from './traffic.js';

/** The request fields an upgrade (and http-proxy-3) needs: the shape of an IncomingMessage. */
export interface UpgradeRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  httpVersion: string;
  httpVersionMajor: number;
  httpVersionMinor: number;
  socket: Socket;
  connection: Socket;
}

/** What to do with a request head that carries Upgrade (llhttp stops after such a head). */
export type UpgradeHead =
  | { readonly kind: 'websocket' }
  | { readonly kind: 'refuse'; readonly status: number; readonly body: string }
  /** another protocol (h2c, TLS/1.0): answered as a plain request, its body counted out by hand */
  | { readonly kind: 'plain'; readonly bodyLength: number };

/** Pure: how the fast engine treats a head with Upgrade. */
export function classifyUpgrade(method: string, headers: readonly string[]): UpgradeHead {
  if (method === 'CONNECT') return { kind: 'refuse', status: 501, body: 'CONNECT is not supported\n' };
  const upgrade = headerValue(headers, 'upgrade');
  const chunked = headerValue(headers, 'transfer-encoding') !== undefined;
  const length = Number(headerValue(headers, 'content-length') ?? '0');
  if (isWebSocketUpgrade(method, upgrade)) {
    // RFC 6455 4.1: a GET with no body; one with a body would leave the upstream waiting for it
    if (chunked || length !== 0) return { kind: 'refuse', status: 400, body: 'a WebSocket handshake carries no body\n' };
    return { kind: 'websocket' };
  }
  if (chunked) return { kind: 'refuse', status: 501, body: `upgrade to "${printable(upgrade)}" with a chunked body is not supported; send the request without Upgrade\n` };
  // llhttp takes lengths up to 2^64; counting them out by hand needs exact integers
  if (!Number.isSafeInteger(length) || length < 0) return { kind: 'refuse', status: 400, body: 'Content-Length too large for a request with Upgrade\n' };
  return { kind: 'plain', bodyLength: length };
}

/** An UpgradeRequest from a parsed head (names lowercased, repeated ones joined, as node:http does). */
export function upgradeRequest(method: string, url: string, raw: string[], versionMajor: number, versionMinor: number, socket: Socket): UpgradeRequest {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const prior = headers[name];
    headers[name] = prior === undefined ? raw[i + 1]! : `${prior}, ${raw[i + 1]!}`;
  }
  return { method, url, headers, rawHeaders: raw, httpVersion: `${versionMajor}.${versionMinor}`, httpVersionMajor: versionMajor, httpVersionMinor: versionMinor, socket, connection: socket };
}

/** A WebSocket opening handshake: the only upgrade the proxy passes on (RFC 6455 4.1). */
export function isWebSocketUpgrade(method: string, upgrade: string | undefined): boolean {
  return method === 'GET' && upgrade !== undefined && /^websocket$/i.test(upgrade.trim());
}

const GATEWAY_ERROR = 'HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nbad gateway\n';

export class WebSocketUpgrades {
  private readonly traffic: Traffic;
  private readonly proxy: ProxyServer;
  private readonly proto: string;
  private readonly open = new Set<Duplex>();
  /** client sockets whose upgrade the upstream accepted (101 sent or on its way) */
  private readonly switched = new WeakSet<Duplex>();

  constructor(traffic: Traffic, proto = 'http') {
    this.traffic = traffic;
    this.proto = proto;
    this.proxy = createProxyServer({ xfwd: false, ws: true, changeOrigin: false, proxyTimeout: 0, connectTimeout: traffic.limits.connectTimeoutMs } as never);
    // The upstream accepted the upgrade: remember it before the 101 goes to the client.
    this.proxy.on('proxyReqWs', (proxyReq: ClientRequest, _req: IncomingMessage, socket: Duplex) => {
      proxyReq.once('upgrade', () => this.switched.add(socket));
    });
    // Always handled: an unhandled 'error' on the proxy emitter would take the process down.
    this.proxy.on('error', (err: Error, req: IncomingMessage, target: unknown) => {
      traffic.log.debug({ err: err.message, url: req?.url }, 'websocket proxy error');
      const socket = target as Duplex | undefined;
      if (socket && typeof (socket as Socket).destroy === 'function' && !socket.destroyed) {
        // After the 101 the socket speaks WebSocket: an HTTP response there would be garbage frames.
        if (!this.switched.has(socket) && socket.writable && !(socket as Socket).writableEnded) socket.end(GATEWAY_ERROR);
        socket.destroy();
      }
    });
  }

  /** Admits the handshake and passes it on, or answers it and closes the socket. */
  pass(req: UpgradeRequest, socket: Socket, head: Buffer): void {
    const traffic = this.traffic;
    socket.on('error', () => socket.destroy());
    const { host, hosts } = hostsOf(req.rawHeaders);
    if (traffic.stopping) return this.refuse(socket, { status: 503, body: 'shutting down\n' });
    const shape = classifyUpgrade(req.method, req.rawHeaders);
    if (shape.kind === 'refuse') return this.refuse(socket, shape);
    const proto = (socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
    const routed = admit({ url: req.url, hosts, host, versionMinor: req.httpVersionMinor, versionMajor: req.httpVersionMajor, proto, httpsPort: traffic.httpsPort }, (h) => traffic.router.candidates(h));
    if (isRefusal(routed)) return this.refuse(socket, routed);
    const route = routed.route;
    const peer = traffic.pick(route, undefined, affinityKey(route.balance, route.cookie, socket.remoteAddress ?? '', req.rawHeaders));
    if (peer === undefined) return this.refuse(socket, noInstance(routed.service));
    // a WebSocket is not counted as a request in flight for least-conn
    traffic.release(peer);
    req.url = routed.target;
    setForwardedOnObject(req.headers, { clientAddress: socket.remoteAddress ?? '', proto: (socket as { encrypted?: boolean }).encrypted === true ? 'https' : this.proto });
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    traffic.recordUpgrade(req.method, host, req.url, routed.service, peer.id, socket.remoteAddress);
    traffic.neutral(peer);
    this.proxy.ws(req as unknown as IncomingMessage, socket, head, { target: `http://${peer.id}` });
  }

  /** Refuses an upgrade the way a plain request would be answered, then closes. */
  refuse(socket: Duplex, refusal: Refusal): void {
    this.traffic.metrics.request(this.traffic.label(refusal.service), refusal.status, 0);
    if (socket.writable) socket.end(localResponse(refusal.status, refusal.body, { retryAfter: refusal.status === 503, close: true, ...(refusal.location !== undefined ? { location: refusal.location } : {}) }));
    socket.destroy();
  }

  /** An Upgrade to something other than WebSocket, on an engine that cannot answer it plainly. */
  refuseProtocol(socket: Duplex, upgrade: string | undefined): void {
    this.refuse(socket, { status: 501, body: `upgrade to "${printable(upgrade)}" is not supported; send the request without Upgrade\n` });
  }

  /** Cuts every upgraded connection (end of a graceful stop). */
  destroyAll(): void {
    for (const socket of this.open) socket.destroy();
    this.proxy.close?.();
  }
}
