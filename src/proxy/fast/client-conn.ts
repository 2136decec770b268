/**
 * One client connection of the fast engine: reads requests with llhttp (or the JavaScript fast
 * path for common heads), one at a time, answers pipelined requests in order, enforces the
 * client timeouts when the listener's sweep asks, and runs an Exchange per forwarded request.
 */
import type { Socket } from 'node:net';
import { isRefusal, noInstance, requestProblem, routeTarget, type Admitted, type Refusal } from '../admission.js';
import { affinityKey } from '../policies.js';
import { HostMemo } from '../routing.js';
import { requestFacts, requestForward, type ForwardInfo, type RequestFacts } from '../headers.js';
import { clientErrorAnswer, closingResponse, headerValue, localResponse } from '../responses.js';
import type { Traffic } from '../traffic.js';
import { classifyUpgrade, upgradeRequest, type UpgradeRequest } from '../upgrade.js';
import type { DirectWriter } from './direct-write.js';
import { Exchange, PAUSE_PENDING, PAUSE_QUEUE, type ExchangeClient, type RequestStart } from './exchange.js';
import { parseRequestHead } from './fastpath.js';
import { HeadAction, Http1Parser, type MessageHead, type ParseError, type ParserEvents } from './http1.js';
import type { UpstreamPool } from './pool.js';
import type { SharedReads } from './shared-reads.js';

/** What a connection needs of the listener that accepted it. */
export interface ConnListener {
  readonly traffic: Traffic<UpstreamPool>;
  readonly writer: DirectWriter;
  readonly reads: SharedReads;
  /** the connection is closed: stop tracking it */
  forget(conn: ClientConn): void;
  /** a WebSocket handshake leaves HTTP parsing */
  upgrade(req: UpgradeRequest, socket: Socket, head: Buffer): void;
}

const EMPTY = Buffer.alloc(0);

/** One client connection: parses its requests one at a time and runs an Exchange for each. */
export class ClientConn implements ParserEvents, ExchangeClient {
  private readonly listener: ConnListener;
  private readonly traffic: Traffic<UpstreamPool>;
  readonly socket: Socket;
  readonly address: string;
  /** what the X-Forwarded-* lines say about this connection */
  readonly forward: ForwardInfo;
  private readonly parser: Http1Parser;
  /** a view of the process's shared read buffer: valid during the call only */
  private readonly onData = (chunk: Buffer): void => this.feed(chunk);
  /** the exchange whose response is outstanding */
  active: Exchange | undefined;
  /** the exchange whose request body is being read (may be answered already) */
  private reading: Exchange | null | undefined;
  /** a pipelined request parsed while `active` was busy */
  private pending: { head: MessageHead; rest: Buffer; upgrade: boolean } | undefined;
  private head: MessageHead | undefined;
  keepAlive = true;
  gone = false;
  /** the client half-closed: finish the response in progress, then close */
  private ended = false;
  /** ms (Date.now) when the current head began arriving; 0 when no head is in progress */
  headSince = 0;
  /** ms when the current request's head was complete; 0 when its body is done */
  requestSince = 0;
  /** ms since the connection has been idle (no request in progress) */
  idleSince: number;
  /** body bytes still to read by hand after a non-WebSocket Upgrade head (llhttp stops there) */
  private manualBody = 0;
  /** the candidate routes of this connection's usual Host */
  private readonly hostMemo = new HostMemo();
  /** after a hand-counted body, llhttp starts over (it stopped at an Upgrade head) */
  private manualReset = false;
  /** PAUSE_* reasons the socket is not being read for */
  private paused = 0;
  /** the last request asked to close: whatever the client sends after it is not read */
  private ignoreInput = false;
  /** a protocol error to answer (400, 431, 505) once the response in progress is complete; 0 when none */
  private deferredError = 0;

  constructor(listener: ConnListener, socket: Socket) {
    this.listener = listener;
    this.traffic = listener.traffic;
    this.socket = socket;
    this.address = socket.remoteAddress ?? '';
    this.forward = { clientAddress: this.address, proto: (socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http' };
    this.parser = new Http1Parser('request', this, this.traffic.limits.maxHeaderSize);
    this.idleSince = this.traffic.now;
    socket.setNoDelay(true);
    listener.reads.start(socket, this.onData);
    socket.on('end', () => this.onEnd());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.onClose());
  }

  get idle(): boolean {
    return this.active === undefined && this.reading === undefined && this.headSince === 0 && this.pending === undefined;
  }

  write(data: string | Buffer): boolean {
    return this.listener.writer.write(this.socket, data);
  }

  onceDrained(fn: () => void): void {
    this.socket.once('drain', fn);
  }

  closeAfterResponse(): void {
    this.keepAlive = false;
  }

  onHead(head: MessageHead): HeadAction {
    this.headSince = 0;
    if (this.gone) return HeadAction.Stop;
    if (head.upgrade || this.active !== undefined) {
      // an Upgrade head stops llhttp anyway; a pipelined request waits for the current response
      this.head = head;
      return HeadAction.Stop;
    }
    this.begin(head, false, EMPTY);
    return this.gone ? HeadAction.Stop : HeadAction.Continue;
  }

  onBody(chunk: Buffer): void {
    // reads share one buffer: a body chunk outlives this read (queued, or written later)
    this.reading?.requestBody(Buffer.from(chunk));
  }

  onMessageEnd(): void {
    const ex = this.reading;
    this.reading = undefined;
    // RFC 9112 9.6: nothing after a request that closes the connection is a request
    if (!this.keepAlive) this.ignoreInput = true;
    this.requestSince = 0;
    ex?.requestEnd();
    if (this.active === undefined) this.becameIdle();
  }

  private feed(data: Buffer): void {
    if (this.gone || this.ignoreInput) return;
    const pending = this.pending;
    if (pending !== undefined) {
      // read before the pause took hold: it waits behind the pipelined request
      pending.rest = pending.rest.length === 0 ? Buffer.from(data) : Buffer.concat([pending.rest, data]);
      return;
    }
    const now = this.traffic.tick();
    if (this.headSince === 0 && this.reading === undefined && this.manualBody === 0) this.headSince = now;
    let buf = data;
    for (;;) {
      if (this.manualBody > 0) {
        const take = Math.min(this.manualBody, buf.length);
        this.manualBody -= take;
        this.onBody(buf.subarray(0, take));
        buf = buf.subarray(take);
        if (this.manualBody > 0) return;
        if (this.manualReset) this.parser.reset();
        this.onMessageEnd();
        if (buf.length === 0) return;
        if (this.headSince === 0) this.headSince = now;
      }
      if (this.ignoreInput) return;
      if (this.parser.atMessageStart && this.active === undefined && this.reading === undefined) {
        const fast = parseRequestHead(buf, 0, this.traffic.limits.maxHeaderSize);
        if (fast !== undefined) {
          this.headSince = 0;
          const facts: RequestFacts = { host: fast.host, hosts: fast.hosts, connection: undefined, expectContinue: false, chunked: false, hasBody: fast.contentLength > 0 };
          this.start({ method: fast.method, url: fast.url, versionMajor: 1, versionMinor: fast.minor, keepAlive: fast.keepAlive, facts, lines: fast.forward, forwardedFor: fast.forwardedFor }, false);
          if (this.gone) return;
          buf = buf.subarray(fast.end);
          if (fast.contentLength > 0) {
            // counted out below; llhttp never saw this message, so nothing to reset after it
            this.manualBody = fast.contentLength;
            this.manualReset = false;
          } else this.onMessageEnd();
          if (buf.length === 0) return;
          if (this.manualBody === 0 && this.headSince === 0 && this.reading === undefined) this.headSince = now;
          continue;
        }
      }
      const r = this.parser.execute(buf);
      if (r.kind === 'done') return;
      // (llhttp refuses bytes after a closing request: they are ignored, not an error)
      if (r.kind === 'error') return this.ignoreInput ? undefined : this.parseError(r.error);
      const head = this.head;
      this.head = undefined;
      if (this.gone || head === undefined) return;
      const upgrade = r.kind === 'upgrade';
      if (this.active !== undefined) {
        // pipelined: the next request waits for the current response
        this.pending = { head, rest: Buffer.from(r.rest), upgrade };
        this.pauseReading(PAUSE_PENDING);
        return;
      }
      if (!this.begin(head, upgrade, r.rest)) return;
      buf = r.rest;
    }
  }

  /** Starts one request; false when the connection is no longer ours to parse. */
  private begin(head: MessageHead, upgrade: boolean, rest: Buffer): boolean {
    if (upgrade) {
      const kind = classifyUpgrade(head.method, head.headers);
      if (kind.kind === 'websocket') {
        this.handOver(head, rest);
        return false;
      }
      if (kind.kind === 'refuse') {
        this.reading = null;
        this.sendError(kind.status, kind.body, false, true);
        this.traffic.record({ method: head.method, host: headerValue(head.headers, 'host'), path: head.url, client: this.address, service: '-', upstream: undefined, status: kind.status, startedAt: this.traffic.mark(), tries: 0 });
        return false;
      }
      // llhttp stops at an Upgrade head, so a body is counted out by hand
      this.manualBody = kind.bodyLength;
      this.manualReset = true;
      if (this.manualBody === 0) this.parser.reset();
    }
    const facts = requestFacts(head.headers);
    const forward = requestForward(head.headers, facts.connection);
    return this.start({ method: head.method, url: head.url, versionMajor: head.versionMajor, versionMinor: head.versionMinor, keepAlive: head.keepAlive, facts, lines: forward.lines, forwardedFor: forward.forwardedFor }, upgrade);
  }

  /** Routes a request and starts its exchange; false when the connection is no longer ours to parse. */
  private start(req: RequestStart, upgrade: boolean): boolean {
    const traffic = this.traffic;
    this.requestSince = traffic.now;
    if (!req.keepAlive || traffic.stopping) this.keepAlive = false;
    const startedAt = traffic.mark();
    traffic.requests++;
    const ex = this.route(req, startedAt);
    if (upgrade && this.manualBody === 0) {
      // a bodiless request after which llhttp was reset: its message end is now
      this.reading = ex ?? null;
      this.onMessageEnd();
    } else this.reading = ex ?? null;
    return !this.gone;
  }

  /** Validates and routes one request; returns its exchange when it went upstream. */
  private route(req: RequestStart, startedAt: number): Exchange | undefined {
    const traffic = this.traffic;
    const facts = req.facts;
    const host = facts.host;
    if (traffic.plainAnswer !== undefined && this.forward.proto === 'http') {
      const answer = traffic.plainAnswer(host, req.url);
      if (answer !== undefined) return this.refuse(req, answer, startedAt);
    }
    const proto = this.forward.proto === 'https' ? 'https' : 'http';
    const input = { url: req.url, hosts: facts.hosts, host, versionMinor: req.versionMinor, versionMajor: req.versionMajor, proto, httpsPort: traffic.httpsPort } as const;
    let routed: Admitted | Refusal | undefined = requestProblem(input);
    if (routed === undefined) {
      const candidates = this.hostMemo.lookup(host, traffic.router);
      routed = 'status' in candidates ? candidates : routeTarget(candidates, input);
    }
    if (isRefusal(routed)) return this.refuse(req, routed, startedAt);
    if (req.versionMinor === 1 && facts.expectContinue) this.write('HTTP/1.1 100 Continue\r\n\r\n');
    const route = routed.route;
    const key = route.balance === 'round-robin' || route.balance === 'least-conn' ? '' : affinityKey(route.balance, route.cookie, this.address, req.lines);
    const ex = new Exchange(this, traffic, req, routed, startedAt, key);
    this.active = ex;
    traffic.begin();
    if (!ex.attempt()) {
      this.active = undefined;
      traffic.settle();
      ex.abandon();
      return this.refuse(req, noInstance(routed.service), startedAt);
    }
    return ex;
  }

  /** Answers a request the proxy does not forward. */
  private refuse(req: RequestStart, refusal: Refusal, startedAt: number): undefined {
    // a client speaking another HTTP version is not talked to further (nginx closes too)
    this.sendError(refusal.status, refusal.body, refusal.status === 503, refusal.status === 505, refusal.location);
    const service = refusal.service === undefined ? '-' : this.traffic.label(refusal.service);
    this.traffic.record({ method: req.method, host: req.facts.host, path: req.url, client: this.address, service, upstream: undefined, status: refusal.status, startedAt, tries: 0 });
    return undefined;
  }

  /** An exchange is over (response ended, failed, or the client left). */
  exchangeDone(ex: Exchange | undefined): void {
    if (this.active !== ex) return;
    if (ex !== undefined) this.traffic.settle();
    this.active = undefined;
    if (this.gone) return;
    if (this.deferredError !== 0) {
      this.keepAlive = false;
      this.write(closingResponse(this.deferredError));
      this.close();
      return;
    }
    if (!this.keepAlive || this.ended) {
      this.close();
      return;
    }
    const pending = this.pending;
    if (pending !== undefined) {
      this.pending = undefined;
      this.resumeReading(PAUSE_PENDING);
      // even when empty: llhttp ends a bodiless message on its next execute
      if (this.begin(pending.head, pending.upgrade, pending.rest)) this.feed(pending.rest);
      return;
    }
    if (this.reading === undefined) this.becameIdle();
  }

  private becameIdle(): void {
    this.idleSince = this.traffic.now;
    if (this.traffic.stopping || this.ended) this.close();
  }

  /** Writes a short plain-text response (errors, 503s, redirects); closes after it when asked or needed. */
  sendError(status: number, body: string, retryAfter = false, close = false, location?: string): void {
    if (this.gone) return;
    if (close || this.traffic.stopping) this.keepAlive = false;
    this.write(localResponse(status, body, { retryAfter, close: !this.keepAlive, ...(location === undefined ? {} : { location }) }));
    if (!this.keepAlive) this.close();
  }

  /**
   * Bytes llhttp refuses (bad head or chunked body, garbage after a request): the error status,
   * then a close, as nginx does; a response on its way for what came before finishes first (a
   * request whose own body is bad and unanswered is cut upstream instead). Nothing after is read.
   */
  private parseError(err: ParseError): void {
    const answer = clientErrorAnswer(err.code);
    const status = answer.status ?? 400;
    this.traffic.metrics.clientError(answer.reason);
    this.ignoreInput = true;
    this.headSince = 0;
    this.requestSince = 0;
    const reading = this.reading;
    this.reading = undefined;
    const ex = this.active;
    this.deferredError = status;
    if (ex === undefined) return this.exchangeDone(undefined);
    // its body is what is broken: the upstream never gets the rest, so the attempt is cut
    if (reading === ex && !ex.responseStarted) ex.requestInvalid(status);
  }

  /** The periodic timeout check. */
  checkTimeouts(now: number): void {
    const l = this.traffic.limits;
    if (this.headSince !== 0 && this.active === undefined && now - this.headSince > l.clientHeaderTimeoutMs) {
      this.headSince = 0;
      this.timedOut();
      return;
    }
    if (this.requestSince !== 0 && l.clientRequestTimeoutMs > 0 && now - this.requestSince > l.clientRequestTimeoutMs) {
      this.requestSince = 0;
      this.timedOut();
      return;
    }
    if (this.idle && now - this.idleSince > l.idleTimeoutMs) {
      this.destroy();
      return;
    }
    this.active?.checkTimeouts(now);
  }

  private timedOut(): void {
    this.traffic.metrics.clientError('timeout');
    const ex = this.active;
    // a response already went out (or is going out) for this request: no 408 after it
    if ((ex !== undefined && ex.responseStarted) || (ex === undefined && this.reading !== undefined)) {
      this.destroy();
      return;
    }
    this.keepAlive = false;
    this.write(closingResponse(408));
    this.close();
  }

  pauseReading(reason: number): void {
    // once closing, input is read and dropped (see close)
    if (this.gone) return;
    if (this.paused === 0) this.socket.pause();
    this.paused |= reason;
  }

  resumeReading(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && !this.gone) this.socket.resume();
  }

  private onEnd(): void {
    this.ended = true;
    // A client that closes while its response is pending has given up (nginx's 499): the
    // upstream request is cancelled rather than finished for nobody.
    if (this.active === undefined) this.close();
    else this.destroy();
  }

  /** Closing, and what was written has not all been handed to the kernel yet. */
  get flushing(): boolean {
    return this.gone && !this.socket.destroyed && !this.socket.writableFinished;
  }

  /** Ends the connection after what was written. */
  close(): void {
    if (this.gone) return;
    this.gone = true;
    // What the client sends from here on is read and dropped (feed ignores it): closing a
    // socket with unread input makes the kernel answer with a reset, which throws away the
    // response still queued for the client.
    this.paused = 0;
    this.socket.resume();
    this.socket.end();
    // a client that never reads its response must not hold the socket forever
    this.socket.setTimeout(5000, () => this.socket.destroy());
    this.cleanup();
  }

  destroy(): void {
    this.socket.destroy();
    this.onClose();
  }

  private onClose(): void {
    if (!this.gone) {
      this.gone = true;
      this.cleanup();
    }
    this.listener.forget(this);
  }

  private cleanup(): void {
    this.parser.close();
    const ex = this.active;
    if (ex !== undefined) ex.clientClosed();
  }

  /** A WebSocket handshake leaves the HTTP parser: the upgrade path owns the socket from here. */
  private handOver(head: MessageHead, rest: Buffer): void {
    const socket = this.socket;
    this.listener.reads.release(socket, this.onData);
    socket.removeAllListeners('end');
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    this.gone = true;
    this.parser.close();
    this.listener.forget(this);
    // Nothing reads the socket until http-proxy-3 pipes it (after the upstream's 101): paused,
    // what the client sends meanwhile waits instead of being emitted to no listener.
    socket.pause();
    const req = upgradeRequest(head.method, head.url, head.headers, head.versionMajor, head.versionMinor, socket);
    this.listener.upgrade(req, socket, Buffer.from(rest));
  }
}

