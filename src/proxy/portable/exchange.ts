/**
 * One client request in the portable engine: node:http's request and response on the client
 * side, an undici dispatch per attempt on the upstream side. It is its own undici dispatch
 * handler, so an attempt costs one object rather than a set of closures. Retry and ejection
 * decisions are the shared Traffic's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { UpstreamError, type FailureKind, type UpstreamErrorCode } from '../failures.js';
import { clientResponseList } from '../headers.js';
import { isIdempotent } from '../retry.js';
import type { Traffic } from '../traffic.js';
import type { Upstream } from '../upstreams.js';
import type { Admitted } from '../admission.js';
import type { Route } from '../../routes/route.js';
import { editList } from '../route-headers.js';
import type { PortablePool } from './pool.js';
import { HedgeCancelled, PortableHedge } from './hedge.js';

export type PortableUpstream = Upstream<PortablePool>;

const Phase = {
  /** dispatched to the instance's pool; no connection carries it yet */
  Waiting: 0,
  /** undici is writing it on a connection */
  Forwarding: 1,
  /** the response head went to the client */
  Responding: 2,
  Done: 3,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
}

const NO_TRIES: readonly PortableUpstream[] = [];

/** What the exchange reports back to its front door. */
export interface ExchangeOwner {
  /** answers with a short plain-text response (or cuts the connection if a response began) */
  sendError(res: ServerResponse, status: number, body: string, retryAfter?: boolean): void;
  /** the exchange is over */
  finished(ex: PortableExchange, status: number): void;
}

export class PortableExchange implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly service: string;
  /** the route the request matched (balancing, response header edits) */
  readonly route: Route;
  /** what the route's policy reads of the request (client address, sticky cookie) */
  private readonly affinity: string;
  /** the current attempt counts as in flight on `peer` (released when it ends) */
  private holding = false;
  readonly startedAt: number;
  readonly traffic: Traffic<PortablePool>;
  private readonly owner: ExchangeOwner;
  private readonly hasBody: boolean;
  private readonly options: Dispatcher.DispatchOptions;
  private phase: Phase = Phase.Waiting;
  peer: PortableUpstream | undefined;
  private tried: PortableUpstream[] | undefined;
  tries = 0;
  private controller: Dispatcher.DispatchController | undefined;
  /** Traffic's clock when the attempt was dispatched: a wait for a free connection is bounded */
  dispatchedAt = 0;
  private requestSent = false;
  private clientGone = false;
  /** replays after a reset (the keep-alive race) */
  private replays = 0;
  /** idempotent and bodiless: may be hedged to a second instance */
  private readonly hedgeable: boolean;
  /** the hedge on its way (not adopted yet) */
  private hedge: PortableHedge | undefined;
  private hedgeTried = false;
  /** the response comes from a hedge (its latency is not the service's usual one) */
  private viaHedge = false;
  status = 0;

  constructor(traffic: Traffic<PortablePool>, owner: ExchangeOwner, req: IncomingMessage, res: ServerResponse, admitted: Admitted, startedAt: number, headers: string[], hasBody: boolean, affinity = '') {
    this.traffic = traffic;
    this.owner = owner;
    this.req = req;
    this.res = res;
    this.service = admitted.service;
    this.route = admitted.route;
    this.affinity = affinity;
    this.startedAt = startedAt;
    this.hasBody = hasBody;
    this.hedgeable = !hasBody && isIdempotent(req.method ?? '');
    this.options = {
      path: admitted.target,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? req : null,
      // Retries are decided here, not inside undici.
      idempotent: false,
      reset: false,
    };
  }

  get done(): boolean {
    return this.phase === Phase.Done;
  }

  /** Picks the next peer and dispatches; false when none is left. */
  attempt(): boolean {
    const peer = this.traffic.pick(this.route, this.tried ?? NO_TRIES, this.affinity);
    if (peer === undefined) return false;
    this.peer = peer;
    this.holding = true;
    this.tries++;
    this.requestSent = false;
    this.controller = undefined;
    this.phase = Phase.Waiting;
    this.dispatchedAt = this.traffic.now;
    peer.pool.undici.dispatch(this.options, this);
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

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // answered meanwhile (a 503 after waiting too long for a connection), or nobody to answer
    if (this.phase === Phase.Done || this.clientGone) {
      controller.abort(new ClientGoneError('request no longer wanted'));
      return;
    }
    this.phase = Phase.Forwarding;
  }

  onRequestSent(): void {
    this.requestSent = true;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, _headers: unknown, statusMessage?: string): void {
    const peer = this.peer!;
    this.traffic.responded(peer);
    if (this.clientGone || this.phase === Phase.Done) return controller.abort(new ClientGoneError('client went away'));
    // 1xx are not passed on (the client got its own 100 Continue from node:http)
    if (statusCode < 200) return;
    // the first attempt answered first: a hedge is cut
    this.dropHedge();
    if (this.hedgeable && !this.viaHedge) this.traffic.headLatency(this.service, this.traffic.mark() - this.startedAt);
    const route = this.route;
    const received = clientResponseList((controller.rawHeaders ?? []) as (string | Buffer)[]);
    const headers = route.responseHeaders === undefined ? received : editList(received, route.responseHeaders);
    if (route.balance === 'cookie') {
      const line = this.traffic.stickyCookie(route, peer, this.affinity);
      if (line !== '') headers.push('set-cookie', line.slice('set-cookie: '.length, -2));
    }
    // --hsts: HTTPS responses (h2 ones too) say so unless the upstream did
    const hsts = this.traffic.hsts;
    if (hsts !== undefined && (this.req.socket as { encrypted?: boolean }).encrypted === true && !headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'strict-transport-security')) headers.push('strict-transport-security', hsts);
    if (this.traffic.stopping) this.res.shouldKeepAlive = false;
    try {
      if (statusMessage) this.res.writeHead(statusCode, statusMessage, headers);
      else this.res.writeHead(statusCode, headers);
    } catch (err) {
      // The upstream sent something Node refuses to repeat (bad header characters).
      this.traffic.log.warn({ service: this.service, upstream: peer.id, err: (err as Error).message }, 'upstream response head rejected');
      controller.abort(err as Error);
      return;
    }
    this.status = statusCode;
    this.phase = Phase.Responding;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.endAttempt();
    this.res.end();
    this.owner.finished(this, this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    // the attempt that lost to a hedge, aborted
    if (err instanceof HedgeCancelled || this.phase === Phase.Done) return;
    const traffic = this.traffic;
    const peer = this.peer!;
    const hedge = this.hedge;
    if (hedge !== undefined) {
      this.hedge = undefined;
      if (!this.clientGone && !(err instanceof ClientGoneError) && this.phase !== Phase.Responding && hedge.controller !== undefined) {
        // the hedge already on its way carries the request from here
        traffic.failed(peer, upstreamFailure(err, this.phase !== Phase.Waiting, peer.id));
        this.adopt(hedge);
        return;
      }
      hedge.cancel();
    }
    if (this.clientGone || err instanceof ClientGoneError) {
      this.endAttempt();
      traffic.neutral(peer);
      this.phase = Phase.Done;
      this.owner.finished(this, 499);
      return;
    }
    const failure = upstreamFailure(err, this.phase !== Phase.Waiting, peer.id);
    if (failure.kind === 'reset' && this.phase !== Phase.Responding && this.replayOnce(peer)) return;
    traffic.failed(peer, failure);
    this.endAttempt();
    if (this.phase === Phase.Responding) {
      // Too late for a clean error: cut the client connection so it sees a truncated response.
      this.phase = Phase.Done;
      traffic.log.warn({ service: this.service, upstream: peer.id, err: failure.message }, 'upstream failed mid-response');
      this.res.destroy(failure);
      this.owner.finished(this, this.status);
      return;
    }
    const req = this.req;
    const retry = traffic.retries(this.service, {
      kind: failure.kind,
      method: req.method!,
      hasBody: this.hasBody,
      bodyConsumed: req.readableDidRead || req.destroyed,
      requestSent: this.requestSent,
      responseStarted: false,
      tries: this.tries,
    });
    if (retry) {
      (this.tried ??= []).push(peer);
      if (this.attempt()) return;
    }
    traffic.log.debug({ service: this.service, upstream: peer.id, err: failure.message, kind: failure.kind, tries: this.tries }, 'upstream request failed');
    this.phase = Phase.Done;
    this.owner.sendError(this.res, 502, failure.kind === 'timeout' ? `upstream of service "${this.service}" timed out\n` : `upstream of service "${this.service}" failed\n`);
    this.owner.finished(this, 502);
  }

  /**
   * The keep-alive race: undici does not say whether a reset connection was a reused one (nor
   * lets a retry ask for a new one), so an idempotent request reset before its response goes
   * again to the same instance, up to --max-tries times, without counting against it; the
   * failure after that counts as usual.
   */
  private replayOnce(peer: PortableUpstream): boolean {
    const req = this.req;
    if (this.replays >= this.traffic.limits.maxTries || !isIdempotent(req.method ?? '') || (this.hasBody && (req.readableDidRead || req.destroyed))) return false;
    this.replays++;
    this.traffic.metrics.retry(this.service);
    this.requestSent = false;
    this.controller = undefined;
    this.phase = Phase.Waiting;
    this.dispatchedAt = this.traffic.now;
    peer.pool.undici.dispatch(this.options, this);
    return true;
  }

  /**
   * A hedge: the request has waited `hedgeAfter` for a response head from its instance; it
   * goes to another one too (from the sweep; once per request at most).
   */
  private startHedge(): void {
    this.hedgeTried = true;
    const slow = this.peer!;
    const peer = this.traffic.pick(this.route, this.tried === undefined ? [slow] : [...this.tried, slow], this.affinity);
    if (peer === undefined) return;
    const hedge = new PortableHedge(this, peer);
    this.hedge = hedge;
    this.traffic.hedgeSent(slow, peer);
    peer.pool.undici.dispatch(this.options, hedge);
  }

  /** The hedge's final response head came first: the slow attempt is cut and counted against its instance. */
  hedgeAnswered(hedge: PortableHedge): void {
    const slow = this.peer!;
    this.hedge = undefined;
    this.controller?.abort(new HedgeCancelled('the other attempt answered first'));
    this.traffic.hedgeWon(slow);
    this.adopt(hedge);
  }

  private adopt(hedge: PortableHedge): void {
    // a retry after this never goes back to the slow instance
    (this.tried ??= []).push(this.peer!);
    // the slow instance no longer counts it in flight; the hedge's instance does (least-conn)
    this.endAttempt();
    this.holding = true;
    hedge.adopted = true;
    this.viaHedge = true;
    this.peer = hedge.peer;
    this.controller = hedge.controller;
    this.tries++;
    this.phase = Phase.Forwarding;
    this.requestSent = true;
    this.dispatchedAt = this.traffic.now;
  }

  /** The hedge failed before answering: counted against its instance; the first attempt goes on. */
  hedgeFailed(hedge: PortableHedge, err: Error): void {
    if (this.hedge === hedge) this.hedge = undefined;
    this.traffic.release(hedge.peer);
    if (!this.clientGone) this.traffic.failed(hedge.peer, upstreamFailure(err, hedge.controller !== undefined, hedge.peer.id));
  }

  private dropHedge(): void {
    const hedge = this.hedge;
    if (hedge === undefined) return;
    this.hedge = undefined;
    hedge.cancel();
    this.traffic.release(hedge.peer);
  }

  /** The client went away: the upstream request is cut (its response would have nowhere to go). */
  clientClosed(): void {
    if (this.phase === Phase.Done) return;
    this.dropHedge();
    this.clientGone = true;
    this.controller?.abort(new ClientGoneError('client went away'));
  }

  /** Periodic check: a wait for a free connection (--upstream-connections) is bounded; a slow head is hedged. */
  checkTimeouts(now: number): void {
    const limits = this.traffic.limits;
    if (this.phase === Phase.Forwarding && this.requestSent && this.hedgeable && !this.hedgeTried && limits.hedgeAfterMs > 0 && now - this.dispatchedAt > limits.hedgeAfterMs) {
      if (now - this.dispatchedAt > this.traffic.hedgeAfter(this.service)) this.startHedge();
      return;
    }
    const limit = limits.upstreamHeaderTimeoutMs;
    if (this.phase !== Phase.Waiting || now - this.dispatchedAt <= limit) return;
    // undici keeps the request queued; it is aborted when a connection takes it (onRequestStart)
    this.dropHedge();
    this.phase = Phase.Done;
    this.endAttempt();
    this.owner.sendError(this.res, 503, `no connection to service "${this.service}" came free within ${limit} ms\n`, true);
    this.owner.finished(this, 503);
  }
}

/** An undici failure as the proxy's kinds: nothing was written yet means `connect`. */
function upstreamFailure(err: Error, started: boolean, id: string): UpstreamError {
  const code = (err as { code?: string }).code ?? '';
  let kind: FailureKind;
  let own: UpstreamErrorCode;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      [kind, own] = ['timeout', 'UPSTREAM_HEADER_TIMEOUT'];
      break;
    case 'UND_ERR_BODY_TIMEOUT':
      [kind, own] = ['timeout', 'UPSTREAM_BODY_TIMEOUT'];
      break;
    case 'UND_ERR_CONNECT_TIMEOUT':
      [kind, own] = ['connect', 'ETIMEDOUT'];
      break;
    case 'ECONNREFUSED':
      [kind, own] = ['connect', 'ECONNREFUSED'];
      break;
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
      [kind, own] = [started ? 'reset' : 'connect', 'ECONNRESET'];
      break;
    case 'HPE_INVALID_CONSTANT':
    case 'UND_ERR_INFO':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      [kind, own] = ['other', 'UPSTREAM_BAD_RESPONSE'];
      break;
    default:
      [kind, own] = [started ? 'other' : 'connect', code.startsWith('HPE_') ? 'UPSTREAM_BAD_RESPONSE' : 'UPSTREAM_FAILED'];
  }
  return new UpstreamError(kind, own, `upstream ${id}: ${err.message}`, err);
}
