/**
 * What both HTTP engines share once a request is read: the clock, routing, picking an
 * instance, what a failure or a success does to it (ejection), retry decisions, in-flight
 * counting for a graceful stop, and accounting (metrics and the access log). An engine moves
 * bytes and asks this object what to do; it decides nothing of this on its own.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { pickUpstream, reportFailure, reportHedged, reportNeutral, reportSuccess, HEDGE_STREAK, type EjectionPolicy } from './balancer.js';
import { hedgeDelay, LatencyWindow } from './latency.js';
import type { UpstreamError } from './failures.js';
import type { ProxyMetrics } from './metrics.js';
import { shouldRetry, type AttemptOutcome } from './retry.js';
import type { Router } from './routing.js';
import type { Route } from '../routes/route.js';
import { pickHashed, pickLeastConn, pickSticky, stickyCookieLine, stickyId } from './policies.js';
import type { Upstream, UpstreamPoolLike, UpstreamTable } from './upstreams.js';

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
  /** least wait for a response head before an idempotent bodiless request is hedged; 0 = no hedging */
  hedgeAfterMs: number;
}

/** The access log: a pino logger or nothing. */
export type AccessLog = Logger | undefined;

/** One answered request, as metrics and the access log record it. */
export interface RequestRecord {
  readonly method: string;
  readonly host: string | undefined;
  readonly path: string;
  readonly client: string;
  readonly service: string;
  readonly upstream: string | undefined;
  readonly status: number;
  /** `Traffic.mark()` when the request began */
  readonly startedAt: number;
  readonly tries: number;
}

export interface TrafficDeps<P extends UpstreamPoolLike> {
  router: Router;
  table: UpstreamTable<P>;
  policy: EjectionPolicy;
  limits: ServerLimits;
  metrics: ProxyMetrics;
  log: Logger;
  accessLog: AccessLog;
  plainAnswer?: import('./tls/redirect.js').PlainRedirect;
  hsts?: string;
  /** the port HTTPS is served on, once the TLS listener is bound (routes redirect there) */
  httpsPort?: () => number | undefined;
}

const NO_TRIES: readonly Upstream[] = [];

export class Traffic<P extends UpstreamPoolLike = UpstreamPoolLike> {
  readonly router: Router;
  readonly table: UpstreamTable<P>;
  readonly policy: EjectionPolicy;
  readonly limits: ServerLimits;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  /** plain-HTTP requests get this answer when it gives one (ACME challenges, --https-redirect) */
  readonly plainAnswer: import('./tls/redirect.js').PlainRedirect | undefined;
  /** Strict-Transport-Security value added to HTTPS responses without one (--hsts) */
  readonly hsts: string | undefined;
  /** the port HTTPS is served on, for routes with `"https": "redirect"` (443 without TLS) */
  get httpsPort(): number | undefined {
    return this.httpsPortOf?.();
  }
  private readonly httpsPortOf: (() => number | undefined) | undefined;
  private readonly accessLog: AccessLog;
  /**
   * The clock (ms since the epoch) for timeouts and balancing, advanced by the listener that
   * owns it (`tick`, at each client read and each sweep): none of them needs more precision
   * than the sweep interval, and one clock read per read is cheaper than one per decision.
   */
  now = Date.now();
  /** requests received */
  requests = 0;
  /** requests whose response is not finished */
  inflight = 0;
  stopping = false;
  private drained: (() => void) | undefined;
  /** recent response-head latencies per service (bodiless requests), for hedging */
  private readonly latency = new Map<string, LatencyWindow>();
  private readonly stickyIds = new WeakMap<Upstream<P>, string>();

  constructor(deps: TrafficDeps<P>) {
    this.router = deps.router;
    this.table = deps.table;
    this.policy = deps.policy;
    this.limits = deps.limits;
    this.metrics = deps.metrics;
    this.log = deps.log;
    this.accessLog = deps.accessLog;
    this.plainAnswer = deps.plainAnswer;
    this.hsts = deps.hsts;
    this.httpsPortOf = deps.httpsPort;
  }

  tick(): number {
    return (this.now = Date.now());
  }

  /** A high-resolution mark for request durations (RequestRecord.startedAt). */
  mark(): number {
    return performance.now();
  }

  /**
   * The next instance of the route's service to try under its balancing policy, skipping
   * `tried`; undefined when none is left. `key` is what the policy reads of the request (the
   * client address for ip-hash, the sticky cookie's value for cookie). The pick counts as an
   * attempt in flight on the instance until `release`.
   */
  pick(route: Route, tried: readonly Upstream<P>[] = NO_TRIES as readonly Upstream<P>[], key = ''): Upstream<P> | undefined {
    const entry = this.table.get(route.service!);
    if (entry === undefined) return undefined;
    const peers = entry.peers;
    const now = this.now;
    let peer: Upstream<P> | undefined;
    switch (route.balance) {
      case 'round-robin':
        peer = pickUpstream(peers, now, tried) as Upstream<P> | undefined;
        break;
      case 'least-conn':
        peer = pickLeastConn(peers, now, tried) as Upstream<P> | undefined;
        break;
      case 'ip-hash':
        peer = pickHashed(peers, now, key, tried) as Upstream<P> | undefined;
        break;
      case 'cookie':
        peer = pickSticky(peers, now, key, (p) => this.stickyId(p), tried) ?? (pickUpstream(peers, now, tried) as Upstream<P> | undefined);
        break;
    }
    if (peer !== undefined) peer.active++;
    return peer;
  }

  /** The attempt on `peer` that `pick` handed out is over. */
  release(peer: Upstream<P>): void {
    if (peer.active > 0) peer.active--;
  }

  /** The opaque id a sticky cookie carries for an instance (derived from its instance id). */
  stickyId(peer: Upstream<P>): string {
    let id = this.stickyIds.get(peer);
    if (id === undefined) this.stickyIds.set(peer, (id = stickyId(peer.service, peer.instanceIds)));
    return id;
  }

  /**
   * The Set-Cookie line (with CRLF) a response carries under a cookie route when the client's
   * cookie (`key`) does not name the instance that answered; '' otherwise.
   */
  stickyCookie(route: Route, peer: Upstream<P>, key: string): string {
    if (route.balance !== 'cookie') return '';
    const id = this.stickyId(peer);
    return id === key ? '' : stickyCookieLine(route.cookie, id);
  }

  /** The instance started a response: it is healthy (a probe brings it back). */
  responded(peer: Upstream<P>): void {
    if (reportSuccess(peer)) this.log.info({ service: peer.service, upstream: peer.id }, 'upstream back in rotation');
  }

  /** A bodiless request's response head came after `ms` (from the request's start): the service's latency. */
  headLatency(service: string, ms: number): void {
    let window = this.latency.get(service);
    if (window === undefined) this.latency.set(service, (window = new LatencyWindow()));
    window.record(ms);
  }

  /**
   * How long an idempotent bodiless attempt at `service` may go without a response head before
   * it is hedged to another instance: max(--hedge-after, 3 x the service's recent p99); 0 = off.
   */
  hedgeAfter(service: string): number {
    return hedgeDelay(this.limits.hedgeAfterMs, this.latency.get(service)?.p99() ?? 0);
  }

  /** A hedge went out for a request waiting on `slow`. */
  hedgeSent(slow: Upstream<P>, to: Upstream<P>): void {
    this.metrics.hedge(slow.service);
    this.log.debug({ service: slow.service, upstream: slow.id, hedge: to.id }, 'request hedged');
  }

  /** The hedge answered first: `slow` needed it (in a row, that ejects it; see reportHedged). */
  hedgeWon(slow: Upstream<P>): void {
    if (reportHedged(slow, Date.now(), this.policy)) {
      this.metrics.ejection(slow.service);
      this.log.warn({ service: slow.service, upstream: slow.id, hedged: HEDGE_STREAK, forMs: this.policy.failTimeoutMs }, 'upstream ejected: requests in a row answered by another instance first (hung?)');
    }
  }

  /** The attempt ended for a reason that says nothing about the instance (the client left). */
  neutral(peer: Upstream<P>): void {
    reportNeutral(peer);
  }

  /** The attempt failed: counted, and the instance ejected when it keeps failing. */
  failed(peer: Upstream<P>, err: UpstreamError): void {
    const service = peer.service;
    this.metrics.upstreamError(service, err.kind);
    if (reportFailure(peer, Date.now(), this.policy)) {
      this.metrics.ejection(service);
      this.log.warn({ service, upstream: peer.id, err: err.message, forMs: this.policy.failTimeoutMs }, 'upstream ejected after failures');
    }
  }

  /** Whether a failed attempt is replayed on another instance (counted when it is). */
  retries(service: string, outcome: Omit<AttemptOutcome, 'maxTries'>): boolean {
    const retry = shouldRetry({ ...outcome, maxTries: this.limits.maxTries });
    if (retry) this.metrics.retry(service);
    return retry;
  }

  /**
   * The metrics label for a service without instances: its name when a flag names it, else "-".
   * `<anything>.<domain>` Host headers must not mint unbounded label values.
   */
  label(service: string | undefined): string {
    return service !== undefined && (this.router.isNamed(service) || this.table.get(service) !== undefined) ? service : '-';
  }

  /** Metrics and the access log for one answered request. */
  record(r: RequestRecord): void {
    const ms = performance.now() - r.startedAt;
    this.metrics.request(r.service, r.status, ms / 1000);
    if (this.accessLog !== undefined) {
      this.accessLog.info({ method: r.method, host: r.host, path: r.path, status: r.status, service: r.service, upstream: r.upstream, tries: r.tries, ms: Math.round(ms * 1000) / 1000, client: r.client }, 'request');
    }
  }

  /** An upgrade handed to the WebSocket proxy. */
  recordUpgrade(method: string, host: string | undefined, path: string, service: string, upstream: string, client: string | undefined): void {
    this.requests++;
    this.metrics.request(service, 101, 0);
    this.accessLog?.info({ method, host, path, status: 101, service, upstream, client }, 'upgrade');
  }

  /** A request is in flight until `settle`. */
  begin(): void {
    this.inflight++;
  }

  settle(): void {
    this.inflight--;
    if (this.stopping && this.inflight === 0) this.drained?.();
  }

  /** Stops taking requests; resolves when none is in flight, or after `deadlineMs`. */
  async drain(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.inflight === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (this.drained = resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
    ]);
    clearTimeout(timer);
  }
}
