/**
 * Metrics of the dns mode. Per-query numbers go into plain typed arrays (`Stats`, a few ns per
 * query; prom-client's own inc/observe cost 0.3-0.5 us, a measurable share of a cached answer) and
 * reach prom-client only when `/metrics` is scraped, summed over the main thread and the UDP
 * workers, whose snapshots arrive every second.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { rcodeName, TYPE, typeName } from './wire.js';

const TYPES = [TYPE.A, TYPE.AAAA, TYPE.CNAME, TYPE.SRV, TYPE.TXT, TYPE.MX, TYPE.NS, TYPE.SOA, TYPE.PTR, TYPE.ANY] as const;
const TYPE_INDEX = new Map<number, number>(TYPES.map((t, i) => [t, i + 1]));
const TYPE_LABELS = ['other', ...TYPES.map((t) => typeName(t))];
const RCODES = 32;

export const TRANSPORTS = ['udp', 'tcp'] as const;
export const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5] as const;
export const FORWARD_OUTCOMES = ['ok', 'servfail', 'timeout', 'error'] as const;
export type ForwardOutcome = (typeof FORWARD_OUTCOMES)[number];

/** What one thread saw of one nameserver it forwards to (`host:port`). */
export interface NameserverHealth {
  ok: number;
  failed: number;
  /** failed attempts since the last answer */
  failing: number;
  last: ForwardOutcome;
  /** epoch ms of the last attempt */
  lastAt: number;
}

export interface StatsSnapshot {
  queries: Float64Array;
  latency: Float64Array[];
  latencySum: Float64Array;
  forwarded: Float64Array;
  cacheHits: number;
  malformed: number;
  truncated: number;
  /** out-of-zone queries refused because the client is outside --allow-recursion */
  recursionRefused: number;
  /** queries (and out-of-zone look-ups) not forwarded: too many forwards in flight */
  forwardsShed: number;
  cacheEntries: number;
  /** forwarded queries answered from the forward cache (fresh entries) */
  forwardCacheHits: number;
  /** cacheable forwarded queries the cache could not answer (relayed, or joined a relay) */
  forwardCacheMisses: number;
  /** entries in the forward cache (a gauge) */
  forwardCacheEntries: number;
  /** expired entries answered because every upstream failed (RFC 8767) */
  forwardStaleServed: number;
  /** popular entries refreshed before they expired */
  forwardPrefetches: number;
  /** per nameserver, by `host:port` */
  nameservers: Record<string, NameserverHealth>;
}

/** the counters of StatsSnapshot that are plain numbers */
type Scalar = { [K in keyof StatsSnapshot]: StatsSnapshot[K] extends number ? K : never }[keyof StatsSnapshot];
const SCALARS: readonly Scalar[] = [
  'cacheHits',
  'malformed',
  'truncated',
  'recursionRefused',
  'forwardsShed',
  'cacheEntries',
  'forwardCacheHits',
  'forwardCacheMisses',
  'forwardCacheEntries',
  'forwardStaleServed',
  'forwardPrefetches',
];

/** What one thread counts. */
export class Stats implements StatsSnapshot {
  queries = new Float64Array(TYPE_LABELS.length * RCODES);
  latency = TRANSPORTS.map(() => new Float64Array(BUCKETS.length + 1));
  latencySum = new Float64Array(TRANSPORTS.length);
  forwarded = new Float64Array(FORWARD_OUTCOMES.length);
  cacheHits = 0;
  malformed = 0;
  truncated = 0;
  recursionRefused = 0;
  forwardsShed = 0;
  cacheEntries = 0;
  forwardCacheHits = 0;
  forwardCacheMisses = 0;
  forwardCacheEntries = 0;
  forwardStaleServed = 0;
  forwardPrefetches = 0;
  nameservers: Record<string, NameserverHealth> = {};

  query(qtype: number, rcode: number): void {
    this.queries[(TYPE_INDEX.get(qtype) ?? 0) * RCODES + (rcode & 31)]!++;
  }

  /** transport: index into TRANSPORTS */
  observe(transport: number, seconds: number): void {
    const counts = this.latency[transport]!;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    counts[i]!++;
    this.latencySum[transport]! += seconds;
  }

  forward(outcome: ForwardOutcome): void {
    this.forwarded[FORWARD_OUTCOMES.indexOf(outcome)]!++;
  }

  /** One attempt at one nameserver (for its health on /status and the admin page). */
  nameserver(address: string, outcome: ForwardOutcome, now: number): void {
    const h = (this.nameservers[address] ??= { ok: 0, failed: 0, failing: 0, last: outcome, lastAt: now });
    if (outcome === 'ok') {
      h.ok++;
      h.failing = 0;
    } else {
      h.failed++;
      h.failing++;
    }
    h.last = outcome;
    h.lastAt = now;
  }

  snapshot(): StatsSnapshot {
    return {
      queries: this.queries.slice(),
      latency: this.latency.map((l) => l.slice()),
      latencySum: this.latencySum.slice(),
      forwarded: this.forwarded.slice(),
      cacheHits: this.cacheHits,
      malformed: this.malformed,
      truncated: this.truncated,
      recursionRefused: this.recursionRefused,
      forwardsShed: this.forwardsShed,
      cacheEntries: this.cacheEntries,
      forwardCacheHits: this.forwardCacheHits,
      forwardCacheMisses: this.forwardCacheMisses,
      forwardCacheEntries: this.forwardCacheEntries,
      forwardStaleServed: this.forwardStaleServed,
      forwardPrefetches: this.forwardPrefetches,
      nameservers: structuredClone(this.nameservers),
    };
  }
}

export function totalQueries(s: StatsSnapshot): number {
  let n = 0;
  for (const c of s.queries) n += c;
  return n;
}

/** Health of each nameserver for /status: configured ones first (untried ones without `healthy`). */
export function nameserverHealth(s: StatsSnapshot, configured: readonly string[]): { address: string; healthy?: boolean; lastError?: string; ok: number; failed: number; lastAt?: string }[] {
  const addresses = [...configured, ...Object.keys(s.nameservers).filter((a) => !configured.includes(a))];
  return addresses.map((address) => {
    const h = s.nameservers[address];
    if (h === undefined) return { address, ok: 0, failed: 0 };
    return { address, healthy: h.failing === 0, ...(h.last === 'ok' ? {} : { lastError: h.last }), ok: h.ok, failed: h.failed, lastAt: new Date(h.lastAt).toISOString() };
  });
}

/** element-wise sum of snapshots */
export function sumStats(list: readonly StatsSnapshot[]): StatsSnapshot {
  const out = new Stats();
  for (const s of list) {
    for (let i = 0; i < out.queries.length; i++) out.queries[i]! += s.queries[i] ?? 0;
    out.latency.forEach((l, t) => {
      for (let i = 0; i < l.length; i++) l[i]! += s.latency[t]?.[i] ?? 0;
    });
    for (let i = 0; i < out.latencySum.length; i++) out.latencySum[i]! += s.latencySum[i] ?? 0;
    for (let i = 0; i < out.forwarded.length; i++) out.forwarded[i]! += s.forwarded[i] ?? 0;
    for (const field of SCALARS) out[field] += s[field] ?? 0;
    for (const [address, h] of Object.entries(s.nameservers ?? {})) {
      const prior = out.nameservers[address];
      if (prior === undefined) out.nameservers[address] = { ...h };
      else {
        // counts add up; the latest attempt of any thread says how it stands now
        const latest = h.lastAt > prior.lastAt ? h : prior;
        out.nameservers[address] = { ok: prior.ok + h.ok, failed: prior.failed + h.failed, failing: latest.failing, last: latest.last, lastAt: latest.lastAt };
      }
    }
  }
  return out;
}

/** A Prometheus histogram read from snapshots, registered directly in a prom-client Registry. */
class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => StatsSnapshot,
  ) {}

  reset(): void {}

  get() {
    const s = this.read();
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    TRANSPORTS.forEach((transport, t) => {
      const counts = s.latency[t]!;
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ value: cumulative, labels: { le, transport }, metricName: `${this.name}_bucket` });
      });
      cumulative += counts[BUCKETS.length]!;
      values.push({ value: cumulative, labels: { le: '+Inf', transport }, metricName: `${this.name}_bucket` });
      values.push({ value: s.latencySum[t]!, labels: { transport }, metricName: `${this.name}_sum` });
      values.push({ value: cumulative, labels: { transport }, metricName: `${this.name}_count` });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * Registers the dns metrics; `read` returns the current totals (main thread plus workers).
 * `indexRecords` is the main thread's index size, `indexRebuilds` how often it was rebuilt.
 */
export function exportMetrics(registry: Registry, read: () => StatsSnapshot, indexRecords: () => number, indexRebuilds: () => number = () => 0): void {
  // counters only go up: each scrape adds what is new since the last one
  const reported = new Stats();
  const delta = (now: number, before: number): number => (now > before ? now - before : 0);
  new Counter({
    name: 'beacon_dns_queries_total',
    help: 'queries answered, by query type and response code',
    labelNames: ['type', 'rcode'],
    registers: [registry],
    collect() {
      const s = read();
      for (let i = 0; i < s.queries.length; i++) {
        const d = delta(s.queries[i]!, reported.queries[i]!);
        if (d > 0) {
          this.inc({ type: TYPE_LABELS[Math.floor(i / RCODES)]!, rcode: rcodeName(i % RCODES) }, d);
          reported.queries[i] = s.queries[i]!;
        }
      }
    },
  });
  new Counter({
    name: 'beacon_dns_forwarded_total',
    help: 'attempts to forward to a nameserver, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = read();
      FORWARD_OUTCOMES.forEach((outcome, i) => {
        this.inc({ outcome }, delta(s.forwarded[i]!, reported.forwarded[i]!));
        reported.forwarded[i] = Math.max(reported.forwarded[i]!, s.forwarded[i]!);
      });
    },
  });
  const simple = (name: string, help: string, field: Exclude<Scalar, 'cacheEntries' | 'forwardCacheEntries'>) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const s = read();
        this.inc(delta(s[field], reported[field]));
        reported[field] = Math.max(reported[field], s[field]);
      },
    });
  simple('beacon_dns_cache_hits_total', 'in-zone answers served from the answer cache', 'cacheHits');
  simple('beacon_dns_malformed_total', 'packets that could not be parsed as a query', 'malformed');
  simple('beacon_dns_truncated_total', 'UDP answers sent with TC set', 'truncated');
  simple('beacon_dns_recursion_refused_total', 'out-of-zone queries refused: client outside --allow-recursion', 'recursionRefused');
  simple('beacon_dns_forward_shed_total', 'queries answered SERVFAIL (out-of-zone look-ups left unresolved) without forwarding: too many forwards in flight', 'forwardsShed');
  simple('beacon_dns_forward_cache_hits_total', 'forwarded queries answered from the forward cache', 'forwardCacheHits');
  simple('beacon_dns_forward_cache_misses_total', 'cacheable forwarded queries sent to the upstreams or joined to an identical one in flight', 'forwardCacheMisses');
  simple('beacon_dns_forward_cache_stale_served_total', 'expired forward-cache entries answered (TTL 30) because every upstream failed (RFC 8767)', 'forwardStaleServed');
  simple('beacon_dns_forward_cache_prefetches_total', 'popular forward-cache entries refreshed before they expired', 'forwardPrefetches');
  new Gauge({
    name: 'beacon_dns_forward_cache_entries',
    help: 'entries in the forward caches (all threads; each thread keeps its own)',
    registers: [registry],
    collect() {
      this.set(read().forwardCacheEntries);
    },
  });
  new Gauge({
    name: 'beacon_dns_index_records',
    help: 'SkyDNS records in the in-memory index',
    registers: [registry],
    collect() {
      this.set(indexRecords());
    },
  });
  let rebuildsReported = 0;
  new Counter({
    name: 'beacon_dns_index_rebuilds_total',
    help: 'full rebuilds of the in-memory index (first sync and store resets; watch events change it in place)',
    registers: [registry],
    collect() {
      const n = indexRebuilds();
      if (n > rebuildsReported) this.inc(n - rebuildsReported);
      rebuildsReported = Math.max(rebuildsReported, n);
    },
  });
  new Gauge({
    name: 'beacon_dns_cache_entries',
    help: 'encoded answers in the answer caches (all threads)',
    registers: [registry],
    collect() {
      this.set(read().cacheEntries);
    },
  });
  registry.registerMetric(new LatencyHistogram('beacon_dns_request_duration_seconds', 'time from receiving a query to sending the answer', read) as never);
}
