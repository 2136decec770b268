/**
 * The records of one answer, type by type (SkyDNS semantics): addresses and TXT with CNAME
 * chains, CNAME, SRV and MX with glue, NS and SOA at the apex. Out-of-zone names it needs are
 * collected in `needs`.
 */
import { TYPE, CLASS, type RR } from './wire.js';
import type { Lookup, RecordLookup, Service } from './records.js';
import { externalKey, type AnswerContext, type ExternalNeed, type Question } from './answer-context.js';
import { apexOwner, fqdn, isSubdomain, keyLabels, lower, targetStrip } from './answer-names.js';

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

export class Builder {
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
