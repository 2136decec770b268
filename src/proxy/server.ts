import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Logger } from '../log.js';
import type { DirectWriter } from './direct-write.js';
import type { SharedReads } from './shared-reads.js';
import { pickUpstream, reportFailure, reportNeutral, reportSuccess, type EjectionPolicy } from './balancer.js';
import { forwardedLines, requestFacts, requestForward, setForwardedOnObject, type ForwardInfo, type RequestFacts } from './headers.js';
import { bodilessStatus, HeadAction, headerValue, Http1Parser, STATUS_TEXT, type MessageHead, type ParseError, type ParserEvents } from './http1.js';
import type { ProxyMetrics } from './metrics.js';
import { parseRequestHead } from './fastpath.js';
import { UpstreamError, type ConnUser, type ResponseHead, type UpstreamConn } from './pool.js';
import { shouldRetry, type FailureKind } from './retry.js';
import type { HostRouter } from './routing.js';
import type { Upstream, UpstreamTable } from './upstreams.js';
import { pollUntil } from '../wait.js';

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
  /** upstream: time from the request to the response head */
  upstreamHeaderTimeoutMs: number;
  /** upstream: longest silence inside a response body; 0 = none */
  upstreamBodyTimeoutMs: number;
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
  /** writes to client sockets */
  writer: DirectWriter;
  /** reads of client sockets */
  reads: SharedReads;
}

/** Request body bytes held while no upstream connection takes them yet. */
const MAX_QUEUED_BODY = 64 * 1024;

const NO_TRIES: readonly Upstream[] = [];

/** Why a client connection is not being read (several may hold at once). */
const PAUSE_PENDING = 1;
const PAUSE_QUEUE = 2;
const PAUSE_UPSTREAM = 4;
const EMPTY = Buffer.alloc(0);

/** Response bodies up to this size are gathered with their head into one write. */
const GATHER_MAX = 16 * 1024;

/** The request fields an upgrade (and http-proxy-3) needs: the shape of an IncomingMessage. */
interface UpgradeRequest {
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

/** A request head as routing and its exchange need it, from either parser. */
interface RequestStart {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  keepAlive: boolean;
  facts: RequestFacts;
  /** header lines for the upstream: hop-by-hop and X-Forwarded-* removed */
  lines: string;
  /** X-Forwarded-For as received ('' when none) */
  forwardedFor: string;
}

/** A WebSocket opening handshake: the only upgrade the proxy passes on (RFC 6455 4.1). */
export function isWebSocketUpgrade(method: string, upgrade: string | undefined): boolean {
  return method === 'GET' && upgrade !== undefined && /^websocket$/i.test(upgrade.trim());
}

/**
 * One client request through its upstream attempts; it borrows one upstream connection at a
 * time and is that connection's user.
 */
class Exchange implements ConnUser {
  readonly client: ClientConn;
  readonly front: FrontDoor;
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly service: string;
  readonly startedAt: number;
  readonly hasBody: boolean;
  /** the request body is chunked: re-framed to the upstream as chunks */
  readonly chunked: boolean;
  /** request head for the upstream */
  readonly head: string;
  /** the client speaks HTTP/1.0: no chunked responses to it */
  readonly http10: boolean;
  readonly skipBody: boolean;
  peer: Upstream | undefined;
  tried: Upstream[] | undefined;
  tries = 0;
  conn: UpstreamConn | undefined;
  /** the body goes straight to the upstream connection (it is connected) */
  bodyFlowing = false;
  /** removes the listener waiting for the upstream to drain */
  upstreamDrain: (() => void) | undefined;
  /** body chunks read from the client and not written upstream yet */
  queued: Buffer[] | undefined;
  queuedBytes = 0;
  /** the client's body has ended */
  requestEnded: boolean;
  bodyConsumed = false;
  requestSent = false;
  /** when the request went upstream (ms, Date.now), for the header timeout */
  sentAt = 0;
  /** last upstream activity during the body (ms), for the body timeout */
  lastActivity = 0;
  responseStarted = false;
  /** the upstream keeps the connection open after this response */
  upstreamKeepAlive = false;
  /** the response is re-framed as chunks (upstream chunked or close-delimited, client 1.1) */
  responseChunked = false;
  /** an interim (1xx) response is being skipped */
  interim = false;
  done = false;
  status = 0;
  /** response text gathered during one upstream read (see cork) */
  private out = '';
  private batching = false;
  private waitingDrain = false;

  constructor(client: ClientConn, req: RequestStart, service: string, startedAt: number) {
    const facts = req.facts;
    this.client = client;
    this.front = client.front;
    this.method = req.method;
    this.url = req.url;
    this.host = facts.host;
    this.service = service;
    this.startedAt = startedAt;
    this.chunked = facts.chunked;
    this.hasBody = facts.hasBody;
    this.requestEnded = !this.hasBody;
    this.http10 = req.versionMajor === 1 && req.versionMinor === 0;
    this.skipBody = req.method === 'HEAD';
    const forwarded = forwardedLines(req.forwardedFor, facts.hosts > 0 ? facts.host : undefined, client.forward);
    // the lines passed on carry no framing of their own: a chunked body is re-chunked
    this.head = `${req.method} ${req.url} HTTP/1.1\r\n${req.lines}${forwarded}${this.chunked ? 'transfer-encoding: chunked\r\n' : ''}\r\n`;
  }

  /** Picks the next peer and asks its pool for a connection; false when none is left. */
  attempt(now: number): boolean {
    const service = this.front.table.get(this.service);
    const peer = service ? (pickUpstream(service.peers, now, this.tried ?? NO_TRIES) as Upstream | undefined) : undefined;
    if (peer === undefined) return false;
    this.peer = peer;
    this.tries++;
    this.requestSent = false;
    this.bodyFlowing = false;
    this.sentAt = this.front.now;
    peer.pool.acquire(this);
    return true;
  }

  attached(conn: UpstreamConn): void {
    if (this.done) {
      conn.release(true);
      return;
    }
    this.conn = conn;
    // net holds the head until the connection exists; the body waits for connected(), so a
    // refused connection leaves it unsent and the request can go to another instance whole
    conn.write(this.head);
    if (!this.hasBody) {
      this.bodyFlowing = true;
      this.requestSent = true;
      // the header timeout runs from here, not from a wait in the pool's queue
      this.sentAt = this.front.now;
    } else if (conn.connected) this.connected();
  }

  connected(): void {
    const conn = this.conn;
    if (this.done || conn === undefined || this.bodyFlowing) return;
    this.bodyFlowing = true;
    const queued = this.queued;
    conn.socket.cork();
    if (queued !== undefined) {
      this.queued = undefined;
      this.queuedBytes = 0;
      for (const chunk of queued) this.writeBody(conn, chunk);
    }
    if (this.chunked && this.requestEnded) conn.write('0\r\n\r\n');
    conn.socket.uncork();
    this.client.resumeReading(PAUSE_QUEUE);
    if (this.requestEnded) {
      this.requestSent = true;
      this.sentAt = this.front.now;
    }
  }

  private writeBody(conn: UpstreamConn, chunk: Buffer): boolean {
    this.bodyConsumed = true;
    if (!this.chunked) return conn.write(chunk);
    conn.write(`${chunk.length.toString(16)}\r\n`);
    conn.write(chunk);
    return conn.write('\r\n');
  }

  /** A piece of the client's request body. */
  requestBody(chunk: Buffer): void {
    if (this.done || chunk.length === 0) return;
    const conn = this.conn;
    if (conn === undefined || !this.bodyFlowing) {
      (this.queued ??= []).push(chunk);
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > MAX_QUEUED_BODY) this.client.pauseReading(PAUSE_QUEUE);
      return;
    }
    if (!this.writeBody(conn, chunk) && this.upstreamDrain === undefined) {
      // the upstream reads slower than the client sends: one listener until it drains
      this.client.pauseReading(PAUSE_UPSTREAM);
      const socket = conn.socket;
      const onDrain = (): void => {
        this.upstreamDrain = undefined;
        this.client.resumeReading(PAUSE_UPSTREAM);
      };
      this.upstreamDrain = () => socket.off('drain', onDrain);
      socket.once('drain', onDrain);
    }
  }

  /** Stops waiting for the upstream to drain (the exchange ended or moved on). */
  private stopUpstreamDrain(): void {
    const off = this.upstreamDrain;
    if (off === undefined) return;
    this.upstreamDrain = undefined;
    off();
    this.client.resumeReading(PAUSE_UPSTREAM);
  }

  /** The client's request body is complete. */
  requestEnd(): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    const conn = this.conn;
    if (this.done || conn === undefined || !this.bodyFlowing) return;
    if (this.chunked) conn.write('0\r\n\r\n');
    this.requestSent = true;
    this.sentAt = this.front.now;
  }

  /** Upstream bytes are being parsed: small writes to the client are gathered until uncork. */
  cork(): void {
    this.batching = true;
  }

  uncork(): void {
    this.batching = false;
    this.flush();
  }

  private emit(text: string): void {
    if (this.batching) this.out += text;
    else this.send(text);
  }

  private emitChunk(chunk: Buffer, from: number, to: number): void {
    if (this.batching && to - from <= GATHER_MAX) {
      this.out += chunk.toString('latin1', from, to);
      return;
    }
    this.flush();
    // the upstream's read buffer is reused for the next read
    this.send(Buffer.from(chunk.subarray(from, to)));
  }

  private flush(): void {
    const out = this.out;
    if (out === '') return;
    this.out = '';
    this.send(out);
  }

  private send(data: string | Buffer): void {
    if (this.client.gone) return;
    if (this.client.write(data) || this.waitingDrain) return;
    // the client reads slower than the upstream sends: stop reading the upstream until it drains
    const conn = this.conn;
    if (conn === undefined) return;
    this.waitingDrain = true;
    conn.socket.pause();
    this.client.socket.once('drain', () => {
      this.waitingDrain = false;
      this.lastActivity = this.front.now;
      conn.socket.resume();
    });
  }

  onHead(head: ResponseHead): boolean {
    const status = head.status;
    if (status < 200) {
      if (status === 101) {
        this.failed(new UpstreamError('upstream switched protocols on a plain request', 'UPSTREAM_UPGRADE'), 'other');
        return true;
      }
      // 100 Continue and 103 Early Hints: the client got its own 100 already
      this.interim = true;
      return false;
    }
    const peer = this.peer!;
    if (reportSuccess(peer)) this.front.log.info({ service: this.service, upstream: peer.id }, 'upstream back in rotation');
    if (this.client.gone) return true;
    let framing = '';
    const bodiless = this.skipBody || bodilessStatus(status);
    const client = this.client;
    if (!bodiless && !head.hasLength) {
      // upstream chunked or close-delimited
      if (this.http10) client.keepAlive = false;
      else {
        this.responseChunked = true;
        framing = 'transfer-encoding: chunked\r\n';
      }
    }
    if (!this.requestEnded || this.front.stopping) client.keepAlive = false;
    if (!client.keepAlive) framing += 'connection: close\r\n';
    else if (this.http10) framing += 'connection: keep-alive\r\n';
    this.status = status;
    this.responseStarted = true;
    this.upstreamKeepAlive = head.keepAlive;
    this.lastActivity = this.front.now;
    this.emit(`HTTP/1.1 ${status} ${sanitizeReason(head.reason)}\r\n${head.lines}${framing}\r\n`);
    return this.skipBody;
  }

  onBody(chunk: Buffer, from: number, to: number): void {
    if (this.client.gone || this.done) return;
    this.lastActivity = this.front.now;
    if (this.responseChunked) this.emit(`${(to - from).toString(16)}\r\n`);
    this.emitChunk(chunk, from, to);
    if (this.responseChunked) this.emit('\r\n');
  }

  onMessageEnd(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    if (this.done) return;
    this.done = true;
    if (this.responseChunked) this.emit('0\r\n\r\n');
    // before the connection may be ended or handed to the next request
    this.flush();
    const conn = this.conn!;
    this.conn = undefined;
    // reusable only when the whole request went out (an early response leaves a body unsent)
    this.stopUpstreamDrain();
    conn.release(this.upstreamKeepAlive && this.requestSent && !this.client.gone && !this.waitingDrain);
    this.front.finished(this, this.client.gone ? 499 : this.status);
    this.client.exchangeDone(this);
  }

  failed(err: Error, kind: FailureKind): void {
    if (this.done) return;
    const front = this.front;
    const peer = this.peer!;
    const conn = this.conn;
    this.conn = undefined;
    this.stopUpstreamDrain();
    if (conn !== undefined) conn.destroy();
    if (this.client.gone) {
      reportNeutral(peer);
      this.finish(499);
      return;
    }
    const now = Date.now();
    front.metrics.upstreamError(this.service, kind);
    if (reportFailure(peer, now, front.policy)) {
      front.metrics.ejection(this.service);
      front.log.warn({ service: this.service, upstream: peer.id, err: err.message, forMs: front.policy.failTimeoutMs }, 'upstream ejected after failures');
    }
    if (this.responseStarted) {
      // Too late for a clean error: cut the client connection so it sees a truncated response.
      front.log.warn({ service: this.service, upstream: peer.id, err: err.message }, 'upstream failed mid-response');
      this.done = true;
      this.client.destroy();
      this.finish(this.status);
      return;
    }
    const retry = shouldRetry({
      kind,
      method: this.method,
      hasBody: this.hasBody,
      bodyConsumed: this.bodyConsumed,
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
    // a body still arriving has nowhere to go: the connection ends after the error
    this.client.sendError(502, kind === 'timeout' ? `upstream of service "${this.service}" timed out\n` : `upstream of service "${this.service}" failed\n`, false, !this.requestEnded);
    this.finish(502);
  }

  /** The client went away: the upstream connection is cut (its response would have nowhere to go). */
  clientClosed(): void {
    if (this.done) return;
    const conn = this.conn;
    this.conn = undefined;
    this.stopUpstreamDrain();
    if (conn !== undefined) conn.destroy();
    else this.peer?.pool.cancel(this);
    if (this.peer !== undefined) reportNeutral(this.peer);
    this.finish(499);
  }

  /** Periodic check of the upstream timeouts. */
  checkTimeouts(now: number): void {
    if (this.done) return;
    const l = this.front.limits;
    if (this.conn === undefined) {
      // queued for a connection (--upstream-connections): the header timeout bounds the wait
      if (this.peer !== undefined && now - this.sentAt > l.upstreamHeaderTimeoutMs) {
        this.peer.pool.cancel(this);
        this.done = true;
        this.client.sendError(503, `no connection to service "${this.service}" came free within ${l.upstreamHeaderTimeoutMs} ms\n`, true, !this.requestEnded);
        this.finish(503);
      }
      return;
    }
    if (!this.responseStarted) {
      if (this.requestSent && now - this.sentAt > l.upstreamHeaderTimeoutMs) {
        this.failed(new UpstreamError(`upstream ${this.peer!.id} sent no response head within ${l.upstreamHeaderTimeoutMs} ms`, 'UPSTREAM_HEADER_TIMEOUT'), 'timeout');
      }
    } else if (l.upstreamBodyTimeoutMs > 0 && !this.waitingDrain && now - this.lastActivity > l.upstreamBodyTimeoutMs) {
      // (a client that reads slowly is not the upstream's silence)
      this.failed(new UpstreamError(`upstream ${this.peer!.id} went silent for ${l.upstreamBodyTimeoutMs} ms mid-body`, 'UPSTREAM_BODY_TIMEOUT'), 'timeout');
    }
  }

  private finish(status: number): void {
    this.done = true;
    this.stopUpstreamDrain();
    // a body held for a connection that never came has nowhere to go: the client is read again
    this.queued = undefined;
    this.queuedBytes = 0;
    this.client.resumeReading(PAUSE_QUEUE);
    this.front.finished(this, status);
    this.client.exchangeDone(this);
  }
}

/** One client connection: parses its requests one at a time and runs an Exchange for each. */
class ClientConn implements ParserEvents {
  readonly front: FrontDoor;
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
  /** the Host of the previous request on this connection, valid, and where it routes */
  private lastHost: string | undefined;
  private lastService: string | undefined;
  /** after a hand-counted body, llhttp starts over (it stopped at an Upgrade head) */
  private manualReset = false;
  /** PAUSE_* reasons the socket is not being read for */
  private paused = 0;
  /** the last request asked to close: whatever the client sends after it is not read */
  private ignoreInput = false;

  constructor(front: FrontDoor, socket: Socket) {
    this.front = front;
    this.socket = socket;
    this.address = socket.remoteAddress ?? '';
    this.forward = { clientAddress: this.address, proto: 'http' };
    this.parser = new Http1Parser('request', this, front.limits.maxHeaderSize);
    this.idleSince = Date.now();
    socket.setNoDelay(true);
    front.reads.start(socket, this.onData);
    socket.on('end', () => this.onEnd());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.onClose());
  }

  get idle(): boolean {
    return this.active === undefined && this.reading === undefined && this.headSince === 0 && this.pending === undefined;
  }

  write(data: string | Buffer): boolean {
    return this.front.writer.write(this.socket, data);
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
    const now = this.front.tick();
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
        const fast = parseRequestHead(buf, 0, this.front.limits.maxHeaderSize);
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
    const front = this.front;
    if (upgrade) {
      const upgradeHeader = headerValue(head.headers, 'upgrade');
      if (head.method === 'CONNECT') {
        this.reading = null;
        this.sendError(501, 'CONNECT is not supported\n', false, true);
        front.account(head.method, headerValue(head.headers, 'host'), head.url, this.address, '-', undefined, 501, performance.now(), 0);
        return false;
      }
      if (isWebSocketUpgrade(head.method, upgradeHeader)) {
        this.handOver(head, rest);
        return false;
      }
      // Another protocol (h2c, TLS/1.0): answered as a plain request without the Upgrade.
      // llhttp stops at an Upgrade head, so a body is counted out by hand.
      if (headerValue(head.headers, 'transfer-encoding') !== undefined) {
        this.reading = null;
        this.sendError(501, `upgrade to "${printable(upgradeHeader)}" with a chunked body is not supported; send the request without Upgrade\n`, false, true);
        return false;
      }
      const length = Number(headerValue(head.headers, 'content-length') ?? '0');
      if (!Number.isSafeInteger(length) || length < 0) {
        // llhttp takes lengths up to 2^64; counting them out by hand needs exact integers
        this.reading = null;
        this.sendError(400, 'Content-Length too large for a request with Upgrade\n', false, true);
        return false;
      }
      this.manualBody = length;
      this.manualReset = true;
      if (this.manualBody === 0) this.parser.reset();
    }
    const facts = requestFacts(head.headers);
    const forward = requestForward(head.headers, facts.connection);
    return this.start({ method: head.method, url: head.url, versionMajor: head.versionMajor, versionMinor: head.versionMinor, keepAlive: head.keepAlive, facts, lines: forward.lines, forwardedFor: forward.forwardedFor }, upgrade);
  }

  /** Routes a request and starts its exchange; false when the connection is no longer ours to parse. */
  private start(req: RequestStart, upgrade: boolean): boolean {
    const front = this.front;
    this.requestSince = front.now;
    if (!req.keepAlive || front.stopping) this.keepAlive = false;
    const startedAt = performance.now();
    front.requests++;
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
    const front = this.front;
    const url = req.url;
    const facts = req.facts;
    const host = facts.host;
    const local = (status: number, body: string, service = '-', retryAfter = false): undefined => {
      this.sendError(status, body, retryAfter);
      front.account(req.method, host, url, this.address, service, undefined, status, startedAt, 0);
      return undefined;
    };
    if (url.charCodeAt(0) !== 47 /* / */) return local(400, 'request target must be a path\n');
    // RFC 9112 3.2: more than one Host, or one that is no authority, is a 400; passing such a
    // header on invites cache poisoning and upstream confusion.
    if (facts.hosts > 1 || (facts.hosts === 0 && req.versionMinor === 1)) return local(400, 'invalid Host header\n');
    let service: string | undefined;
    if (host === this.lastHost) service = this.lastService;
    else {
      if (!HOST_SYNTAX.test(host)) return local(400, 'invalid Host header\n');
      // routes come from flags and never change: a connection's usual Host is looked up once
      service = front.router.route(host === '' ? undefined : host);
      this.lastHost = host;
      this.lastService = service;
    }
    if (service === undefined) return local(404, `no route for host "${printable(host)}"\n`);
    if (req.versionMinor === 1 && facts.expectContinue) this.write('HTTP/1.1 100 Continue\r\n\r\n');
    const ex = new Exchange(this, req, service, startedAt);
    this.active = ex;
    front.inflight++;
    if (!ex.attempt(front.now)) {
      this.active = undefined;
      front.inflight--;
      ex.done = true;
      return local(503, `no live instance of service "${service}"\n`, front.label(service), true);
    }
    return ex;
  }

  /** An exchange is over (response ended, failed, or the client left). */
  exchangeDone(ex: Exchange): void {
    if (this.active !== ex) return;
    this.active = undefined;
    this.front.settle();
    if (this.gone) return;
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
    this.idleSince = this.front.now;
    if (this.front.stopping || this.ended) this.close();
  }

  /** Writes a short plain-text response (errors, 503s); closes after it when asked or needed. */
  sendError(status: number, body: string, retryAfter = false, close = false): void {
    if (this.gone) return;
    if (close || this.front.stopping) this.keepAlive = false;
    const extra = (retryAfter ? 'retry-after: 1\r\n' : '') + (this.keepAlive ? '' : 'connection: close\r\n');
    this.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${extra}\r\n${body}`);
    if (!this.keepAlive) this.close();
  }

  private parseError(err: ParseError): void {
    const code = err.code;
    let status = 400;
    let reason = 'bad-request';
    if (code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      reason = 'header-too-large';
    }
    this.front.metrics.clientError(reason);
    this.reading = null;
    if (this.active !== undefined) {
      // a response is in progress: it cannot be followed by an error, so the connection ends
      this.destroy();
      return;
    }
    this.keepAlive = false;
    this.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    this.close();
  }

  /** The periodic timeout check. */
  checkTimeouts(now: number): void {
    const l = this.front.limits;
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
    this.front.metrics.clientError('timeout');
    const ex = this.active;
    // a response already went out (or is going out) for this request: no 408 after it
    if ((ex !== undefined && ex.responseStarted) || (ex === undefined && this.reading !== undefined)) {
      this.destroy();
      return;
    }
    this.keepAlive = false;
    this.write('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
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
    this.front.forget(this);
  }

  private cleanup(): void {
    this.parser.close();
    const ex = this.active;
    if (ex !== undefined) ex.clientClosed();
  }

  /** A WebSocket handshake leaves the HTTP parser: the upgrade path owns the socket from here. */
  private handOver(head: MessageHead, rest: Buffer): void {
    const socket = this.socket;
    this.front.reads.release(socket, this.onData);
    socket.removeAllListeners('end');
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    this.gone = true;
    this.parser.close();
    this.front.forget(this);
    // Nothing reads the socket until http-proxy-3 pipes it (after the upstream's 101): paused,
    // what the client sends meanwhile waits instead of being emitted to no listener.
    socket.pause();
    const headers: Record<string, string> = {};
    const raw = head.headers;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const prior = headers[name];
      headers[name] = prior === undefined ? raw[i + 1]! : `${prior}, ${raw[i + 1]!}`;
    }
    const req: UpgradeRequest = {
      method: head.method,
      url: head.url,
      headers,
      rawHeaders: raw,
      httpVersion: `${head.versionMajor}.${head.versionMinor}`,
      httpVersionMajor: head.versionMajor,
      httpVersionMinor: head.versionMinor,
      socket,
      connection: socket,
    };
    this.front.upgrade(req, socket, Buffer.from(rest));
  }
}

/**
 * The I/O shell: the listening TCP server, one ClientConn per connection and one Exchange per
 * request, WebSocket upgrades through http-proxy-3, graceful drain on stop. Routing and
 * balancing decisions are the pure modules'; this file only moves bytes and reports outcomes.
 */
export class FrontDoor {
  readonly table: UpstreamTable;
  readonly policy: EjectionPolicy;
  readonly limits: ServerLimits;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly router: HostRouter;
  readonly writer: DirectWriter;
  readonly reads: SharedReads;
  private readonly accessLog: AccessLog;
  private readonly server: Server;
  private readonly conns = new Set<ClientConn>();
  private readonly wsProxy: ProxyServer;
  private readonly upgraded = new Set<Duplex>();
  /** client sockets whose upgrade the upstream accepted (101 sent or on its way) */
  private readonly switched = new WeakSet<Duplex>();
  private readonly sweeper: NodeJS.Timeout;
  inflight = 0;
  stopping = false;
  /**
   * Date.now() as of the latest client read or sweep: timestamps for timeouts and balancing
   * need no more precision than the sweep interval, and one clock read per read is cheaper.
   */
  now = Date.now();
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
    this.writer = deps.writer;
    this.reads = deps.reads;
    const l = deps.limits;
    // paused until the ClientConn has chosen how the socket is read (see SharedReads)
    this.server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) => {
      if (this.stopping) {
        socket.destroy();
        return;
      }
      this.conns.add(new ClientConn(this, socket));
    });
    // Timeouts are checked by one timer for every connection, not a timer per request.
    const smallest = Math.min(l.clientHeaderTimeoutMs, l.idleTimeoutMs, l.upstreamHeaderTimeoutMs, l.clientRequestTimeoutMs || Infinity, l.upstreamBodyTimeoutMs || Infinity);
    const every = Math.max(20, Math.min(1000, Math.floor(smallest / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
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

  tick(): number {
    return (this.now = Date.now());
  }

  private sweep(): void {
    const now = this.tick();
    for (const conn of this.conns) conn.checkTimeouts(now);
    this.table.sweep(now);
  }

  forget(conn: ClientConn): void {
    this.conns.delete(conn);
  }

  /** An exchange is over (response ended, failed, or the client left). */
  finished(ex: Exchange, status: number): void {
    this.account(ex.method, ex.host, ex.url, ex.client.address, ex.service, ex.peer, status, ex.startedAt, ex.tries);
  }

  /**
   * The metrics label for a service without instances: its name when a flag names it, else "-".
   * `<anything>.<domain>` Host headers must not mint unbounded label values.
   */
  label(service: string | undefined): string {
    return service !== undefined && (this.router.isNamed(service) || this.table.get(service) !== undefined) ? service : '-';
  }

  account(method: string, host: string | undefined, path: string, client: string, service: string, peer: Upstream | undefined, status: number, startedAt: number, tries: number): void {
    const ms = performance.now() - startedAt;
    this.metrics.request(service, status, ms / 1000);
    if (this.accessLog !== undefined) {
      this.accessLog.info({ method, host, path, status, service, upstream: peer?.id, tries, ms: Math.round(ms * 1000) / 1000, client }, 'request');
    }
  }

  /** A response finished (or was cut): one request fewer in flight. */
  settle(): void {
    this.inflight--;
    if (this.stopping && this.inflight === 0) this.drained?.();
  }

  upgrade(req: UpgradeRequest, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const host = typeof req.headers.host === 'string' ? req.headers.host : undefined;
    const service = this.stopping ? undefined : this.router.route(host);
    const reject = (status: number, body: string): void => {
      this.metrics.request(this.label(service), status, 0);
      if (socket.writable) {
        socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${status === 503 ? 'retry-after: 1\r\n' : ''}\r\n${body}`);
      }
      socket.destroy();
    };
    if (this.stopping) return reject(503, 'shutting down\n');
    if (req.url.charCodeAt(0) !== 47 || !HOST_SYNTAX.test(host ?? '')) return reject(400, 'invalid upgrade request\n');
    if (service === undefined) return reject(404, `no route for host "${printable(host)}"\n`);
    const peers = this.table.get(service)?.peers;
    const peer = peers ? (pickUpstream(peers, Date.now()) as Upstream | undefined) : undefined;
    if (peer === undefined) return reject(503, `no live instance of service "${service}"\n`);
    setForwardedOnObject(req.headers, { clientAddress: socket.remoteAddress ?? '', proto: 'http' });
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    this.requests++;
    this.metrics.request(service, 101, 0);
    this.accessLog?.info({ method: req.method, host, path: req.url, status: 101, service, upstream: peer.id, client: socket.remoteAddress }, 'upgrade');
    reportNeutral(peer);
    this.wsProxy.ws(req as unknown as IncomingMessage, socket, head, { target: peer.origin });
  }

  /**
   * Graceful: stop accepting, let in-flight requests finish (closing keep-alive connections as
   * they go idle) until `deadlineMs`, then cut what is left.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    this.stopping = true;
    const deadline = Date.now() + deadlineMs;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of [...this.conns]) if (conn.idle) conn.close();
    if (this.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.drained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    const unfinished = this.inflight;
    // A finished response may still be on its way out of a closing connection: it gets the
    // rest of the deadline to reach the kernel ('finish'), rather than being cut by destroy.
    await pollUntil(() => ![...this.conns].some((conn) => conn.flushing), deadline);
    for (const socket of this.upgraded) socket.destroy();
    for (const conn of [...this.conns]) conn.destroy();
    clearInterval(this.sweeper);
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

/** A reason phrase is echoed only when it is plain text (no CR/LF can reach the client). */
function sanitizeReason(reason: string): string {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(reason) ? reason : '';
}

/** RFC 3986 authority without userinfo: reg-name, IPv4 or [IPv6], then an optional port. */
const HOST_SYNTAX = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d{0,5})?$/;
