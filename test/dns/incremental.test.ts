// The index changed in place (SkyIndex.put/remove) answers as a fresh full rebuild does, and the
// responder's answer cache, told only which names changed, never serves an answer a change made
// stale: a seeded run of random puts and deletes (wildcards, groups, CNAMEs, PTRs, leases, keys
// differing in case) compared after every step over a fixed set of queries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerFor, type AnswerContext } from '../../dist/dns/answer.js';
import { Stats } from '../../dist/dns/metrics.js';
import { SkyIndex } from '../../dist/dns/records.js';
import { Responder } from '../../dist/dns/responder.js';
import { resolveSettings } from '../../dist/dns/settings.js';
import { CLASS, decodeMessage, encodeQuery, RCODE, rdataText, TYPE, type RR } from '../../dist/dns/wire.js';
import type { SkyEntry } from '../../dist/catalog/catalog.js';
import { parseSkyRecord } from '../../dist/catalog/values.js';
import { prng } from '../harness/prng.ts';

const SEED = Number(process.env.BEACON_SEED ?? 1717);
const STEPS = Number(process.env.BEACON_STEPS ?? 1500);

const LEASES: Record<string, number> = { '101': 30, '102': 5, '103': 0 };
// the responder's serial is the current hour (SkyDNS's)
const context = (): AnswerContext => ({ domain: 'skydns.local', ttl: 30, minTtl: 60, serial: Math.floor(Date.now() / 3_600_000) * 3600, leaseSeconds: (id) => LEASES[id] });

/** the key space: services with instances, deeper names, the apex NS list, reverse names */
function keySpace(): string[] {
  const keys: string[] = [];
  for (const s of ['web', 'db', 'api']) {
    keys.push(`/skydns/local/skydns/${s}`);
    for (const i of ['a', 'b', 'c', 'd']) keys.push(`/skydns/local/skydns/${s}/${i}`);
    keys.push(`/skydns/local/skydns/${s}/a/x`, `/skydns/local/skydns/${s}/b/x/y`);
  }
  keys.push('/skydns/local/skydns/dns/ns/ns1', '/skydns/local/skydns/dns/ns/ns2');
  keys.push('/skydns/local/skydns/alias', '/skydns/local/skydns/alias2', '/skydns/local/skydns/loop');
  for (const n of ['1', '2', '3']) keys.push(`/skydns/arpa/in-addr/10/0/0/${n}`);
  keys.push('/skydns/local/skydns/*/a', '/skydns/local/skydns/any');
  // the same names spelled in capitals: one node, the last one put answers
  keys.push('/skydns/local/skydns/Web/A', '/skydns/local/skydns/DB');
  return keys;
}

const NAMES = ['web', 'db', 'api', 'alias', 'alias2', 'loop', 'dns.ns'];
function randomValue(key: string, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  if (key.includes('/arpa/')) return JSON.stringify({ host: `${pick(['a.web', 'b.db', 'host'])}.skydns.local` });
  const record: Record<string, unknown> = {};
  const kind = rnd();
  if (kind < 0.45) record.host = `10.0.${Math.floor(rnd() * 3)}.${Math.floor(rnd() * 4)}`;
  else if (kind < 0.55) record.host = `fd00::${1 + Math.floor(rnd() * 4)}`;
  else if (kind < 0.8) record.host = `${pick(['a.', 'b.', 'x.a.', ''])}${pick(NAMES)}.skydns.local`;
  else if (kind < 0.9) record.host = pick(['example.org', 'out.example.net']);
  else record.text = `t${Math.floor(rnd() * 3)}`;
  if (rnd() < 0.5) record.port = pick([80, 443, 8080]);
  if (rnd() < 0.3) record.priority = pick([10, 20]);
  if (rnd() < 0.3) record.weight = pick([0, 50, 100]);
  if (rnd() < 0.3) record.group = pick(['g1', 'g2']);
  if (rnd() < 0.15) record.mail = true;
  if (rnd() < 0.2) record.ttl = pick([10, 300]);
  if (rnd() < 0.1) record.targetstrip = 1;
  return JSON.stringify(record);
}

const QUERIES: { name: string; type: number }[] = [];
for (const name of [
  'skydns.local.', 'web.skydns.local.', 'db.skydns.local.', 'api.skydns.local.', 'a.web.skydns.local.', 'A.Web.SkyDNS.local.',
  'b.db.skydns.local.', 'x.a.web.skydns.local.', 'y.x.b.api.skydns.local.', '*.web.skydns.local.', 'a.*.skydns.local.',
  'any.skydns.local.', 'alias.skydns.local.', 'alias2.skydns.local.', 'loop.skydns.local.', 'ns1.ns.dns.skydns.local.',
  'nothing.skydns.local.', 'x.nothing.web.skydns.local.',
]) {
  for (const type of [TYPE.A, TYPE.SRV, TYPE.TXT, TYPE.CNAME]) QUERIES.push({ name, type });
}
for (const name of ['web.skydns.local.', 'a.web.skydns.local.', 'alias.skydns.local.', '*.web.skydns.local.']) {
  for (const type of [TYPE.AAAA, TYPE.MX]) QUERIES.push({ name, type });
}
QUERIES.push({ name: 'skydns.local.', type: TYPE.NS });
for (const n of ['1', '2', '3', '4']) QUERIES.push({ name: `${n}.0.0.10.in-addr.arpa.`, type: TYPE.PTR });

const rrsText = (rrs: readonly RR[]): string => rrs.map((rr) => `${rr.name.toLowerCase()} ${rr.type} ${rr.ttl} ${rdataText(rr)}`).sort().join('; ');

/** an answer as text, order-free within each section (cached A/AAAA answers rotate) */
function outcomeText(o: ReturnType<typeof answerFor>): string {
  if (o.kind === 'forward') return 'forward';
  return `${o.rcode} | ${rrsText(o.answer)} | ${rrsText(o.authority)} | ${rrsText(o.additional)}${o.needs.length > 0 ? ` | needs ${o.needs.map((n) => `${n.name}/${n.type}`).join(',')}` : ''}`;
}

function replyText(reply: Buffer | undefined, name: string): string {
  if (!reply) return 'none';
  const m = decodeMessage(reply);
  // without recursion a name outside the zone gets SERVFAIL (SkyDNS's no_rec), as answerFor's
  // `forward` says
  const outside = !name.toLowerCase().endsWith('skydns.local.');
  if (outside && (m.rcode === RCODE.SERVFAIL || m.rcode === RCODE.REFUSED) && m.answer.length === 0) return 'forward';
  return `${m.rcode} | ${rrsText(m.answer)} | ${rrsText(m.authority)} | ${rrsText(m.additional)}`;
}

function responder(): Responder {
  const { settings } = resolveSettings({ domain: 'skydns.local', noRecursion: true }, undefined, []);
  return new Responder(settings, new Stats(), { error: () => undefined }, (id) => LEASES[id]);
}

test(`incremental index and answer cache agree with a fresh rebuild over ${STEPS} steps of random changes (seed ${SEED})`, { timeout: 120_000 }, async () => {
  const rnd = prng(SEED);
  const keys = keySpace();
  // the catalog's view: a put moves the key to the end (delete + set), as Catalog does
  const live = new Map<string, SkyEntry>();
  const index = new SkyIndex([], '/skydns');
  const cached = responder();
  cached.update({ index, synced: true });
  let puts = 0;
  let deletes = 0;
  for (let step = 0; step < STEPS; step++) {
    // a batch of one to three changes, as one watch response may carry
    const touched: (readonly string[])[] = [];
    for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
      const key = keys[Math.floor(rnd() * keys.length)]!;
      if (rnd() < 0.35) {
        live.delete(key);
        deletes++;
        const segments = index.remove(key);
        if (segments) touched.push(segments);
      } else {
        const parsed = parseSkyRecord(randomValue(key, rnd));
        assert.ok(parsed.ok);
        const r = rnd();
        const lease = r < 0.2 ? '101' : r < 0.3 ? '102' : r < 0.35 ? '103' : undefined;
        const entry: SkyEntry = { key, record: parsed.value, ...(lease ? { lease } : {}) };
        live.delete(key);
        live.set(key, entry);
        puts++;
        touched.push(index.put(entry)!);
      }
    }
    cached.changed(touched);
    const rebuilt = new SkyIndex(live.values(), '/skydns');
    assert.equal(index.size, rebuilt.size, `step ${step}: size`);
    assert.deepEqual([...index.leases].sort(), [...rebuilt.leases].sort(), `step ${step}: leases`);
    assert.deepEqual(index.all().map((s) => s.key), rebuilt.all().map((s) => s.key), `step ${step}: records`);
    const ctx = context();
    for (const q of QUERIES) {
      const question = { ...q, class: CLASS.IN };
      const expected = answerFor(question, rebuilt, ctx);
      const want = outcomeText(expected);
      assert.equal(outcomeText(answerFor(question, index, ctx)), want, `step ${step}: ${q.name} type ${q.type} (seed ${SEED})`);
      // the same through the caching responder: a cache hit when nothing the answer read changed
      // (answers that need names outside the zone are not cached: not compared here)
      if (expected.kind === 'answer' && expected.needs.length > 0) continue;
      const msg = encodeQuery(step & 0xffff, q.name, q.type, { ednsSize: 4096 });
      const got = replyText((await cached.handle(msg, 'udp', '127.0.0.1')) as Buffer | undefined, q.name);
      assert.equal(got, want, `step ${step}: cached ${q.name} type ${q.type} (seed ${SEED})`);
    }
  }
  assert.ok(STEPS < 1500 || (puts > 1500 && deletes > 800), `${puts} puts, ${deletes} deletes`);
  assert.ok(cached.cacheSize > 0, 'answers were cached');
});
