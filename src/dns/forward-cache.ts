/**
 * The cache of forwarded answers, as pure decisions on bytes and clocks (no sockets, no timers):
 * the key of a query, how long a reply may be kept (RFC 2308 for negative answers), where its
 * TTLs sit so they can be counted down, a bounded least-recently-used map, whether an entry is
 * fresh, stale but usable (RFC 8767) or dead, whether a hot entry should be refreshed early, and
 * the bytes a waiter gets (its own id, question case and RD bit, TTLs as of now).
 */
import { CLASS, RCODE, TYPE, type Query } from './wire.js';

/** TTL of answers served stale (RFC 8767 section 4 suggests 30 s) */
export const STALE_TTL = 30;
/** after serving stale, the upstreams are not asked again for this long (RFC 8767's failure recheck) */
export const STALE_RECHECK_MS = 30_000;
/** an entry is popular once it was answered from the cache this often */
export const PREFETCH_MIN_HITS = 3;
/** ... and is refreshed when this share of its TTL (at least one second) is left */
export const PREFETCH_SHARE = 0.1;

export interface ForwardCacheConfig {
  /** entries at most; 0 turns the cache off */
  readonly size: number;
  /** seconds: the longest any reply is kept, positive or negative */
  readonly maxTtl: number;
  /** seconds past expiry an entry may still be answered when every upstream fails; 0 = never */
  readonly staleMax: number;
}

/**
 * The cache key of a query: name (lowercased), type, class, and what changes the upstream's
 * answer or its shape: EDNS present, DO, CD. RD is not part of it (the reply's RD bit is the
 * waiter's own).
 */
export function forwardKey(q: Query): string {
  const flags = (q.edns ? 1 : 0) | (q.edns?.dnssecOk ? 2 : 0) | (q.cd ? 4 : 0);
  return `${q.name.toLowerCase()}|${q.type}|${q.class}|${flags}`;
}

/** What a reply is worth keeping: how long, which kind, and where its TTLs are. */
export type CachePolicy =
  | { readonly cache: false; readonly reason: string }
  | {
      readonly cache: true;
      readonly kind: 'positive' | 'negative';
      /** seconds, already capped */
      readonly ttl: number;
      /** end of the question section (bytes 12..questionEnd are the question) */
      readonly questionEnd: number;
      /** offsets of the 32-bit TTL fields of every record but OPT */
      readonly ttlOffsets: readonly number[];
      /** the TTLs as received, capped at `ttl`, in the order of ttlOffsets */
      readonly ttls: readonly number[];
    };

class ScanError extends Error {}

function skipName(buf: Uint8Array, pos: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (pos >= buf.length) throw new ScanError('name runs past the message');
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2;
    if (len & 0xc0) throw new ScanError('unsupported label type');
    pos += len + 1;
  }
  throw new ScanError('too many labels');
}

const u16 = (b: Uint8Array, p: number): number => (b[p]! << 8) | b[p + 1]!;
const u32 = (b: Uint8Array, p: number): number => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;

/**
 * Whether and how long an upstream reply may be cached. NOERROR with a record of the type asked
 * for: the smallest TTL among them. NXDOMAIN, or NOERROR without one (NODATA, also behind a CNAME
 * chain, RFC 2308 section 2.2): RFC 2308 section 5, the
 * smaller of the authority SOA's TTL and its MINIMUM (and of any CNAMEs in the answer); without
 * a SOA it is not cached. SERVFAIL, REFUSED and the other codes, truncated replies, TTL 0 and
 * anything that does not scan are not cached. Every TTL is capped at `maxTtl`.
 */
export function cachePolicy(reply: Uint8Array, maxTtl: number): CachePolicy {
  const no = (reason: string): CachePolicy => ({ cache: false, reason });
  if (maxTtl <= 0) return no('cache off');
  if (reply.length < 12 || !(reply[2]! & 0x80)) return no('not a response');
  if (reply[2]! & 0x02) return no('truncated');
  if (u16(reply, 4) !== 1) return no('not one question');
  const counts = [u16(reply, 6), u16(reply, 8), u16(reply, 10)];
  let rcode = reply[3]! & 0x0f;
  const ttlOffsets: number[] = [];
  const ttls: number[] = [];
  let minTtl = Infinity;
  let soaTtl: number | undefined;
  let pos: number;
  let questionEnd: number;
  let qtype = 0;
  /** the answer section holds a record of the type asked for (else it is a CNAME chain to NODATA) */
  let answered = false;
  try {
    pos = skipName(reply, 12) + 4;
    if (pos > reply.length) throw new ScanError('question runs past the message');
    questionEnd = pos;
    qtype = u16(reply, pos - 4);
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s]!; i++) {
        pos = skipName(reply, pos);
        if (pos + 10 > reply.length) throw new ScanError('record header runs past the message');
        const type = u16(reply, pos);
        const rdlength = u16(reply, pos + 8);
        const rdata = pos + 10;
        if (rdata + rdlength > reply.length) throw new ScanError('record data runs past the message');
        if (type === TYPE.OPT) {
          rcode |= reply[pos + 4]! << 4;
        } else {
          const ttl = u32(reply, pos + 4);
          ttlOffsets.push(pos + 4);
          ttls.push(ttl);
          minTtl = Math.min(minTtl, ttl);
          if (s === 0 && (type === qtype || qtype === TYPE.CNAME || qtype === TYPE.ANY)) answered = true;
          if (s === 1 && type === TYPE.SOA && rdlength >= 22) soaTtl = Math.min(ttl, u32(reply, rdata + rdlength - 4));
        }
        pos = rdata + rdlength;
      }
    }
  } catch (err) {
    return no((err as Error).message);
  }
  let kind: 'positive' | 'negative';
  let ttl: number;
  if (rcode === RCODE.NOERROR && answered) {
    kind = 'positive';
    ttl = minTtl;
  } else if (rcode === RCODE.NXDOMAIN || rcode === RCODE.NOERROR) {
    // NXDOMAIN, or NODATA: no answer, or a CNAME chain ending where the type asked for is not
    if (soaTtl === undefined) return no('negative answer without SOA');
    kind = 'negative';
    // a CNAME chain in front of the negative answer expires no later than its own TTL
    ttl = soaTtl;
    for (let i = 0; i < counts[0]!; i++) ttl = Math.min(ttl, ttls[i]!);
  } else return no(`rcode ${rcode}`);
  ttl = Math.min(ttl, maxTtl);
  if (!(ttl > 0)) return no('TTL 0');
  // no record is served with a TTL beyond the entry's own, so no downstream cache outlives it
  const capped = ttls.map((t) => Math.min(t, ttl));
  return { cache: true, kind, ttl, questionEnd, ttlOffsets, ttls: capped };
}

/** One cached reply. Times in ms on the caller's clock. */
export interface ForwardEntry {
  /** its forwardKey */
  readonly key: string;
  /** the upstream's reply as received */
  readonly reply: Buffer;
  readonly questionEnd: number;
  readonly ttlOffsets: readonly number[];
  readonly ttls: readonly number[];
  readonly kind: 'positive' | 'negative';
  readonly storedAt: number;
  /** storedAt + TTL */
  readonly expiresAt: number;
  /** the query to send again (prefetch, refresh) */
  readonly query: Buffer;
  readonly transport: 'udp' | 'tcp';
  /** answers served from this entry */
  hits: number;
  /** served stale: answer stale without asking the upstreams until then */
  staleUntil: number;
  /**
   * a prefetch was sent for it: one per entry (a successful one replaces the entry; after a
   * failed or uncacheable one it expires as usual), else every hit would send another
   */
  prefetched?: boolean;
}

export type Freshness = 'fresh' | 'stale' | 'dead';

/** fresh until expiry; then usable when every upstream fails, for `staleMaxMs` more; then dead */
export function freshness(entry: ForwardEntry, now: number, staleMaxMs: number): Freshness {
  if (now < entry.expiresAt) return 'fresh';
  return now < entry.expiresAt + staleMaxMs ? 'stale' : 'dead';
}

/**
 * A popular entry (PREFETCH_MIN_HITS hits) with at most PREFETCH_SHARE of its TTL (>= 1 s) left,
 * not prefetched before.
 */
export function shouldPrefetch(entry: ForwardEntry, now: number): boolean {
  if (entry.prefetched === true || entry.hits < PREFETCH_MIN_HITS || now >= entry.expiresAt) return false;
  const window = Math.max(1000, (entry.expiresAt - entry.storedAt) * PREFETCH_SHARE);
  return entry.expiresAt - now <= window;
}

/**
 * The entry's reply for one waiter: its id, its question bytes (case as it asked), its RD bit,
 * and every TTL counted down by the whole seconds since the reply was stored, or `fixedTtl` for
 * all of them (stale answers).
 */
export function replyFor(entry: ForwardEntry, msg: Uint8Array, questionEnd: number, now: number, fixedTtl?: number): Buffer {
  const out = Buffer.allocUnsafe(entry.reply.length);
  entry.reply.copy(out);
  personalize(out, msg, questionEnd);
  const elapsed = Math.floor((now - entry.storedAt) / 1000);
  const offsets = entry.ttlOffsets;
  for (let i = 0; i < offsets.length; i++) out.writeUInt32BE(fixedTtl ?? Math.max(0, entry.ttls[i]! - elapsed), offsets[i]!);
  return out;
}

/**
 * Writes the waiter's id, RD bit and question into `reply` (in place). The question must match
 * the reply's but for case (as the key guarantees), so it has the same length.
 */
export function personalize(reply: Buffer, msg: Uint8Array, questionEnd: number): Buffer {
  reply[0] = msg[0]!;
  reply[1] = msg[1]!;
  reply[2] = (reply[2]! & 0xfe) | (msg[2]! & 0x01);
  // a byte loop: the question is a few dozen bytes, where a subarray view costs more than the copy
  if (questionEnd <= reply.length) for (let i = 12; i < questionEnd; i++) reply[i] = msg[i]!;
  return reply;
}

/**
 * The query a cached relay sends upstream, built from the key's parts only: a fresh id, RD set,
 * the client's CD bit and question (its case), and when the client sent EDNS an OPT record with
 * its buffer size and DO bit but none of its options. The client's options (a DNS cookie, a
 * client subnet, padding) belong to that client: upstreams echo or act on them, and the reply is
 * shared with every client that has the same key. Other records in the query are left out too.
 */
export function relayQuery(q: Query, msg: Uint8Array, id: number): Buffer {
  const opt = q.edns ? 11 : 0;
  const out = Buffer.alloc(q.questionEnd + opt);
  out.set(msg.subarray(0, q.questionEnd), 0);
  out.writeUInt16BE(id, 0);
  out[2] = 0x01; // QR 0, opcode 0 (QUERY), RD
  out[3] = msg[3]! & 0x10; // CD
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  if (q.edns) {
    const p = q.questionEnd;
    out[p] = 0; // root
    out.writeUInt16BE(TYPE.OPT, p + 1);
    out.writeUInt16BE(Math.min(65535, Math.max(512, q.edns.size)), p + 3);
    // extended rcode 0, version 0, DO, Z 0; no options (rdlength 0)
    out.writeUInt16BE(q.edns.dnssecOk ? 0x8000 : 0, p + 7);
  }
  return out;
}

/**
 * For a UDP waiter whose buffer the reply does not fit: the header and question only, TC set, so
 * it asks again over TCP (RFC 1035 4.2.1).
 */
export function truncatedReply(reply: Uint8Array, questionEnd: number): Buffer {
  const out = Buffer.from(reply.subarray(0, Math.min(questionEnd, reply.length)));
  out[2] = out[2]! | 0x02;
  out.fill(0, 6, 12);
  return out;
}

/** the query's class and type are cacheable (IN only: CH and ANY stay uncached) */
export function cacheableQuery(q: Query): boolean {
  return q.class === CLASS.IN && q.type !== TYPE.ANY && q.opcode === 0;
}

/**
 * Bytes the cache may hold per entry of --forward-cache-size, on average: replies are a few
 * hundred bytes, but one may be 64 KiB (TCP, or a large EDNS buffer), and a client able to forward
 * could otherwise fill every entry with one (10,000 x 64 KiB = 640 MiB per thread).
 */
export const FORWARD_CACHE_BYTES_PER_ENTRY = 2048;

/** what an entry costs: its reply and query, its TTL tables and key, and the object around them */
export function entryBytes(entry: ForwardEntry): number {
  return entry.reply.length + entry.query.length + entry.ttlOffsets.length * 16 + entry.key.length * 2 + 256;
}

/**
 * A map bounded to `limit` entries and, when given `weigh`, to `maxWeight` in total (a value
 * heavier than `maxWeight` on its own is not stored), that drops the least recently used entries
 * first, approximately: "second chance" (CLOCK) rather than exact LRU. A get only marks its entry
 * used, so a cache hit costs one lookup and no reordering (a delete and re-insert per hit showed
 * as an eighth of the forwarded hot path); when room is needed, the oldest entries are looked at
 * in insertion order, a used one is moved to the back with its mark cleared, and the first unused
 * one is dropped.
 */
export class LruMap<V> {
  private readonly map = new Map<string, { value: V; used: boolean }>();
  /** entries dropped to make room */
  evictions = 0;
  /** the sum of every value's weight */
  weight = 0;

  constructor(
    readonly limit: number,
    readonly maxWeight = Infinity,
    private readonly weigh: (value: V) => number = () => 0,
  ) {}

  get size(): number {
    return this.map.size;
  }

  /** the value, marked used (kept over unused ones when room is needed) */
  get(key: string): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.value;
  }

  /** the value without marking it used */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  set(key: string, value: V): void {
    if (this.limit <= 0) return;
    this.delete(key);
    const weight = this.weigh(value);
    if (weight > this.maxWeight) return;
    this.map.set(key, { value, used: false });
    this.weight += weight;
    while (this.map.size > this.limit || this.weight > this.maxWeight) this.evictOne(key);
  }

  /** drops the oldest unused entry (never `keep`, the one just set), giving used ones a second chance */
  private evictOne(keep: string): void {
    for (;;) {
      const [oldest, slot] = this.map.entries().next().value as [string, { value: V; used: boolean }];
      if (oldest !== keep && !slot.used) {
        this.delete(oldest);
        this.evictions++;
        return;
      }
      // used since its last chance (or the new entry, come round to the front): to the back. One
      // pass clears every mark, so the loop ends within two passes (limit >= 1, and the new
      // entry alone is never over maxWeight: set() refuses such a value)
      slot.used = false;
      this.map.delete(oldest);
      this.map.set(oldest, slot);
    }
  }

  delete(key: string): void {
    const slot = this.map.get(key);
    if (slot === undefined) return;
    this.map.delete(key);
    this.weight -= this.weigh(slot.value);
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }
}
