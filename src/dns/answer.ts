/**
 * Query -> answer, SkyDNS semantics (see the contract's "DNS semantics" list). Pure: the index,
 * the settings, the clock and the lease expiries come in; records come out. Names outside the
 * domain are handed back as `forward`; out-of-zone names needed inside an answer (CNAME targets,
 * SRV/MX targets) are listed in `needs` and the caller asks again with them in `external`.
 */
import { rdataText, RCODE, TYPE, CLASS, type RR } from './wire.js';
import type { Lookup, RecordLookup, Service } from './records.js';

export interface Question {
  /** as sent, with the trailing dot */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface AnswerSettings {
  /** lowercase, no trailing dot: `skydns.local` */
  readonly domain: string;
  /** seconds: records without ttl or lease, SOA at the apex */
  readonly ttl: number;
  /** seconds: SOA minimum and negative answers */
  readonly minTtl: number;
  /** SOA serial */
  readonly serial: number;
  /** seconds: no record in the answer carries more (the stale cap while the store is unreachable) */
  readonly maxTtl?: number;
  /**
   * `/skydns/config` `local`: lowercase name with the trailing dot whose records answer
   * `local.dns.<domain>` (this instance's own name, as in SkyDNS)
   */
  readonly local?: string;
}

export interface AnswerContext extends AnswerSettings {
  /** remaining lease time in whole seconds (0 once expired), or undefined while not known */
  leaseSeconds(lease: string): number | undefined;
  /** results of earlier out-of-zone look-ups, by `externalKey`: records, or null when it failed */
  readonly external?: ReadonlyMap<string, readonly RR[] | null>;
}

export interface ExternalNeed {
  readonly name: string;
  readonly type: number;
}

export type Outcome =
  | { readonly kind: 'forward' }
  | {
      readonly kind: 'answer';
      readonly rcode: number;
      readonly authoritative: boolean;
      readonly answer: RR[];
      readonly authority: RR[];
      readonly additional: RR[];
      /** out-of-zone look-ups still to do; empty when the answer is complete */
      readonly needs: readonly ExternalNeed[];
    };

export function externalKey(name: string, type: number): string {
  return `${lower(name)}|${type}`;
}

/** TTL for records on a lease whose remaining time is not known (yet) */
export const UNKNOWN_LEASE_TTL = 1;

/** The CNAME chain limit: SkyDNS stops after 8 links. */
const MAX_CHAIN = 8;

/**
 * In-zone CNAME targets followed per answer, over all branches. Loop detection only sees the
 * current chain, so names with CNAMEs to each other would otherwise be walked in every order
 * (n^8 look-ups); past the budget further CNAMEs are left out, as SkyDNS leaves out links past
 * its chain limit, and the answer carries what was found.
 */
export const MAX_FOLLOWS = 64;

function lower(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/** `a.b.c.` -> reversed labels `['c','b','a']`, lowercase */
function keyLabels(lname: string): string[] {
  const labels = lname.split('.').filter(Boolean);
  labels.reverse();
  return labels;
}

function isSubdomain(lname: string, domain: string): boolean {
  // lname has a trailing dot, domain does not
  return lname === `${domain}.` || lname.endsWith(`.${domain}.`);
}

/** SkyDNS `targetStrip`: drop the first `n` labels unless that would leave nothing. */
function targetStrip(name: string, n: number): string {
  if (n <= 0) return name;
  const labels = name.split('.').filter(Boolean);
  if (n >= labels.length) return name;
  return `${labels.slice(n).join('.')}.`;
}

class Builder {
  readonly needs: ExternalNeed[] = [];
  private readonly needSeen = new Set<string>();
  /** in-zone CNAME targets followed so far (MAX_FOLLOWS) */
  follows = 0;
  /** index look-ups of this answer, by name: the same name is often reached by several paths */
  private readonly lookups = new Map<string, Lookup>();

  constructor(
    readonly q: Question,
    readonly ctx: AnswerContext,
    readonly index: RecordLookup,
  ) {}

  ttl(s: Service): number {
    let lease: number | undefined;
    if (s.lease !== undefined) {
      // a lease whose expiry is not known yet (just written; being fetched): the shortest TTL
      lease = this.ctx.leaseSeconds(s.lease) ?? UNKNOWN_LEASE_TTL;
    }
    if (!s.ttl && lease === undefined) return this.ctx.ttl;
    if (lease === undefined) return s.ttl;
    if (!s.ttl) return lease;
    return Math.min(s.ttl, lease);
  }

  /** the index's records for a lowercase name (not exact), memoized for this answer */
  lookup(lname: string): Lookup {
    let found = this.lookups.get(lname);
    if (found === undefined) {
      found = this.index.lookup(keyLabels(lname));
      this.lookups.set(lname, found);
    }
    return found;
  }

  /** whether one more in-zone CNAME target may be followed (and counts it) */
  follow(): boolean {
    if (this.follows >= MAX_FOLLOWS) return false;
    this.follows++;
    return true;
  }

  inZone(lname: string): boolean {
    return isSubdomain(lname, this.ctx.domain);
  }

  /** out-of-zone records already fetched, null if the look-up failed; undefined = not yet (and now requested) */
  external(name: string, type: number): readonly RR[] | null | undefined {
    const key = externalKey(name, type);
    const got = this.ctx.external?.get(key);
    if (got !== undefined) return got;
    if (!this.needSeen.has(key)) {
      this.needSeen.add(key);
      this.needs.push({ name: lower(name), type });
    }
    return undefined;
  }

  /**
   * A/AAAA for `owner` (SkyDNS AddressRecords). `both`: A and AAAA (glue). CNAMEs are followed
   * in the zone and out of it; a CNAME whose chain ends nowhere is left out.
   */
  address(owner: string, qtype: number, chain: readonly RR[], both: boolean): { exists: boolean; records: RR[] } {
    const found = this.lookup(lower(owner));
    if (!found.exists) return { exists: false, records: [] };
    const records: RR[] = [];
    let cname = false;
    for (const s of found.services) {
      if (s.host === undefined) continue;
      if (s.ip === 4) {
        if (qtype === TYPE.A || both) records.push({ name: owner, type: TYPE.A, class: CLASS.IN, ttl: this.ttl(s), data: { kind: 'a', address: s.host } });
        continue;
      }
      if (s.ip === 6) {
        if (qtype === TYPE.AAAA || both) records.push({ name: owner, type: TYPE.AAAA, class: CLASS.IN, ttl: this.ttl(s), data: { kind: 'aaaa', address: s.host } });
        continue;
      }
      // one CNAME per owner; glue (`both`) still takes the addresses of every CNAME-style entry,
      // as SkyDNS puts them all in the additional section
      if (cname && !both) continue;
      const link = this.cnameLink(owner, s, chain);
      if (!link) continue;
      const target = fqdn(s.host);
      const ltarget = lower(target);
      if (this.inZone(ltarget)) {
        if (!this.follow()) continue;
        const next = this.address(target, qtype, [...chain, link], both);
        if (next.records.length > 0) {
          if (!cname) records.push(link);
          records.push(...next.records);
          cname = true;
        }
        continue;
      }
      const types = both ? [TYPE.A, TYPE.AAAA] : [qtype];
      const fetched = types.map((t) => this.external(target, t));
      if (fetched.some((f) => f === undefined)) continue;
      const rrs = fetched.flatMap((f) => f ?? []);
      if (rrs.length > 0) {
        if (!cname) records.push(link);
        records.push(...rrs);
        cname = true;
      }
    }
    return { exists: true, records };
  }

  /** the CNAME `owner -> s.host`, unless it loops or the chain is too long */
  cnameLink(owner: string, s: Service, chain: readonly RR[]): RR | undefined {
    const target = fqdn(s.host!);
    const ltarget = lower(target);
    const lowner = lower(owner);
    if (ltarget === lowner) return undefined;
    if (chain.length >= MAX_CHAIN - 1) return undefined;
    for (const rr of chain) {
      if (rr.data.kind === 'name' && lower(rr.data.target) === ltarget) return undefined;
    }
    if (ltarget === lower(this.q.name)) return undefined;
    return { name: owner, type: TYPE.CNAME, class: CLASS.IN, ttl: this.ttl(s), data: { kind: 'name', target } };
  }

  /** TXT: `text` records; a record whose host is a name is a CNAME, and the chain is followed. */
  txt(owner: string, chain: readonly RR[]): { exists: boolean; records: RR[] } {
    const found = this.lookup(lower(owner));
    if (!found.exists) return { exists: false, records: [] };
    const records: RR[] = [];
    let cname = false;
    for (const s of found.services) {
      if (s.text !== undefined) {
        records.push({ name: owner, type: TYPE.TXT, class: CLASS.IN, ttl: this.ttl(s), data: { kind: 'txt', texts: [s.text] } });
        continue;
      }
      if (s.host === undefined || s.ip !== 0 || cname) continue;
      const link = this.cnameLink(owner, s, chain);
      if (!link) continue;
      const target = fqdn(s.host);
      if (this.inZone(lower(target))) {
        if (!this.follow()) continue;
        const next = this.txt(target, [...chain, link]);
        if (next.records.length > 0) {
          records.push(link, ...next.records);
          cname = true;
        }
        continue;
      }
      const ext = this.external(target, TYPE.TXT);
      if (ext && ext.length > 0) {
        records.push(link, ...ext);
        cname = true;
      }
    }
    return { exists: true, records };
  }

  /** CNAME: the exact key only */
  cname(owner: string): { exists: boolean; records: RR[] } {
    const found = this.index.lookup(keyLabels(lower(owner)), true);
    if (!found.exists) return { exists: false, records: [] };
    for (const s of found.services) {
      if (s.host !== undefined && s.ip === 0 && lower(s.host) !== lower(owner)) {
        return { exists: true, records: [{ name: owner, type: TYPE.CNAME, class: CLASS.IN, ttl: this.ttl(s), data: { kind: 'name', target: fqdn(s.host) } }] };
      }
    }
    return { exists: true, records: [] };
  }

  /** glue for a target name: in the zone from the index, outside through the forwarders */
  glue(target: string, extra: RR[]): void {
    if (this.inZone(lower(target))) {
      const got = this.address(target, TYPE.A, [], true);
      extra.push(...got.records);
      return;
    }
    for (const t of [TYPE.A, TYPE.AAAA]) {
      const ext = this.external(target, t);
      if (ext) extra.push(...ext.filter((rr) => rr.type !== TYPE.CNAME));
    }
  }

  /** SRV with SkyDNS weights: per priority, weight share of 100, floored */
  srv(owner: string): { exists: boolean; records: RR[]; extra: RR[] } {
    const found = this.index.lookup(keyLabels(lower(owner)));
    if (!found.exists) return { exists: false, records: [], extra: [] };
    const services = found.services.filter((s) => s.host !== undefined);
    const totals = new Map<number, number>();
    for (const s of services) {
      const p = s.priority || 10;
      totals.set(p, (totals.get(p) ?? 0) + (s.weight || 100));
    }
    const records: RR[] = [];
    const extra: RR[] = [];
    const glued = new Set<string>();
    for (const s of services) {
      const priority = s.priority || 10;
      const weight = Math.floor((100 / totals.get(priority)!) * (s.weight || 100));
      const ttl = this.ttl(s);
      const target = targetStrip(s.ip === 0 ? fqdn(s.host!) : s.name, s.targetstrip);
      records.push({ name: owner, type: TYPE.SRV, class: CLASS.IN, ttl, data: { kind: 'srv', priority, weight, port: s.port, target } });
      if (s.ip === 4) extra.push({ name: target, type: TYPE.A, class: CLASS.IN, ttl, data: { kind: 'a', address: s.host! } });
      else if (s.ip === 6) extra.push({ name: target, type: TYPE.AAAA, class: CLASS.IN, ttl, data: { kind: 'aaaa', address: s.host! } });
      else if (!glued.has(lower(target))) {
        glued.add(lower(target));
        this.glue(target, extra);
      }
    }
    return { exists: true, records, extra };
  }

  /** MX from records with `mail: true`; preference = priority */
  mx(owner: string): { exists: boolean; records: RR[]; extra: RR[] } {
    const found = this.index.lookup(keyLabels(lower(owner)));
    if (!found.exists) return { exists: false, records: [], extra: [] };
    const records: RR[] = [];
    const extra: RR[] = [];
    const glued = new Set<string>();
    for (const s of found.services) {
      if (!s.mail || s.host === undefined) continue;
      const ttl = this.ttl(s);
      const preference = s.priority || 10;
      const exchange = targetStrip(s.ip === 0 ? fqdn(s.host) : s.name, s.targetstrip);
      records.push({ name: owner, type: TYPE.MX, class: CLASS.IN, ttl, data: { kind: 'mx', preference, exchange } });
      if (s.ip === 4) extra.push({ name: exchange, type: TYPE.A, class: CLASS.IN, ttl, data: { kind: 'a', address: s.host } });
      else if (s.ip === 6) extra.push({ name: exchange, type: TYPE.AAAA, class: CLASS.IN, ttl, data: { kind: 'aaaa', address: s.host } });
      else if (!glued.has(lower(exchange))) {
        glued.add(lower(exchange));
        this.glue(exchange, extra);
      }
    }
    return { exists: true, records, extra };
  }

  /** NS at the apex from `/skydns/<zone>/dns/ns/*`; targetstrip does not apply */
  ns(owner: string): { records: RR[]; extra: RR[] } {
    const found = this.index.lookup([...keyLabels(`${this.ctx.domain}.`), 'dns', 'ns']);
    const records: RR[] = [];
    const extra: RR[] = [];
    for (const s of found.services) {
      if (s.host === undefined) continue;
      const ttl = this.ttl(s);
      const target = s.ip === 0 ? fqdn(s.host) : s.name;
      records.push({ name: owner, type: TYPE.NS, class: CLASS.IN, ttl, data: { kind: 'name', target } });
      if (s.ip === 4) extra.push({ name: target, type: TYPE.A, class: CLASS.IN, ttl, data: { kind: 'a', address: s.host } });
      else if (s.ip === 6) extra.push({ name: target, type: TYPE.AAAA, class: CLASS.IN, ttl, data: { kind: 'aaaa', address: s.host } });
    }
    return { records, extra };
  }

  /** the zone's SOA, owned by the apex spelled as in the query */
  soa(ttl: number): RR {
    const domain = this.ctx.domain;
    return {
      name: apexOwner(this.q.name, domain),
      type: TYPE.SOA,
      class: CLASS.IN,
      ttl,
      data: {
        kind: 'soa',
        mname: `ns.dns.${domain}.`,
        rname: `hostmaster.${domain}.`,
        serial: this.ctx.serial,
        refresh: 28800,
        retry: 7200,
        expire: 604800,
        minimum: this.ctx.minTtl,
      },
    };
  }
}

/** The apex as the query spells it: `Foo.SkyDNS.Local.` -> `SkyDNS.Local.` */
function apexOwner(qname: string, domain: string): string {
  const want = domain.split('.').length;
  const labels = qname.split('.').filter(Boolean);
  if (labels.length < want) return `${domain}.`;
  const tail = labels.slice(labels.length - want);
  return tail.join('.').toLowerCase() === domain ? `${tail.join('.')}.` : `${domain}.`;
}

/**
 * Several records of one RRset carry the smallest TTL among them, and none more than `maxTtl`;
 * duplicates are dropped.
 */
export function normalizeSection(rrs: readonly RR[], maxTtl = Infinity): RR[] {
  const seen = new Set<string>();
  const out: RR[] = [];
  const minTtl = new Map<string, number>();
  for (const rr of rrs) {
    const set = `${lower(rr.name)}|${rr.type}`;
    const id = `${set}|${rdataText(rr).toLowerCase()}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ ...rr });
    const m = minTtl.get(set);
    const ttl = Math.min(rr.ttl, maxTtl);
    if (m === undefined || ttl < m) minTtl.set(set, ttl);
  }
  for (const rr of out) rr.ttl = minTtl.get(`${lower(rr.name)}|${rr.type}`)!;
  return out;
}

/**
 * `local.dns.<domain>` answered from the records of `local` (SkyDNS substitutes the name), with
 * the query's name as the owner of the answer records `local` owned.
 */
function answerLocal(q: Question, index: RecordLookup, ctx: AnswerContext, local: string): Outcome {
  const { local: _, ...rest } = ctx;
  const inner = answerFor({ ...q, name: local }, index, rest);
  if (inner.kind !== 'answer') return inner;
  // the answer's owners only: glue in the additional section keeps the target's own name
  return { ...inner, answer: inner.answer.map((rr) => (lower(rr.name) === local ? { ...rr, name: q.name } : rr)) };
}

function isReverseName(lname: string): boolean {
  return lname.endsWith('.in-addr.arpa.') || lname.endsWith('.ip6.arpa.');
}

/**
 * The answer to one question. `forward` for names this server does not own (the caller
 * forwards, or refuses without recursion). Class must already be IN (or ANY).
 */
export function answerFor(q: Question, index: RecordLookup, ctx: AnswerContext): Outcome {
  const lname = lower(q.name);
  if (ctx.local !== undefined && lname === `local.dns.${ctx.domain}.` && ctx.local !== lname) return answerLocal(q, index, ctx, ctx.local);
  const b = new Builder(q, ctx, index);
  const done = (rcode: number, answer: RR[], authority: RR[] = [], additional: RR[] = []): Outcome => ({
    kind: 'answer',
    rcode,
    authoritative: true,
    answer: normalizeSection(answer, ctx.maxTtl),
    authority: normalizeSection(authority, ctx.maxTtl),
    additional: normalizeSection(additional, ctx.maxTtl),
    needs: b.needs,
  });

  if (!isSubdomain(lname, ctx.domain)) {
    if (q.type === TYPE.PTR && isReverseName(lname)) {
      const found = index.lookup(keyLabels(lname), true);
      const answer: RR[] = [];
      for (const s of found.services) {
        if (s.host !== undefined && s.ip === 0) answer.push({ name: q.name, type: TYPE.PTR, class: CLASS.IN, ttl: b.ttl(s), data: { kind: 'name', target: fqdn(s.host) } });
      }
      if (answer.length > 0) return done(RCODE.NOERROR, answer);
    }
    return { kind: 'forward' };
  }

  const apex = lname === `${ctx.domain}.`;
  if (apex && q.type === TYPE.SOA) return done(RCODE.NOERROR, [b.soa(ctx.ttl)]);
  if (apex && q.type === TYPE.NS) {
    const ns = b.ns(q.name);
    if (ns.records.length > 0) return done(RCODE.NOERROR, ns.records, [], ns.extra);
    return done(RCODE.NOERROR, [], [b.soa(ctx.minTtl)]);
  }

  let exists: boolean;
  let answer: RR[] = [];
  let extra: RR[] = [];
  switch (q.type) {
    case TYPE.A:
    case TYPE.AAAA: {
      const r = b.address(q.name, q.type, [], false);
      ({ exists } = r);
      answer = r.records;
      break;
    }
    case TYPE.TXT: {
      const r = b.txt(q.name, []);
      ({ exists } = r);
      answer = r.records;
      break;
    }
    case TYPE.CNAME: {
      const r = b.cname(q.name);
      ({ exists } = r);
      answer = r.records;
      break;
    }
    case TYPE.MX: {
      const r = b.mx(q.name);
      ({ exists } = r);
      answer = r.records;
      extra = r.extra;
      break;
    }
    case TYPE.SRV: {
      const r = b.srv(q.name);
      ({ exists } = r);
      answer = r.records;
      extra = r.extra;
      break;
    }
    default:
      // NS and SOA below the apex, PTR, ANY and unknown types: NXDOMAIN or NODATA
      exists = apex || index.lookup(keyLabels(lname)).exists;
  }
  if (!exists && !apex) return done(RCODE.NXDOMAIN, [], [b.soa(ctx.minTtl)]);
  if (answer.length === 0) return done(RCODE.NOERROR, [], [b.soa(ctx.minTtl)]);
  return done(RCODE.NOERROR, answer, [], extra);
}
