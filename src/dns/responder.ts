/**
 * Answers one DNS message: the answer cache, answerFor, forwarding. Owns no socket, so the main
 * thread and every UDP worker run one each over the same index.
 */
import { answerFor, externalKey, type AnswerContext, type Outcome } from './answer.js';
import { Forwarder, MAX_FORWARDS, type Transport } from './forward.js';
import { ForwardResolver } from './forward-resolver.js';
import type { Stats } from './metrics.js';
import { NameDependents } from './dependents.js';
import { SkyIndex, type Lookup } from './records.js';
import { CidrSet } from './cidr.js';
import type { DnsSettings } from './settings.js';
import { CLASS, encodeResponse, parseQuery, RCODE, TYPE, type Query, type RR } from './wire.js';

export type Reply = Buffer<ArrayBufferLike>;

/** our advertised EDNS payload size, and the largest UDP answer we send */
export const MAX_UDP = 4096;
const CACHE_MS = 1000;
const CACHE_MAX = 20_000;
/** client addresses whose --allow-recursion verdict is remembered (then forgotten all at once) */
const ALLOWED_CLIENTS_KEPT = 4096;
/** bounds one query's work: external look-ups included */
const QUERY_BUDGET_MS = 8000;

interface CacheEntry {
  readonly gen: number;
  readonly expires: number;
  readonly rcode: number;
  readonly qtype: number;
  /** encoded rotations of the answer (A/AAAA round robin) */
  readonly variants: Buffer[];
  next: number;
}

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/**
 * The answer-cache key of a plain query (one question, at most an OPT record, EDNS version 0),
 * read straight from the bytes: the question as sent (case included), the byte budget, RD, CD,
 * EDNS and DO. Undefined for anything else, which then takes the full path and is not cached.
 */
export function cacheKey(msg: Uint8Array, tcp: boolean): string | undefined {
  const len = msg.length;
  if (len < 17 || (msg[2]! & 0xf8) !== 0 || msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0 || msg[10] !== 0) return undefined;
  let pos = 12;
  for (;;) {
    const l = msg[pos];
    if (l === undefined || l > 63) return undefined;
    if (l === 0) break;
    pos += l + 1;
    if (pos > 267) return undefined;
  }
  const qEnd = pos + 5;
  if (qEnd > len) return undefined;
  let size = 512;
  let flags = (msg[2]! & 0x01) | ((msg[3]! & 0x10) >> 3);
  const ar = msg[11];
  if (ar === 0) {
    if (len !== qEnd) return undefined;
  } else if (ar === 1) {
    if (len < qEnd + 11 || msg[qEnd] !== 0 || msg[qEnd + 1] !== 0 || msg[qEnd + 2] !== TYPE.OPT || msg[qEnd + 6] !== 0) return undefined;
    if (qEnd + 11 + ((msg[qEnd + 9]! << 8) | msg[qEnd + 10]!) !== len) return undefined;
    size = Math.min(MAX_UDP, Math.max(512, (msg[qEnd + 3]! << 8) | msg[qEnd + 4]!));
    flags |= 4 | (msg[qEnd + 7]! & 0x80 ? 8 : 0);
  } else return undefined;
  return `${latin1Slice.call(msg, 12, qEnd)}${String.fromCharCode(0x100 + flags)}${tcp ? 65535 : size}`;
}

/** rotate the A/AAAA records among their own positions by `k` */
function rotateAddresses(answer: readonly RR[], k: number): RR[] {
  const positions: number[] = [];
  for (let i = 0; i < answer.length; i++) if (answer[i]!.type === TYPE.A || answer[i]!.type === TYPE.AAAA) positions.push(i);
  const out = [...answer];
  if (positions.length < 2) return out;
  for (let j = 0; j < positions.length; j++) out[positions[j]!] = answer[positions[(j + k) % positions.length]!]!;
  return out;
}

export interface ResponderLog {
  error(obj: object, msg: string): void;
}

export class Responder {
  index: SkyIndex = new SkyIndex([]);
  settings: DnsSettings;
  /** false until the first store sync: in-zone queries get SERVFAIL meanwhile */
  synced = false;
  /** the store is unreachable: answers come from the last view with TTLs capped at `settings.staleTtl` */
  stale = false;
  /** clients that may have names outside the domain forwarded (settings.allowRecursion, parsed) */
  private allowed: CidrSet;
  private allowedFrom: readonly string[];
  /** `allowed.has` by client address, remembered (parsing the address showed on the hot path) */
  private readonly allowedClients = new Map<string, boolean>();
  inflight = 0;
  private gen = 0;
  private readonly cache = new Map<string, CacheEntry>();
  /** in-zone keys asked since the last clear: an answer is cached from its key's second ask (see noteAsked) */
  private readonly asked = new Set<string>();
  /** which cached answers read which names (changed() drops only those) */
  private readonly dependents = new NameDependents();
  private readonly forwarder: Forwarder;
  /** forwarded answers: cache, coalescing, serve-stale, prefetch (this thread's own) */
  readonly forwarded: ForwardResolver;

  constructor(
    settings: DnsSettings,
    private readonly stats: Stats,
    private readonly log: ResponderLog,
    /** remaining lease seconds at `now` */
    private readonly leaseSeconds: (id: string, now: number) => number | undefined,
    /** forwarded queries in flight at once in this thread (default MAX_FORWARDS); more get SERVFAIL */
    maxForwards = MAX_FORWARDS,
  ) {
    this.settings = settings;
    this.allowedFrom = settings.allowRecursion;
    this.allowed = CidrSet.parse(settings.allowRecursion);
    this.forwarder = new Forwarder({
      nameservers: () => this.settings.nameservers,
      timeoutMs: () => this.settings.forwardTimeoutMs,
      onAttempt: (ns, outcome) => {
        this.stats.forward(outcome);
        this.stats.nameserver(`${ns.host}:${ns.port}`, outcome, Date.now());
      },
      maxInflight: maxForwards,
      onShed: () => this.stats.forwardsShed++,
    });
    this.forwarded = new ForwardResolver({ forwarder: this.forwarder, config: () => this.settings.forwardCache, stats });
  }

  /** a new view: cached in-zone answers are dropped (forwarded ones do not depend on it) */
  update(view: { index?: SkyIndex; settings?: DnsSettings; synced?: boolean; stale?: boolean }): void {
    if (view.index) this.index = view.index;
    if (view.settings) {
      this.settings = view.settings;
      const from = view.settings.allowRecursion;
      if (from.length !== this.allowedFrom.length || from.some((c, i) => c !== this.allowedFrom[i])) {
        this.allowed = CidrSet.parse(from);
        this.allowedFrom = from;
        this.allowedClients.clear();
      }
    }
    if (view.synced !== undefined) this.synced = view.synced;
    if (view.stale !== undefined) this.stale = view.stale;
    this.invalidate();
    if (view.index || view.settings) this.forwarded.forgetAliases();
  }

  /** TTLs changed (fresh lease expiries): cached answers are stale */
  invalidate(): void {
    this.gen++;
    this.cache.clear();
    this.dependents.clear();
    this.stats.cacheEntries = 0;
  }

  /**
   * The index was changed in place at these keys (their segments, SkyIndex.put/remove): only the
   * cached answers that read one of those names (or a name above them) are dropped.
   */
  changed(touched: Iterable<readonly string[]>): void {
    const drop = new Set<string>();
    for (const segments of touched) this.dependents.take(segments, drop);
    for (const key of drop) this.cache.delete(key);
    this.stats.cacheEntries = this.cache.size;
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /**
   * Answers `msg` and hands the reply to `send` (now or once forwarding is done), recording the
   * latency. `client` is the source address (recursion is allowed by it). `done` runs once the
   * query is finished, whether a reply was sent or not. Never throws.
   */
  serve(msg: Buffer, transport: Transport, client: string, send: (reply: Reply) => void, done?: () => void): void {
    const t0 = performance.now();
    const t = transport === 'tcp' ? 1 : 0;
    let result: Reply | Promise<Reply | undefined> | undefined;
    try {
      result = this.handle(msg, transport, client);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'error answering a query');
      result = this.errorReply(msg, RCODE.SERVFAIL);
    }
    if (result === undefined) {
      done?.();
      return;
    }
    if (!(result instanceof Promise)) {
      send(result);
      this.stats.observe(t, (performance.now() - t0) / 1000);
      done?.();
      return;
    }
    this.inflight++;
    result.then(
      (reply) => {
        this.inflight--;
        if (reply) send(reply);
        this.stats.observe(t, (performance.now() - t0) / 1000);
        done?.();
      },
      (err: unknown) => {
        this.inflight--;
        this.log.error({ err: (err as Error).message }, 'error answering a query');
        const fail = this.errorReply(msg, RCODE.SERVFAIL);
        if (fail) send(fail);
        done?.();
      },
    );
  }

  private count(qtype: number, rcode: number): void {
    this.stats.query(qtype, rcode);
  }

  /** FORMERR/SERVFAIL for what could not be answered normally; header copied when possible */
  private errorReply(msg: Uint8Array, rcode: number): Buffer | undefined {
    if (msg.length < 12 || msg[2]! & 0x80) return undefined;
    return encodeResponse({ id: (msg[0]! << 8) | msg[1]!, opcode: (msg[2]! >> 3) & 0x0f, rd: (msg[2]! & 1) === 1, rcode, maxSize: 512 });
  }

  /** the reply to one message: now (Buffer), later (Promise), or never (undefined) */
  handle(msg: Buffer, transport: Transport, client: string): Reply | Promise<Reply | undefined> | undefined {
    // the hot path: a cached answer, found from the raw bytes without parsing the query
    const key = cacheKey(msg, transport === 'tcp');
    const now = Date.now();
    if (key !== undefined) {
      const hit = this.cache.get(key);
      if (hit !== undefined && hit.gen === this.gen && hit.expires > now) {
        this.stats.cacheHits++;
        const variant = hit.variants[hit.next++ % hit.variants.length]!;
        const out = Buffer.allocUnsafe(variant.length);
        variant.copy(out);
        out[0] = msg[0]!;
        out[1] = msg[1]!;
        this.stats.query(hit.qtype, hit.rcode);
        if (out[2]! & 0x02) this.stats.truncated++;
        return out;
      }
    }

    // the forwarded hot path: the same bytes were answered from the forward cache before
    if (key !== undefined) {
      const alias = this.forwarded.alias(key);
      if (alias !== undefined && !this.settings.noRecursion && this.mayRecurse(client)) {
        const out = this.forwarded.answerAlias(alias, msg);
        if (out !== undefined) {
          this.stats.query(alias.qtype, out[3]! & 0x0f);
          return out;
        }
      }
    }

    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      this.stats.malformed++;
      if (parsed.drop) return undefined;
      this.count(0, parsed.rcode);
      return encodeResponse({
        id: parsed.id,
        opcode: parsed.opcode,
        rd: parsed.rd,
        ra: !this.settings.noRecursion,
        rcode: parsed.rcode,
        ...(parsed.questionEnd > 12 ? { question: msg.subarray(12, parsed.questionEnd) } : {}),
        maxSize: 512,
      });
    }
    const q = parsed.query;
    const maxSize = transport === 'tcp' ? 65535 : q.edns ? Math.min(q.edns.size, MAX_UDP) : 512;

    // EDNS versions other than 0 get BADVERS (RFC 6891 6.1.3)
    if (q.edns && q.edns.version > 0) return this.reply(q, msg, transport, RCODE.BADVERS, maxSize);
    if (q.class !== CLASS.IN && q.class !== CLASS.ANY) return this.reply(q, msg, transport, RCODE.NOTIMP, maxSize);

    if (!this.synced && this.inDomain(q.name)) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
    // a cacheable answer notes the names it reads, so that a change drops it only if it read one
    const cacheKeyed = key !== undefined && this.asked.has(key) ? key : undefined;
    const index = this.index;
    const read: (readonly string[])[] = [];
    const outcome = answerFor(q, cacheKeyed === undefined ? index : { lookup: (labels: readonly string[], exact?: boolean): Lookup => (read.push(labels), index.lookup(labels, exact)) }, this.context(now));
    if (outcome.kind === 'forward') return this.forward(q, msg, transport, maxSize, client, key);
    if (outcome.needs.length === 0) {
      if (key !== undefined && cacheKeyed === undefined) this.noteAsked(key);
      const reply = this.encodeAndCache(q, msg, outcome, maxSize, cacheKeyed, now);
      if (cacheKeyed !== undefined) this.dependents.record(cacheKeyed, read);
      return reply;
    }
    return this.withExternal(q, msg, outcome, maxSize, now);
  }

  /**
   * An in-zone answer is cached only from its key's second ask among the last CACHE_MAX distinct
   * keys answered in the zone (forwarded names take no place here). Names asked once (a scan,
   * random lookups over a zone of 100,000 names) would only churn the cache: each entry outlives
   * a young-generation collection and dies in the old one, and at 20,000 one-off queries a second
   * that grew RSS by ~100 MB.
   */
  private noteAsked(key: string): void {
    if (this.asked.size >= CACHE_MAX) this.asked.clear();
    this.asked.add(key);
  }

  private mayRecurse(client: string): boolean {
    let yes = this.allowedClients.get(client);
    if (yes === undefined) {
      yes = this.allowed.has(client);
      if (this.allowedClients.size >= ALLOWED_CLIENTS_KEPT) this.allowedClients.clear();
      this.allowedClients.set(client, yes);
    }
    return yes;
  }

  private inDomain(name: string): boolean {
    const l = name.toLowerCase();
    const d = this.settings.domain;
    return l === `${d}.` || l.endsWith(`.${d}.`);
  }

  private context(now: number, external?: ReadonlyMap<string, readonly RR[] | null>): AnswerContext {
    const s = this.settings;
    const leaseSeconds = this.leaseSeconds;
    return {
      domain: s.domain,
      ttl: s.ttl,
      minTtl: s.minTtl,
      // SkyDNS's serial: the current hour
      serial: Math.floor(now / 3_600_000) * 3600,
      leaseSeconds: (id) => leaseSeconds(id, now),
      ...(this.stale ? { maxTtl: s.staleTtl } : {}),
      ...(s.local !== undefined ? { local: s.local } : {}),
      ...(external ? { external } : {}),
    };
  }

  private responseBase(q: Query, msg: Uint8Array, rcode: number, maxSize: number) {
    return {
      id: q.id,
      rcode,
      rd: q.rd,
      cd: q.cd,
      ra: !this.settings.noRecursion,
      question: msg.subarray(12, q.questionEnd),
      ...(q.edns ? { edns: { size: MAX_UDP, dnssecOk: q.edns.dnssecOk } } : {}),
      maxSize,
    };
  }

  private reply(q: Query, msg: Uint8Array, _transport: Transport, rcode: number, maxSize: number): Buffer {
    this.count(q.type, rcode);
    return encodeResponse(this.responseBase(q, msg, rcode, maxSize));
  }

  private encodeOutcome(q: Query, msg: Uint8Array, outcome: Extract<Outcome, { kind: 'answer' }>, maxSize: number, rotation: number): Buffer {
    return encodeResponse({
      ...this.responseBase(q, msg, outcome.rcode, maxSize),
      aa: outcome.authoritative,
      answer: rotation === 0 ? outcome.answer : rotateAddresses(outcome.answer, rotation),
      authority: outcome.authority,
      additional: outcome.additional,
    });
  }

  private encodeAndCache(q: Query, msg: Uint8Array, outcome: Extract<Outcome, { kind: 'answer' }>, maxSize: number, key: string | undefined, now: number): Buffer {
    let addresses = 0;
    for (const rr of outcome.answer) if (rr.type === TYPE.A || rr.type === TYPE.AAAA) addresses++;
    const rotations = Math.max(1, Math.min(addresses, 16));
    const variants: Buffer[] = [];
    for (let k = 0; k < rotations; k++) variants.push(this.encodeOutcome(q, msg, outcome, maxSize, k));
    if (key !== undefined) {
      if (this.cache.size >= CACHE_MAX || this.dependents.size >= CACHE_MAX * 8) {
        this.cache.clear();
        this.dependents.clear();
      }
      // the id in a cached copy is overwritten on every hit
      this.cache.set(key, { gen: this.gen, expires: now + CACHE_MS, rcode: outcome.rcode, qtype: q.type, variants, next: 1 });
      this.stats.cacheEntries = this.cache.size;
    }
    this.count(q.type, outcome.rcode);
    const first = variants[0]!;
    if (first[2]! & 0x02) this.stats.truncated++;
    return Buffer.from(first);
  }

  private async withExternal(q: Query, msg: Uint8Array, first: Extract<Outcome, { kind: 'answer' }>, maxSize: number, now: number): Promise<Buffer | undefined> {
    const external = new Map<string, readonly RR[] | null>();
    const deadline = now + QUERY_BUDGET_MS;
    let outcome: Outcome = first;
    for (let round = 0; round < 3 && outcome.kind === 'answer' && outcome.needs.length > 0; round++) {
      const needs = outcome.needs;
      const results = await Promise.all(
        needs.map((n) => (this.settings.noRecursion || Date.now() > deadline ? Promise.resolve(null) : this.forwarder.lookup(n.name, n.type))),
      );
      needs.forEach((n, i) => external.set(externalKey(n.name, n.type), results[i]!));
      outcome = answerFor(q, this.index, this.context(Date.now(), external));
    }
    if (outcome.kind !== 'answer') return undefined;
    if (outcome.needs.length > 0) {
      // whatever is still missing does not resolve
      for (const n of outcome.needs) external.set(externalKey(n.name, n.type), null);
      outcome = answerFor(q, this.index, this.context(Date.now(), external));
      if (outcome.kind !== 'answer') return undefined;
    }
    this.count(q.type, outcome.rcode);
    const reply = this.encodeOutcome(q, msg, outcome, maxSize, 0);
    if (reply[2]! & 0x02) this.stats.truncated++;
    return reply;
  }

  private forward(q: Query, msg: Buffer, transport: Transport, maxSize: number, client: string, rawKey: string | undefined): Buffer | Promise<Buffer | undefined> {
    if (!this.mayRecurse(client)) {
      this.stats.recursionRefused++;
      return this.reply(q, msg, transport, RCODE.REFUSED, maxSize);
    }
    // SkyDNS answers SERVFAIL (RA clear) under no_rec / -no-rec
    if (this.settings.noRecursion) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
    if (this.settings.nameservers.length === 0) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
    const result = this.forwarded.resolve(q, msg, transport, maxSize, rawKey);
    if (!(result instanceof Promise)) {
      this.count(q.type, result[3]! & 0x0f);
      return result;
    }
    return result.then((reply) => {
      if (!reply) return this.reply(q, msg, transport, RCODE.SERVFAIL, maxSize);
      this.count(q.type, reply[3]! & 0x0f);
      return reply;
    });
  }
}
