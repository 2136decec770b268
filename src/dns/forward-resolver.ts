/**
 * Answers a query for a name outside the domain: from the cache of forwarded answers, by joining
 * an identical query already in flight to the upstreams, or by relaying it (once) through the
 * Forwarder. When every upstream fails, an expired entry within `staleMax` is answered stale
 * (RFC 8767). A popular entry close to expiry is refreshed in the background.
 *
 * One per thread: the main thread and every UDP worker keep their own cache (see server.ts).
 * The decisions are forward-cache.ts's; this file only keeps the state and the promises.
 */
import { randomInt } from 'node:crypto';
import type { Forwarder, Transport } from './forward.js';
import {
  cacheableQuery,
  cachePolicy,
  entryBytes,
  FORWARD_CACHE_BYTES_PER_ENTRY,
  forwardKey,
  freshness,
  LruMap,
  personalize,
  relayQuery,
  replyFor,
  shouldPrefetch,
  STALE_RECHECK_MS,
  STALE_TTL,
  truncatedReply,
  type ForwardCacheConfig,
  type ForwardEntry,
} from './forward-cache.js';
import type { Stats } from './metrics.js';
import type { Query } from './wire.js';

export interface ForwardResolverOptions {
  readonly forwarder: Forwarder;
  /** read on every query (the size is read once: the map's bound is fixed) */
  config(): ForwardCacheConfig;
  readonly stats: Stats;
  /** ms clock; Date.now by default */
  now?(): number;
}

/** the upstream reply of a relay in flight, shared by every query that joined it */
type Relay = Promise<Buffer | undefined>;

/**
 * A query seen before, by its raw bytes (the Responder's cacheKey: question as sent, flags, byte
 * budget), pointing at the entry that answered it: the hot path answers it without parsing.
 */
export interface Alias {
  /**
   * the forwardKey the raw bytes map to (fixed: the raw key holds the name, type, class, EDNS,
   * DO and CD), not the entry itself, so that an evicted entry is not kept alive by its aliases
   */
  readonly key: string;
  readonly maxSize: number;
  readonly qtype: number;
}

export class ForwardResolver {
  private readonly cache: LruMap<ForwardEntry>;
  private readonly inflight = new Map<string, Relay>();
  private readonly aliases = new Map<string, Alias>();
  private readonly now: () => number;

  constructor(private readonly options: ForwardResolverOptions) {
    const size = Math.max(0, Math.floor(options.config().size));
    // a small cache still holds one reply of any size
    this.cache = new LruMap(size, Math.max(size * FORWARD_CACHE_BYTES_PER_ENTRY, 2 * 65536), entryBytes);
    this.now = options.now ?? Date.now;
  }

  get entries(): number {
    return this.cache.size;
  }

  /** relays in flight to the upstreams (identical queries count once) */
  get relays(): number {
    return this.inflight.size;
  }

  /**
   * The reply to `msg` (parsed as `q`): now when cached, later otherwise; undefined when every
   * upstream failed and nothing stale may be served (the caller answers SERVFAIL).
   */
  resolve(q: Query, msg: Buffer, transport: Transport, maxSize: number, rawKey?: string): Buffer | Promise<Buffer | undefined> {
    if (!cacheableQuery(q)) return this.options.forwarder.relay(msg, transport);
    const stats = this.options.stats;
    const config = this.options.config();
    const key = forwardKey(q);
    const now = this.now();
    if (this.cache.limit > 0) {
      const entry = this.cache.get(key);
      if (entry !== undefined) {
        const state = freshness(entry, now, config.staleMax * 1000);
        if (state === 'fresh') {
          entry.hits++;
          stats.forwardCacheHits++;
          if (shouldPrefetch(entry, now)) this.prefetch(key, entry);
          if (rawKey !== undefined) this.remember(rawKey, entry, maxSize, q.type);
          return this.fit(replyFor(entry, msg, q.questionEnd, now), q, maxSize);
        }
        if (state === 'stale' && now < entry.staleUntil) {
          // the upstreams failed moments ago: answer stale at once instead of waiting again
          stats.forwardStaleServed++;
          return this.fit(replyFor(entry, msg, q.questionEnd, now, STALE_TTL), q, maxSize);
        }
        if (state === 'dead') this.drop(key);
      }
      stats.forwardCacheMisses++;
    }
    const relay = this.inflight.get(`${key}|${transport}`) ?? this.relay(key, relayQuery(q, msg, 0), transport);
    return relay.then((reply) => {
      if (reply) {
        const stored = rawKey !== undefined ? this.cache.peek(key) : undefined;
        if (stored !== undefined && stored.reply === reply) this.remember(rawKey!, stored, maxSize, q.type);
        return this.fit(personalize(Buffer.from(reply), msg, q.questionEnd), q, maxSize);
      }
      return this.stale(key, msg, q, maxSize);
    });
  }

  /** drops every entry (tests, shutdown) */
  clear(): void {
    for (const key of [...this.cache.keys()]) this.cache.delete(key);
    this.aliases.clear();
    this.options.stats.forwardCacheEntries = 0;
  }

  /** the query's raw bytes were answered from the cache before (the caller still checks who asks) */
  alias(rawKey: string): Alias | undefined {
    return this.aliases.get(rawKey);
  }

  /**
   * The hot path: the reply to a query with the same bytes as one answered before (but for the
   * id), while its entry is current and fresh; undefined sends it down the full path.
   */
  answerAlias(alias: Alias, msg: Buffer): Buffer | undefined {
    const entry = this.cache.get(alias.key);
    const now = this.now();
    if (entry === undefined || now >= entry.expiresAt || entry.reply.length > alias.maxSize) return undefined;
    entry.hits++;
    this.options.stats.forwardCacheHits++;
    if (shouldPrefetch(entry, now)) this.prefetch(entry.key, entry);
    return replyFor(entry, msg, entry.questionEnd, now);
  }

  /**
   * Forgets the raw-bytes shortcuts (a new view: a name may be in the domain now, or have a PTR
   * record there); the entries stay and the full path finds them again.
   */
  forgetAliases(): void {
    this.aliases.clear();
  }

  private remember(rawKey: string, entry: ForwardEntry, maxSize: number, qtype: number): void {
    if (this.aliases.get(rawKey)?.key === entry.key) return;
    // bounded like the entries: clients sending every case of every name cost no more than that
    if (this.aliases.size >= 2 * this.cache.limit + 1024) this.aliases.clear();
    this.aliases.set(rawKey, { key: entry.key, maxSize, qtype });
  }

  /** a UDP waiter whose buffer the reply does not fit gets TC */
  private fit(reply: Buffer, q: Query, maxSize: number): Buffer {
    return reply.length > maxSize ? truncatedReply(reply, q.questionEnd) : reply;
  }

  private drop(key: string): void {
    this.cache.delete(key);
    this.options.stats.forwardCacheEntries = this.cache.size;
  }

  /** every upstream failed: the entry stale if it may still be served */
  private stale(key: string, msg: Buffer, q: Query, maxSize: number): Buffer | undefined {
    const entry = this.cache.peek(key);
    if (entry === undefined) return undefined;
    const now = this.now();
    const state = freshness(entry, now, this.options.config().staleMax * 1000);
    if (state === 'dead') {
      this.drop(key);
      return undefined;
    }
    // fresh happens when a refresh (prefetch) failed and a waiter joined it: still the entry
    if (state === 'fresh') return this.fit(replyFor(entry, msg, q.questionEnd, now), q, maxSize);
    entry.staleUntil = now + STALE_RECHECK_MS;
    this.options.stats.forwardStaleServed++;
    return this.fit(replyFor(entry, msg, q.questionEnd, now, STALE_TTL), q, maxSize);
  }

  /**
   * Sends `query` (relayQuery's: no client options) upstream once, with an id of its own, and
   * stores what comes back; identical queries arriving meanwhile join the same relay.
   */
  private relay(key: string, template: Buffer, transport: Transport): Relay {
    const id = `${key}|${transport}`;
    const query = Buffer.from(template);
    query.writeUInt16BE(randomInt(0, 65536), 0);
    const relay = this.options.forwarder
      .relay(query, transport)
      .catch(() => undefined)
      .then((reply) => {
        this.inflight.delete(id);
        if (reply) this.store(key, reply, query, transport);
        return reply;
      });
    this.inflight.set(id, relay);
    return relay;
  }

  private prefetch(key: string, entry: ForwardEntry): void {
    if (this.inflight.has(`${key}|${entry.transport}`)) return;
    entry.prefetched = true;
    this.options.stats.forwardPrefetches++;
    void this.relay(key, entry.query, entry.transport);
  }

  private store(key: string, reply: Buffer, query: Buffer, transport: Transport): void {
    if (this.cache.limit <= 0) return;
    const policy = cachePolicy(reply, this.options.config().maxTtl);
    // not cacheable (SERVFAIL, truncated, TTL 0): an older entry stays for serve-stale
    if (!policy.cache) return;
    const now = this.now();
    this.cache.set(key, {
      key,
      reply,
      questionEnd: policy.questionEnd,
      ttlOffsets: policy.ttlOffsets,
      ttls: policy.ttls,
      kind: policy.kind,
      storedAt: now,
      expiresAt: now + policy.ttl * 1000,
      query,
      transport,
      hits: 0,
      staleUntil: 0,
    });
    this.options.stats.forwardCacheEntries = this.cache.size;
  }
}
