/**
 * Query -> answer, SkyDNS semantics (see the contract's "DNS semantics" list). Pure: the index,
 * the settings, the clock and the lease expiries come in; records come out. Names outside the
 * domain are handed back as `forward`; out-of-zone names needed inside an answer (CNAME targets,
 * SRV/MX targets) are listed in `needs` and the caller asks again with them in `external`.
 */
import { rdataText, RCODE, TYPE, CLASS, type RR } from './wire.js';
import type { RecordLookup } from './records.js';
import type { AnswerContext, Outcome, Question } from './answer-context.js';
import { Builder } from './answer-records.js';
import { fqdn, isReverseName, isSubdomain, keyLabels, lower } from './answer-names.js';

// The question, context and outcome types live in answer-context.ts, the per-type record
// building in answer-records.ts, the name helpers in answer-names.ts; callers import them here.
export { externalKey, type AnswerContext, type AnswerSettings, type ExternalNeed, type Outcome, type Question } from './answer-context.js';
export { MAX_FOLLOWS, UNKNOWN_LEASE_TTL } from './answer-records.js';

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
