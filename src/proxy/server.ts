import { createServer, type ClientRequest, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { pickUpstream, reportFailure, reportNeutral, reportSuccess, type EjectionPolicy } from './balancer.js';
import { clientResponseHeaders, setForwardedOnObject, upstreamRequestHeaders } from './headers.js';
import type { ProxyMetrics } from './metrics.js';
import { classifyFailure, shouldRetry } from './retry.js';
import type { HostRouter } from './routing.js';
import type { Upstream, UpstreamTable } from './upstreams.js';

export interface ServerLimits {
  /** client: time to send the request head (slowloris) */
  clientHeaderTimeoutMs: number;
  /** client: whole request (head and body); 0 = unlimited */
  clientRequestTimeoutMs: number;
  /** client: keep-alive idle time between requests */
  idleTimeoutMs: number;
  maxHeaderSize: number;
  maxTries: number;
  connectTimeoutMs: number;
}

/** The access log: a pino logger or nothing. */
export type AccessLog = Logger | undefined;

interface Deps {
  router: HostRouter;
  table: UpstreamTable;
  policy: EjectionPolicy;
  limits: ServerLimits;
  metrics: ProxyMetrics;
  log: Logger;
  accessLog: AccessLog;
}

const kExchange = Symbol('beacon.exchange');
const kFront = Symbol('beacon.front');
type TaggedResponse = ServerResponse & { [kExchange]?: Exchange; [kFront]?: FrontDoor };

class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

const NO_TRIES: readonly Upstream[] = [];

/** A WebSocket opening handshake: the only upgrade the proxy passes on (RFC 6455 4.1). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && /^websocket$/i.test(req.headers.upgrade ?? '');
}

/** Node >= 24.9 / 22.21 choose per request which Upgrade requests reach 'upgrade'. */
const UPGRADE_CALLBACK_SUPPORTED = typeof (createServer() as Server & { shouldUpgradeCallback?: unknown }).shouldUpgradeCallback === 'function';

/** Every response's 'close' (one static listener, no closure per request). */
function onResponseClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
  this[kFront]?.settle();
}

function onResponseDrain(this: TaggedResponse): void {
  this[kExchange]?.controller?.resume();
}

/**
 * One client request through its upstream attempts. It is its own undici dispatch handler, so a
 * request costs one object (plus the header array) rather than a set of closures.
 */
class Exchange implements Dispatcher.DispatchHandler {
  readonly front: FrontDoor;
  readonly req: IncomingMessage;
  readonly res: TaggedResponse;
  readonly service: string;
  readonly startedAt: number;
  readonly hasBody: boolean;
  readonly options: Dispatcher.DispatchOptions;
  peer: Upstream | undefined;
  tried: Upstream[] | undefined;
  tries = 0;
  controller: Dispatcher.DispatchController | undefined;
  requestSent = false;
  responseStarted = false;
  done = false;
  clientGone = false;
  status = 0;
  /** undefined: no body chunk yet; a Buffer: the first chunk, not written yet; null: streaming */
  held: Buffer | null | undefined = undefined;
  /** the upstream's content-length, or -1 */
  bodyLength = -1;

  constructor(front: FrontDoor, req: IncomingMessage, res: ServerResponse, service: string, startedAt: number, hasBody: boolean) {
    this.front = front;
    this.req = req;
    this.res = res as TaggedResponse;
    this.service = service;
    this.startedAt = startedAt;
    this.hasBody = hasBody;
    const socket = req.socket;
    this.options = {
      path: req.url!,
      method: req.method as Dispatcher.HttpMethod,
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, { clientAddress: socket.remoteAddress ?? '', proto: 'http' }),
      body: hasBody ? req : null,
      // Retries are decided here, not inside undici.
      idempotent: false,
      reset: false,
    };
    this.res[kExchange] = this;
  }

  /** Picks the next peer and dispatches; false when none is left. */
  attempt(now: number): boolean {
    const service = this.front.table.get(this.service);
    const peer = service ? pickUpstream(service.peers, now, this.tried ?? NO_TRIES) as Upstream | undefined : undefined;
    if (peer === undefined) return false;
    this.peer = peer;
    this.tries++;
    this.requestSent = false;
    this.controller = undefined;
    peer.pool.dispatch(this.options, this);
    return true;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new ClientGoneError('client went away'));
  }

  onRequestSent(): void {
    this.requestSent = true;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    const peer = this.peer!;
    if (reportSuccess(peer)) this.front.log.info({ service: this.service, upstream: peer.id }, 'upstream back in rotation');
    if (this.clientGone) return controller.abort(new ClientGoneError('client went away'));
    const raw = (controller.rawHeaders ?? []) as Buffer[];
    try {
      if (statusMessage) this.res.writeHead(statusCode, statusMessage, clientResponseHeaders(raw));
      else this.res.writeHead(statusCode, clientResponseHeaders(raw));
    } catch (err) {
      // The upstream sent something Node refuses to repeat (bad header characters).
      this.front.log.warn({ service: this.service, upstream: peer.id, err: (err as Error).message }, 'upstream response head rejected');
      controller.abort(err as Error);
      return;
    }
    this.status = statusCode;
    this.responseStarted = true;
    const length = headers['content-length'];
    this.bodyLength = typeof length === 'string' ? Number(length) : -1;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // A body that arrives whole in one chunk waits for onResponseEnd, so head and body leave in
    // one write instead of two or three. Anything else (streams, SSE) is written as it comes.
    const held = this.held;
    let ok = true;
    if (held === undefined) {
      if (chunk.length === this.bodyLength) {
        this.held = chunk;
        return;
      }
      this.held = null;
    } else if (held !== null) {
      this.held = null;
      ok = this.res.write(held);
    }
    if (!this.res.write(chunk) || !ok) {
      controller.pause();
      this.res.once('drain', onResponseDrain);
    }
  }

  onResponseEnd(): void {
    this.done = true;
    const held = this.held;
    if (held) this.res.end(held);
    else this.res.end();
    this.front.finished(this, this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.done) return;
    const front = this.front;
    const peer = this.peer!;
    if (this.clientGone || err instanceof ClientGoneError) {
      reportNeutral(peer);
      this.done = true;
      front.finished(this, 499);
      return;
    }
    const kind = classifyFailure(err);
    const now = Date.now();
    front.metrics.upstreamError(this.service, kind);
    if (reportFailure(peer, now, front.policy)) {
      front.metrics.ejection(this.service);
      front.log.warn({ service: this.service, upstream: peer.id, err: err.message, forMs: front.policy.failTimeoutMs }, 'upstream ejected after failures');
    }
    if (this.responseStarted) {
      // Too late for a clean error: cut the client connection so it sees a truncated response.
      this.done = true;
      front.log.warn({ service: this.service, upstream: peer.id, err: err.message }, 'upstream failed mid-response');
      this.res.destroy(err);
      front.finished(this, this.status);
      return;
    }
    const req = this.req;
    const retry = shouldRetry({
      kind,
      method: req.method!,
      hasBody: this.hasBody,
      bodyConsumed: req.readableDidRead || req.destroyed,
      requestSent: this.requestSent,
      responseStarted: false,
      tries: this.tries,
      maxTries: front.limits.maxTries,
    });
    if (retry) {
      (this.tried ??= []).push(peer);
      front.metrics.retry(this.service);
      if (this.attempt(now)) return;
    }
    front.log.debug({ service: this.service, upstream: peer.id, err: err.message, kind, tries: this.tries }, 'upstream request failed');
    this.done = true;
    const status = front.sendError(this.res, 502, kind === 'timeout' ? `upstream of service "${this.service}" timed out\n` : `upstream of service "${this.service}" failed\n`);
    front.finished(this, status);
  }

  clientClosed(): void {
    if (this.done) return;
    this.clientGone = true;
    this.controller?.abort(new ClientGoneError('client went away'));
  }
}

/**
 * The I/O shell: the listening HTTP server, one Exchange per request, WebSocket upgrades
 * through http-proxy-3, graceful drain on stop. Routing and balancing decisions are the pure
 * modules'; this file only moves bytes and reports outcomes.
 */
export class FrontDoor {
  readonly table: UpstreamTable;
  readonly policy: EjectionPolicy;
  readonly limits: ServerLimits;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  private readonly router: HostRouter;
  private readonly accessLog: AccessLog;
  private readonly server: Server;
  private readonly wsProxy: ProxyServer;
  private readonly upgraded = new Set<Duplex>();
  /** client sockets whose upgrade the upstream accepted (101 sent or on its way) */
  private readonly switched = new WeakSet<Duplex>();
  private inflight = 0;
  private stopping = false;
  private drained: (() => void) | undefined;
  private listening = false;
  requests = 0;

  constructor(deps: Deps) {
    this.router = deps.router;
    this.table = deps.table;
    this.policy = deps.policy;
    this.limits = deps.limits;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.accessLog = deps.accessLog;
    const l = deps.limits;
    this.server = createServer(
      {
        maxHeaderSize: l.maxHeaderSize,
        headersTimeout: l.clientHeaderTimeoutMs,
        requestTimeout: l.clientRequestTimeoutMs,
        keepAliveTimeout: l.idleTimeoutMs,
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(l.clientHeaderTimeoutMs / 2))),
        noDelay: true,
        // Only WebSocket upgrades go to 'upgrade'; anything else with an Upgrade header (h2c,
        // TLS/1.0) takes the normal request path instead of being dropped.
        ...(UPGRADE_CALLBACK_SUPPORTED ? { shouldUpgradeCallback: isWebSocketUpgrade } : {}),
      } as ServerOptions,
      (req, res) => this.handle(req, res),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    this.wsProxy = createProxyServer({ xfwd: false, ws: true, changeOrigin: false, proxyTimeout: 0, connectTimeout: l.connectTimeoutMs } as never);
    // The upstream accepted the upgrade: remember it before the 101 goes to the client.
    this.wsProxy.on('proxyReqWs', (proxyReq: ClientRequest, _req: IncomingMessage, socket: Duplex) => {
      proxyReq.once('upgrade', () => this.switched.add(socket));
    });
    // Always handled: an unhandled 'error' on the proxy emitter would take the process down.
    this.wsProxy.on('error', (err: Error, req: IncomingMessage, target: unknown) => {
      this.log.debug({ err: err.message, url: req?.url }, 'websocket proxy error');
      const socket = target as Duplex | undefined;
      if (socket && typeof (socket as Socket).destroy === 'function' && !socket.destroyed) {
        // After the 101 the socket speaks WebSocket: an HTTP response there would be garbage frames.
        if (!this.switched.has(socket) && socket.writable && !(socket as Socket).writableEnded) {
          socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 12\r\n\r\nbad gateway\n');
        }
        socket.destroy();
      }
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port, backlog: 4096 }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.log.error({ err: err.message }, 'proxy listener error'));
        this.listening = true;
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get isListening(): boolean {
    return this.listening;
  }

  get inflightRequests(): number {
    return this.inflight;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    this.inflight++;
    this.requests++;
    (res as TaggedResponse)[kFront] = this;
    res.on('close', onResponseClose);
    if (this.stopping) res.shouldKeepAlive = false;
    const url = req.url;
    if (url === undefined || url.charCodeAt(0) !== 47 /* / */) {
      const status = this.sendError(res, 400, 'request target must be a path\n');
      this.account(req, res, '-', undefined, status, startedAt);
      return;
    }
    if (hasSeveralHosts(req.rawHeaders) || !HOST_SYNTAX.test(req.headers.host ?? '')) {
      // RFC 9112 3.2: more than one Host, or one that is no authority, is a 400; passing such
      // a header on invites cache poisoning and upstream confusion.
      const status = this.sendError(res, 400, 'invalid Host header\n');
      this.account(req, res, '-', undefined, status, startedAt);
      return;
    }
    const service = this.router.route(req.headers.host);
    if (service === undefined) {
      const status = this.sendError(res, 404, `no route for host "${printable(req.headers.host)}"\n`);
      this.account(req, res, '-', undefined, status, startedAt);
      return;
    }
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const exchange = new Exchange(this, req, res, service, startedAt, hasBody);
    if (!exchange.attempt(Date.now())) {
      exchange.done = true;
      const status = this.sendError(res, 503, `no live instance of service "${service}"\n`, true);
      this.finished(exchange, status);
    }
  }

  /** An exchange is over (response ended, failed, or the client left). */
  finished(exchange: Exchange, status: number): void {
    this.account(exchange.req, exchange.res, exchange.service, exchange.peer, status, exchange.startedAt, exchange.tries);
  }

  /**
   * The metrics label for a service without instances: its name when a flag names it, else "-".
   * `<anything>.<domain>` Host headers must not mint unbounded label values.
   */
  private label(service: string | undefined): string {
    return service !== undefined && (this.router.isNamed(service) || this.table.get(service) !== undefined) ? service : '-';
  }

  private account(req: IncomingMessage, res: ServerResponse, service: string, peer: Upstream | undefined, status: number, startedAt: number, tries = 0): void {
    const ms = performance.now() - startedAt;
    this.metrics.request(peer !== undefined ? service : this.label(service), status, ms / 1000);
    if (this.accessLog !== undefined) {
      this.accessLog.info({
        method: req.method,
        host: req.headers.host,
        path: req.url,
        status,
        service,
        upstream: peer?.id,
        tries,
        ms: Math.round(ms * 1000) / 1000,
        client: req.socket.remoteAddress,
      }, 'request');
    }
  }

  /** A response closed (finished or cut): one request fewer in flight. */
  settle(): void {
    this.inflight--;
    if (this.stopping) {
      this.server.closeIdleConnections();
      if (this.inflight === 0) this.drained?.();
    }
  }

  /** Writes a short plain-text error response; returns the status. */
  sendError(res: ServerResponse, status: number, body: string, retryAfter = false): number {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return status;
    }
    const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'];
    if (retryAfter) headers.push('retry-after', '1');
    if (this.stopping) headers.push('connection', 'close');
    res.writeHead(status, headers);
    res.end(body);
    return status;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const service = this.stopping ? undefined : this.router.route(req.headers.host);
    const reject = (status: number, reason: string, body: string): void => {
      this.metrics.request(this.label(service), status, 0);
      if (socket.writable) {
        socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${status === 503 ? 'retry-after: 1\r\n' : ''}\r\n${body}`);
      }
      socket.destroy();
    };
    if (this.stopping) return reject(503, 'Service Unavailable', 'shutting down\n');
    // Node without shouldUpgradeCallback sends every Upgrade request here; http-proxy-3 would
    // drop the connection of anything but a WebSocket, so answer it instead.
    if (!isWebSocketUpgrade(req)) return reject(501, 'Not Implemented', `upgrade to "${printable(req.headers.upgrade)}" is not supported; send the request without Upgrade\n`);
    if (service === undefined) return reject(404, 'Not Found', `no route for host "${printable(req.headers.host)}"\n`);
    const peers = this.table.get(service)?.peers;
    const peer = peers ? (pickUpstream(peers, Date.now()) as Upstream | undefined) : undefined;
    if (peer === undefined) return reject(503, 'Service Unavailable', `no live instance of service "${service}"\n`);
    setForwardedOnObject(req.headers, { clientAddress: req.socket.remoteAddress ?? '', proto: 'http' });
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    this.metrics.request(service, 101, 0);
    this.accessLog?.info({ method: req.method, host: req.headers.host, path: req.url, status: 101, service, upstream: peer.id, client: req.socket.remoteAddress }, 'upgrade');
    reportNeutral(peer);
    this.wsProxy.ws(req, socket, head, { target: peer.origin });
  }

  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? 'unknown';
    let response: string | undefined;
    let reason = 'bad-request';
    if (code === 'HPE_HEADER_OVERFLOW') {
      reason = 'header-too-large';
      response = 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';
    } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reason = 'timeout';
      response = 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';
    } else if (code === 'ECONNRESET' || code === 'EPIPE') {
      reason = 'reset';
    } else {
      response = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';
    }
    this.metrics.clientError(reason);
    const s = socket as Socket;
    if (response !== undefined && s.writable && !s.writableEnded && (s as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent !== true) {
      s.end(response);
    }
    s.destroy();
  }

  /**
   * Graceful: stop accepting, let in-flight requests finish (closing keep-alive connections as
   * they go idle) until `deadlineMs`, then cut what is left.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.drained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    const unfinished = this.inflight;
    for (const socket of this.upgraded) socket.destroy();
    this.server.closeAllConnections();
    this.wsProxy.close?.();
    await closed;
    this.listening = false;
    return { unfinished };
  }
}

function printable(host: string | undefined): string {
  if (host === undefined || host === '') return '';
  return host.length > 200 ? `${host.slice(0, 200)}...` : host.replace(/[^\x20-\x7e]/g, '?').replace(/"/g, "'");
}

/** RFC 3986 authority without userinfo: reg-name, IPv4 or [IPv6], then an optional port. */
const HOST_SYNTAX = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d{0,5})?$/;

function hasSeveralHosts(raw: readonly string[]): boolean {
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) return true;
  }
  return false;
}
