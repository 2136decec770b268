/**
 * The portable engine's listener: node:http on the client side (its parser, timeouts,
 * pipelining and framing), the shared admission, Traffic and WebSocket hand-over, and a
 * graceful stop. Public Node.js APIs only.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { admit, hostsOf, isRefusal, noInstance, type Refusal } from '../admission.js';
import { affinityKey } from '../policies.js';
import { editList } from '../route-headers.js';
import { listenOn, type FrontDoor } from '../front-door.js';
import { requestForwardList, requestFacts } from '../headers.js';
import { clientErrorAnswer, closingResponse } from '../responses.js';
import type { Traffic } from '../traffic.js';
import { isWebSocketUpgrade, WebSocketUpgrades, type UpgradeRequest } from '../upgrade.js';
import { PortableExchange, type ExchangeOwner } from './exchange.js';
import type { PortablePool } from './pool.js';
import { H2Sessions } from '../tls/h2-session.js';
import { asHttp1Request, withoutReason } from './h2.js';
import type { TLSSocket } from 'node:tls';

const kExchange = Symbol('beacon.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: PortableExchange };
/** on a client socket: the response to its latest request, and whether a protocol error is being answered */
const kLastResponse = Symbol('beacon.lastResponse');
const kRefusing = Symbol('beacon.refusing');
type TaggedSocket = Socket & { [kLastResponse]?: ServerResponse; [kRefusing]?: true };

export class PortableFrontDoor implements FrontDoor, ExchangeOwner {
  readonly engine = 'portable';
  private readonly traffic: Traffic<PortablePool>;
  private readonly server: Server;
  private readonly upgrades: WebSocketUpgrades;
  private readonly active = new Set<PortableExchange>();
  private readonly sweeper: NodeJS.Timeout;
  private listening = false;
  /** HTTP/2 from the TLS listener through node:http2's compatibility API, into handle() */
  private readonly h2: H2Sessions;

  constructor(traffic: Traffic<PortablePool>) {
    this.traffic = traffic;
    this.upgrades = new WebSocketUpgrades(traffic);
    const l = traffic.limits;
    this.server = createServer(
      {
        maxHeaderSize: l.maxHeaderSize,
        headersTimeout: l.clientHeaderTimeoutMs,
        requestTimeout: l.clientRequestTimeoutMs,
        keepAliveTimeout: l.idleTimeoutMs,
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(l.clientHeaderTimeoutMs / 2))),
        noDelay: true,
        // the shared admission answers a missing Host, as the fast engine does
        requireHostHeader: false,
        // Only WebSocket upgrades go to 'upgrade'; anything else with an Upgrade header (h2c,
        // TLS/1.0) takes the normal request path instead of being dropped.
        shouldUpgradeCallback: (req: IncomingMessage) => isWebSocketUpgrade(req.method ?? '', req.headers.upgrade),
      } as ServerOptions,
      (req, res) => this.handle(req, res),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrades.pass(req as unknown as UpgradeRequest, socket, head));
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => this.upgrades.refuse(socket, { status: 501, body: 'CONNECT is not supported\n' }));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    this.h2 = new H2Sessions(l.maxHeaderSize, l.idleTimeoutMs);
    this.h2.server.on('request', (req, res) => this.handle(asHttp1Request(req) as unknown as IncomingMessage, withoutReason(res) as unknown as ServerResponse));
    // the sweep also sends hedges (--hedge-after): a quarter of it at the most between looks
    const smallest = Math.min(l.upstreamHeaderTimeoutMs, l.clientHeaderTimeoutMs, l.hedgeAfterMs || Infinity);
    this.sweeper = setInterval(() => this.sweep(), Math.max(20, Math.min(1000, Math.floor(smallest / 4))));
    this.sweeper.unref();
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const where = await listenOn(this.server, host, port, this.traffic.log, 'proxy listener');
    this.listening = true;
    return where;
  }

  accept(socket: Socket): void {
    if (this.traffic.stopping) socket.destroy();
    // node:http serves it as https.Server would (both read a TLSSocket as any stream)
    else this.server.emit('connection', socket);
  }

  acceptH2(socket: TLSSocket): void {
    if (this.traffic.stopping) socket.destroy();
    else this.h2.accept(socket);
  }

  get isListening(): boolean {
    return this.listening;
  }

  private sweep(): void {
    const now = this.traffic.tick();
    for (const ex of this.active) ex.checkTimeouts(now);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const traffic = this.traffic;
    const startedAt = traffic.mark();
    // the clock advances with each request here (node:http reads the sockets)
    traffic.tick();
    traffic.requests++;
    traffic.begin();
    res.once('close', () => this.closed(res as TaggedResponse));
    (req.socket as TaggedSocket)[kLastResponse] = res;
    if (traffic.stopping) res.shouldKeepAlive = false;
    const { host, hosts } = hostsOf(req.rawHeaders);
    const proto = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
    const answer = proto === 'http' ? traffic.plainAnswer?.(host, req.url ?? '') : undefined;
    if (answer !== undefined) return this.refuse(req, res, answer, startedAt);
    const routed = admit({ url: req.url ?? '', hosts, host, versionMinor: req.httpVersionMinor, versionMajor: req.httpVersionMajor, proto, httpsPort: traffic.httpsPort }, (h) => traffic.router.candidates(h));
    if (isRefusal(routed)) return this.refuse(req, res, routed, startedAt);
    const facts = requestFacts(req.rawHeaders);
    const route = routed.route;
    const client = req.socket.remoteAddress ?? '';
    const forward = requestForwardList(req.rawHeaders, facts.connection, hosts > 0 ? host : undefined, { clientAddress: client, proto });
    const headers = route.requestHeaders === undefined ? forward : editList(forward, route.requestHeaders);
    const key = affinityKey(route.balance, route.cookie, client, req.rawHeaders);
    const ex = new PortableExchange(traffic, this, req, res, routed, startedAt, headers, facts.hasBody, key);
    (res as TaggedResponse)[kExchange] = ex;
    if (!ex.attempt()) {
      ex.abandon();
      return this.refuse(req, res, noInstance(routed.service), startedAt);
    }
    this.active.add(ex);
  }

  private refuse(req: IncomingMessage, res: ServerResponse, refusal: Refusal, startedAt: number): void {
    // a client speaking another HTTP version is not talked to further (nginx closes too)
    if (refusal.status === 505) res.shouldKeepAlive = false;
    this.sendError(res, refusal.status, refusal.body, refusal.status === 503, refusal.location);
    const service = refusal.service === undefined ? '-' : this.traffic.label(refusal.service);
    this.traffic.record({ method: req.method ?? '', host: hostsOf(req.rawHeaders).host, path: req.url ?? '', client: req.socket.remoteAddress ?? '', service, upstream: undefined, status: refusal.status, startedAt, tries: 0 });
  }

  /** A response closed (finished or cut): the request is no longer in flight. */
  private closed(res: TaggedResponse): void {
    const ex = res[kExchange];
    if (ex !== undefined) {
      ex.clientClosed();
      this.active.delete(ex);
    }
    this.traffic.settle();
    if (this.traffic.stopping) this.server.closeIdleConnections();
  }

  finished(ex: PortableExchange, status: number): void {
    this.active.delete(ex);
    const req = ex.req;
    this.traffic.record({ method: req.method ?? '', host: hostsOf(req.rawHeaders).host, path: req.url ?? '', client: req.socket.remoteAddress ?? '', service: ex.service, upstream: ex.peer?.id, status, startedAt: ex.startedAt, tries: ex.tries });
  }

  sendError(res: ServerResponse, status: number, body: string, retryAfter = false, location?: string): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'];
    if (retryAfter) headers.push('retry-after', '1');
    if (location !== undefined) headers.push('location', location);
    // a body still arriving has nowhere to go: the connection ends after the error
    if (this.traffic.stopping || (requestFacts(res.req.rawHeaders).hasBody && !res.req.complete)) headers.push('connection', 'close');
    res.writeHead(status, headers);
    res.end(body);
  }

  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? 'unknown';
    // RFC 9112 9.6: bytes after a request that closes the connection are no request; they are
    // ignored and the response in progress finishes (node:http then closes)
    if (code === 'HPE_CLOSED_CONNECTION') return;
    const s = socket as TaggedSocket;
    // llhttp reports the same error again for every later read: the first one is answered
    if (s[kRefusing] === true) return;
    const { status, reason } = clientErrorAnswer(code);
    this.traffic.metrics.clientError(reason);
    const last = s[kLastResponse];
    if (status !== undefined && last !== undefined && !last.writableFinished && !last.destroyed && (last.headersSent || last.req.complete)) {
      // Garbage after a complete request (or a broken body whose response already began): the
      // response on its way finishes, then the error and the close, as in the fast engine and nginx.
      s[kRefusing] = true;
      const answer = status;
      last.once('finish', () => {
        if (s.writable && !s.writableEnded) s.end(closingResponse(answer));
        s.destroy();
      });
      last.once('close', () => {
        if (!last.writableFinished) s.destroy();
      });
      return;
    }
    // (a request whose own body is malformed is answered now: its upstream attempt is cut)
    const sending = s as Socket & { _httpMessage?: { headersSent?: boolean } };
    // a response already began on this connection: an error after it would be garbage
    if (status !== undefined && s.writable && !s.writableEnded && sending._httpMessage?.headersSent !== true) s.end(closingResponse(status));
    s.destroy();
  }

  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    const traffic = this.traffic;
    traffic.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    this.h2.close();
    await traffic.drain(deadlineMs);
    const unfinished = traffic.inflight;
    this.upgrades.destroyAll();
    this.h2.destroyAll();
    this.server.closeAllConnections();
    clearInterval(this.sweeper);
    await closed;
    this.listening = false;
    return { unfinished };
  }
}

