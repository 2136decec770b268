/**
 * One client request on one pooled upstream connection at a time, through its attempts: it
 * borrows a connection, sends the head and the body (re-framed when chunked), passes the
 * response on (gathered into few writes) and reports the outcome. Retry and ejection decisions
 * are the shared Traffic's.
 */
import { forwardedLines } from '../headers.js';
import { UpstreamError } from '../failures.js';
import { isIdempotent } from '../retry.js';
import { bodilessStatus, sanitizeReason } from '../responses.js';
import type { Traffic } from '../traffic.js';
import type { Admitted } from '../admission.js';
import type { Route } from '../../routes/route.js';
import { editLines } from '../route-headers.js';
import type { ConnUser, ResponseHead, UpstreamConn, UpstreamPool } from './pool.js';
import { PAUSE_QUEUE, Phase, RequestForwarding, type ExchangeClient, type FastUpstream, type RequestStart } from './request-forwarding.js';

export { PAUSE_PENDING, PAUSE_QUEUE, PAUSE_UPSTREAM, type ExchangeClient, type FastUpstream, type RequestStart } from './request-forwarding.js';
import { FastHedge } from './hedge.js';

const NO_TRIES: readonly FastUpstream[] = [];

export class Exchange extends RequestForwarding implements ConnUser {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly service: string;
  /** the route the request matched (balancing, response header edits) */
  readonly route: Route;
  /** what the route's policy reads of the request (client address, sticky cookie) */
  private readonly affinity: string;
  /** the current attempt counts as in flight on `peer` (released when it ends) */
  private holding = false;
  readonly startedAt: number;
  /** request head for the upstream */
  readonly head: string;
  /**
   * An HTTP/1.0 request without Host: the head goes upstream as HTTP/1.1, which requires one,
   * so the instance's own host:port is added per attempt (what nginx's proxy_pass sends, and
   * what undici adds in the portable engine).
   */
  private readonly hostless: boolean;
  /** idempotent and bodiless: may be hedged to a second instance */
  private readonly hedgeable: boolean;
  /** the hedge on its way (not adopted yet) */
  private hedge: FastHedge | undefined;
  /** a hedge was considered (at most one per request) */
  private hedgeTried = false;
  /** the response comes from a hedge: its latency says nothing about the service's usual one */
  private viaHedge = false;
  /** the client speaks HTTP/1.0: no chunked responses to it */
  readonly http10: boolean;
  readonly skipBody: boolean;
  peer: FastUpstream | undefined;
  private tried: FastUpstream[] | undefined;
  tries = 0;
  /** replayed once after the keep-alive race */
  private staleReplayed = false;
  /** the upstream keeps the connection open after this response */
  private upstreamKeepAlive = false;
  /** the response is re-framed as chunks (upstream chunked or close-delimited, client 1.1) */
  private responseChunked = false;
  /** an interim (1xx) response is being skipped */
  private interim = false;
  status = 0;

  constructor(client: ExchangeClient, traffic: Traffic<UpstreamPool>, req: RequestStart, admitted: Admitted, startedAt: number, affinity = '') {
    super(client, traffic, req.facts.chunked, req.facts.hasBody);
    const facts = req.facts;
    this.method = req.method;
    this.url = req.url;
    this.host = facts.host;
    this.service = admitted.service;
    this.route = admitted.route;
    this.affinity = affinity;
    this.startedAt = startedAt;
    this.http10 = req.versionMajor === 1 && req.versionMinor === 0;
    this.skipBody = req.method === 'HEAD';
    const forwarded = forwardedLines(req.forwardedFor, facts.hosts > 0 ? facts.host : undefined, client.forward);
    // the lines passed on carry no framing of their own: a chunked body is re-chunked
    this.hostless = facts.hosts === 0;
    this.hedgeable = !this.hasBody && isIdempotent(req.method);
    const edit = admitted.route.requestHeaders;
    this.head = `${req.method} ${admitted.target} HTTP/1.1\r\n${edit === undefined ? req.lines : editLines(req.lines, edit)}${forwarded}${this.chunked ? 'transfer-encoding: chunked\r\n' : ''}\r\n`;
  }

  get done(): boolean {
    return this.phase === Phase.Done;
  }

  /** The response head went to the client: an error can no longer be answered cleanly. */
  get responseStarted(): boolean {
    return this.phase === Phase.Responding;
  }

  /** Picks the next peer and asks its pool for a connection; false when none is left. */
  attempt(): boolean {
    const peer = this.traffic.pick(this.route, this.tried ?? NO_TRIES, this.affinity);
    if (peer === undefined) return false;
    this.peer = peer;
    this.holding = true;
    this.tries++;
    this.requestSent = false;
    this.phase = Phase.Waiting;
    this.sentAt = this.traffic.now;
    peer.pool.acquire(this);
    return true;
  }

  /** The attempt on `peer` is over: it no longer counts as in flight there (least-conn). */
  private endAttempt(): void {
    if (!this.holding) return;
    this.holding = false;
    this.traffic.release(this.peer!);
  }

  /** Never went upstream (no live instance): over before it began. */
  abandon(): void {
    this.phase = Phase.Done;
  }

  attached(conn: UpstreamConn): void {
    if (this.phase === Phase.Done) {
      conn.release(true);
      return;
    }
    this.conn = conn;
    // net holds the head until the connection exists; the body waits for connected(), so a
    // refused connection leaves it unsent and the request can go to another instance whole
    conn.write(this.headFor(this.peer!));
    if (!this.hasBody) {
      this.phase = Phase.Forwarding;
      this.requestSent = true;
      // the header timeout runs from here, not from a wait in the pool's queue
      this.sentAt = this.traffic.now;
      return;
    }
    this.phase = Phase.Connecting;
    if (conn.connected) this.connected();
  }

  /** The head for `peer`: a host-less HTTP/1.0 request gets `host: <id>` after the request line. */
  headFor(peer: FastUpstream): string {
    if (!this.hostless) return this.head;
    const line = this.head.indexOf('\r\n') + 2;
    return `${this.head.slice(0, line)}host: ${peer.id}\r\n${this.head.slice(line)}`;
  }

  onHead(head: ResponseHead): boolean {
    const status = head.status;
    if (status < 200) {
      if (status === 101) {
        this.failed(new UpstreamError('other', 'UPSTREAM_UPGRADE', 'upstream switched protocols on a plain request'));
        return true;
      }
      // 100 Continue and 103 Early Hints: the client got its own 100 already
      this.interim = true;
      return false;
    }
    const hedge = this.hedge;
    if (hedge !== undefined) {
      // the first attempt answered first: the hedge is cut
      this.hedge = undefined;
      hedge.cancel();
    }
    const traffic = this.traffic;
    traffic.responded(this.peer!);
    if (this.hedgeable && !this.viaHedge) traffic.headLatency(this.service, traffic.mark() - this.startedAt);
    const client = this.client;
    if (client.gone) return true;
    let framing = '';
    const bodiless = this.skipBody || bodilessStatus(status);
    if (!bodiless && !head.hasLength) {
      // upstream chunked or close-delimited
      if (this.http10) client.closeAfterResponse();
      else {
        this.responseChunked = true;
        framing = 'transfer-encoding: chunked\r\n';
      }
    }
    // --hsts: HTTPS responses (h2 ones too) say so unless the upstream did
    if (this.traffic.hsts !== undefined && client.forward.proto === 'https' && !/^strict-transport-security:/im.test(head.lines)) framing += `strict-transport-security: ${this.traffic.hsts}\r\n`;
    if (!this.requestEnded || this.traffic.stopping) client.closeAfterResponse();
    if (!client.keepAlive) framing += 'connection: close\r\n';
    else if (this.http10) framing += 'connection: keep-alive\r\n';
    this.status = status;
    this.phase = Phase.Responding;
    this.upstreamKeepAlive = head.keepAlive;
    this.lastActivity = this.traffic.now;
    const route = this.route;
    const lines = route.responseHeaders === undefined ? head.lines : editLines(head.lines, route.responseHeaders);
    const sticky = route.balance === 'cookie' ? this.traffic.stickyCookie(route, this.peer!, this.affinity) : '';
    this.emit(`HTTP/1.1 ${status} ${sanitizeReason(head.reason)}\r\n${lines}${sticky}${framing}\r\n`);
    return this.skipBody;
  }

  onBody(chunk: Buffer, from: number, to: number): void {
    if (this.client.gone || this.phase === Phase.Done) return;
    this.lastActivity = this.traffic.now;
    if (this.responseChunked) this.emit(`${(to - from).toString(16)}\r\n`);
    this.emitChunk(chunk, from, to);
    if (this.responseChunked) this.emit('\r\n');
  }

  onMessageEnd(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.endAttempt();
    if (this.responseChunked) this.emit('0\r\n\r\n');
    // before the connection may be ended or handed to the next request
    this.flush();
    const conn = this.conn!;
    this.conn = undefined;
    // reusable only when the whole request went out (an early response leaves a body unsent)
    this.stopUpstreamDrain();
    conn.release(this.upstreamKeepAlive && this.requestSent && !this.client.gone && !this.waitingDrain);
    this.record(this.client.gone ? 499 : this.status);
    this.client.exchangeDone(this);
  }

  failed(err: UpstreamError): void {
    if (this.phase === Phase.Done) return;
    const traffic = this.traffic;
    const peer = this.peer!;
    const conn = this.conn;
    this.conn = undefined;
    this.stopUpstreamDrain();
    if (conn !== undefined) {
      conn.user = undefined;
      conn.destroy();
    }
    const hedge = this.hedge;
    if (hedge !== undefined) {
      this.hedge = undefined;
      if (!this.client.gone && hedge.conn !== undefined) {
        // the hedge already on its way carries the request from here
        traffic.failed(peer, err);
        this.adopt(hedge);
        return;
      }
      hedge.cancel();
    }
    if (this.client.gone) {
      traffic.neutral(peer);
      this.finish(499);
      return;
    }
    if (err.code === 'UPSTREAM_STALE_CONNECTION' && this.replayOnFreshConnection(peer)) return;
    traffic.failed(peer, err);
    if (this.phase === Phase.Responding) {
      // Too late for a clean error: cut the client connection so it sees a truncated response.
      traffic.log.warn({ service: this.service, upstream: peer.id, err: err.message }, 'upstream failed mid-response');
      this.phase = Phase.Done;
      this.client.destroy();
      this.finish(this.status);
      return;
    }
    const retry = traffic.retries(this.service, {
      kind: err.kind,
      method: this.method,
      hasBody: this.hasBody,
      bodyConsumed: this.bodyConsumed,
      requestSent: this.requestSent,
      responseStarted: false,
      tries: this.tries,
    });
    if (retry) {
      this.endAttempt();
      (this.tried ??= []).push(peer);
      if (this.attempt()) return;
    }
    traffic.log.debug({ service: this.service, upstream: peer.id, err: err.message, kind: err.kind, tries: this.tries }, 'upstream request failed');
    this.phase = Phase.Done;
    // a body still arriving has nowhere to go: the connection ends after the error
    this.client.sendError(502, err.kind === 'timeout' ? `upstream of service "${this.service}" timed out\n` : `upstream of service "${this.service}" failed\n`, false, !this.requestEnded);
    this.finish(502);
  }

  /**
   * The keep-alive race (the instance closed an idle connection as it was reused): says nothing
   * about the instance, so no ejection; a replayable request goes again, once, on a new
   * connection to the same instance, as nginx and Node's agent do.
   */
  private replayOnFreshConnection(peer: FastUpstream): boolean {
    if (this.staleReplayed || !isIdempotent(this.method) || (this.hasBody && this.bodyConsumed)) return false;
    this.staleReplayed = true;
    this.traffic.metrics.retry(this.service);
    this.requestSent = false;
    this.phase = Phase.Waiting;
    this.sentAt = this.traffic.now;
    peer.pool.acquire(this, true);
    return true;
  }

  /**
   * A hedge: the request has waited `hedgeAfter` for a response head from its instance; the
   * same head goes to another one too (from the sweep; once per request at most).
   */
  private startHedge(): void {
    this.hedgeTried = true;
    const slow = this.peer!;
    const peer = this.traffic.pick(this.route, this.tried === undefined ? [slow] : [...this.tried, slow], this.affinity);
    if (peer === undefined) return;
    const hedge = new FastHedge(this, peer);
    this.hedge = hedge;
    this.traffic.hedgeSent(slow, peer);
    peer.pool.acquire(hedge);
  }

  /** The hedge's final response head came first: the slow attempt is cut and counted against its instance. */
  hedgeAnswered(hedge: FastHedge): void {
    const slow = this.peer!;
    const conn = this.conn;
    this.conn = undefined;
    this.hedge = undefined;
    if (conn !== undefined) {
      conn.user = undefined;
      conn.destroy();
    } else slow.pool.cancel(this);
    this.traffic.hedgeWon(slow);
    this.adopt(hedge);
  }

  /** The hedge carries the request from now on. */
  private adopt(hedge: FastHedge): void {
    // a retry after this never goes back to the slow instance
    (this.tried ??= []).push(this.peer!);
    // the slow instance no longer counts it in flight; the hedge's instance does (least-conn)
    this.endAttempt();
    this.holding = true;
    hedge.adopted = true;
    this.viaHedge = true;
    this.conn = hedge.conn;
    this.peer = hedge.peer;
    this.tries++;
    this.phase = Phase.Forwarding;
    this.requestSent = true;
    this.sentAt = this.traffic.now;
  }

  /** The hedge failed before answering: counted against its instance; the first attempt goes on. */
  hedgeFailed(hedge: FastHedge, err: UpstreamError): void {
    if (this.hedge === hedge) this.hedge = undefined;
    this.traffic.release(hedge.peer);
    // (the keep-alive race says nothing about the instance)
    if (this.client.gone || err.code === 'UPSTREAM_STALE_CONNECTION') this.traffic.neutral(hedge.peer);
    else this.traffic.failed(hedge.peer, err);
  }

  private dropHedge(): void {
    const hedge = this.hedge;
    if (hedge === undefined) return;
    this.hedge = undefined;
    hedge.cancel();
    this.traffic.release(hedge.peer);
  }

  /** The client went away: the upstream connection is cut (its response would have nowhere to go). */
  clientClosed(): void {
    this.cancel(499);
  }

  /**
   * The client's request body is malformed and no response began: the attempt is cut (it says
   * nothing about the instance) and the exchange ends as `status`, which the client connection
   * writes.
   */
  requestInvalid(status: number): void {
    this.cancel(status);
  }

  private cancel(status: number): void {
    if (this.phase === Phase.Done) return;
    this.dropHedge();
    const conn = this.conn;
    this.conn = undefined;
    this.stopUpstreamDrain();
    if (conn !== undefined) conn.destroy();
    else this.peer?.pool.cancel(this);
    if (this.peer !== undefined) this.traffic.neutral(this.peer);
    this.endAttempt();
    this.finish(status);
  }

  /** Periodic check of the upstream timeouts. */
  checkTimeouts(now: number): void {
    if (this.phase === Phase.Done) return;
    const l = this.traffic.limits;
    if (this.conn === undefined) {
      // queued for a connection (--upstream-connections): the header timeout bounds the wait
      if (this.peer !== undefined && now - this.sentAt > l.upstreamHeaderTimeoutMs) {
        this.peer.pool.cancel(this);
        this.phase = Phase.Done;
        this.client.sendError(503, `no connection to service "${this.service}" came free within ${l.upstreamHeaderTimeoutMs} ms\n`, true, !this.requestEnded);
        this.finish(503);
      }
      return;
    }
    if (this.phase !== Phase.Responding) {
      if (this.requestSent && this.hedgeable && !this.hedgeTried && l.hedgeAfterMs > 0 && now - this.sentAt > l.hedgeAfterMs) {
        const after = this.traffic.hedgeAfter(this.service);
        if (now - this.sentAt > after) this.startHedge();
      }
      if (this.requestSent && now - this.sentAt > l.upstreamHeaderTimeoutMs) {
        this.failed(new UpstreamError('timeout', 'UPSTREAM_HEADER_TIMEOUT', `upstream ${this.peer!.id} sent no response head within ${l.upstreamHeaderTimeoutMs} ms`));
      }
    } else if (l.upstreamBodyTimeoutMs > 0 && !this.waitingDrain && now - this.lastActivity > l.upstreamBodyTimeoutMs) {
      // (a client that reads slowly is not the upstream's silence)
      this.failed(new UpstreamError('timeout', 'UPSTREAM_BODY_TIMEOUT', `upstream ${this.peer!.id} went silent for ${l.upstreamBodyTimeoutMs} ms mid-body`));
    }
  }

  private finish(status: number): void {
    this.phase = Phase.Done;
    this.dropHedge();
    this.endAttempt();
    this.stopUpstreamDrain();
    // a body held for a connection that never came has nowhere to go: the client is read again
    this.queued = undefined;
    this.queuedBytes = 0;
    this.client.resumeReading(PAUSE_QUEUE);
    this.record(status);
    this.client.exchangeDone(this);
  }

  private record(status: number): void {
    this.traffic.record({ method: this.method, host: this.host, path: this.url, client: this.client.address, service: this.service, upstream: this.peer?.id, status, startedAt: this.startedAt, tries: this.tries });
  }
}
