// The forward cache's pure decisions, table-tested: keys, how long a reply is kept (RFC 2308 for
// negative answers), TTL count-down, the LRU bound, fresh/stale/dead, prefetch, per-waiter bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cachePolicy,
  forwardKey,
  freshness,
  LruMap,
  personalize,
  replyFor,
  shouldPrefetch,
  truncatedReply,
  type ForwardEntry,
} from '../../dist/dns/forward-cache.js';
import { CLASS, decodeMessage, encodeQuery, encodeResponse, parseQuery, RCODE, TYPE, type RR, type Query } from '../../dist/dns/wire.js';

const a = (name: string, ttl: number, address = '192.0.2.1'): RR => ({ name, type: TYPE.A, class: CLASS.IN, ttl, data: { kind: 'a', address } });
const cname = (name: string, ttl: number, target: string): RR => ({ name, type: TYPE.CNAME, class: CLASS.IN, ttl, data: { kind: 'name', target } });
const soa = (ttl: number, minimum: number): RR => ({
  name: 'example.org.',
  type: TYPE.SOA,
  class: CLASS.IN,
  ttl,
  data: { kind: 'soa', mname: 'ns.example.org.', rname: 'h.example.org.', serial: 1, refresh: 2, retry: 3, expire: 4, minimum },
});
const ns = (ttl: number): RR => ({ name: 'example.org.', type: TYPE.NS, class: CLASS.IN, ttl, data: { kind: 'name', target: 'ns.example.org.' } });

function query(name: string, type = TYPE.A, options: { ednsSize?: number; id?: number } = {}): { msg: Buffer; q: Query } {
  const msg = encodeQuery(options.id ?? 1, name, type, options.ednsSize ? { ednsSize: options.ednsSize } : {});
  const p = parseQuery(msg);
  assert.ok(p.ok);
  return { msg, q: p.query };
}

function reply(spec: { rcode?: number; answer?: RR[]; authority?: RR[]; edns?: boolean; maxSize?: number; name?: string }): Buffer {
  const { msg, q } = query(spec.name ?? 'www.example.org.', TYPE.A, spec.edns ? { ednsSize: 1232 } : {});
  return encodeResponse({
    id: 1,
    rcode: spec.rcode ?? RCODE.NOERROR,
    rd: true,
    ra: true,
    question: msg.subarray(12, q.questionEnd),
    answer: spec.answer ?? [],
    authority: spec.authority ?? [],
    ...(spec.edns ? { edns: { size: 1232, dnssecOk: false } } : {}),
    maxSize: spec.maxSize ?? 65535,
  });
}

test('forwardKey: name case-insensitive; type, class, EDNS, DO and CD count; id and RD do not', () => {
  const key = (msg: Buffer): string => {
    const p = parseQuery(msg);
    assert.ok(p.ok);
    return forwardKey(p.query);
  };
  const base = key(encodeQuery(1, 'www.example.org.', TYPE.A));
  const cases: { msg: Buffer; same: boolean; what: string }[] = [
    { msg: encodeQuery(999, 'WWW.Example.ORG.', TYPE.A), same: true, what: 'other id and case' },
    { msg: encodeQuery(1, 'www.example.org.', TYPE.A, { rd: false }), same: true, what: 'RD clear' },
    { msg: encodeQuery(1, 'www.example.org.', TYPE.AAAA), same: false, what: 'type' },
    { msg: encodeQuery(1, 'www.example.org.', TYPE.A, { qclass: CLASS.CH }), same: false, what: 'class' },
    { msg: encodeQuery(1, 'www.example.org.', TYPE.A, { ednsSize: 1232 }), same: false, what: 'EDNS' },
    { msg: encodeQuery(1, 'www.example.com.', TYPE.A), same: false, what: 'name' },
  ];
  for (const c of cases) assert.equal(key(c.msg) === base, c.same, c.what);
  const withDo = Buffer.from(encodeQuery(1, 'www.example.org.', TYPE.A, { ednsSize: 1232 }));
  withDo[withDo.length - 4] = 0x80; // the OPT record's DO bit
  assert.notEqual(key(withDo), key(encodeQuery(1, 'www.example.org.', TYPE.A, { ednsSize: 1232 })), 'DO');
  const withCd = Buffer.from(encodeQuery(1, 'www.example.org.', TYPE.A));
  withCd[3] = withCd[3]! | 0x10;
  assert.notEqual(key(withCd), base, 'CD');
});

test('cachePolicy: positive by the smallest TTL, negative by the SOA (RFC 2308), capped; failures and TC not cached', () => {
  const truncated = reply({ answer: Array.from({ length: 60 }, (_, i) => a('www.example.org.', 300, `192.0.2.${i}`)), maxSize: 512 });
  assert.ok(truncated[2]! & 0x02, 'the fixture is truncated');
  const cases: { what: string; reply: Buffer; maxTtl?: number; want: { kind: 'positive' | 'negative'; ttl: number } | string }[] = [
    { what: 'one A', reply: reply({ answer: [a('www.example.org.', 300)] }), want: { kind: 'positive', ttl: 300 } },
    { what: 'smallest TTL wins', reply: reply({ answer: [a('www.example.org.', 300), a('www.example.org.', 40, '192.0.2.2')] }), want: { kind: 'positive', ttl: 40 } },
    { what: 'authority TTLs count too', reply: reply({ answer: [a('www.example.org.', 300)], authority: [ns(20)] }), want: { kind: 'positive', ttl: 20 } },
    { what: 'capped by max TTL', reply: reply({ answer: [a('www.example.org.', 86400)] }), maxTtl: 3600, want: { kind: 'positive', ttl: 3600 } },
    { what: 'with EDNS (OPT not a TTL)', reply: reply({ answer: [a('www.example.org.', 300)], edns: true }), want: { kind: 'positive', ttl: 300 } },
    { what: 'NXDOMAIN: SOA minimum below its TTL', reply: reply({ rcode: RCODE.NXDOMAIN, authority: [soa(3600, 5)] }), want: { kind: 'negative', ttl: 5 } },
    { what: 'NXDOMAIN: SOA TTL below its minimum', reply: reply({ rcode: RCODE.NXDOMAIN, authority: [soa(7, 900)] }), want: { kind: 'negative', ttl: 7 } },
    { what: 'NXDOMAIN capped', reply: reply({ rcode: RCODE.NXDOMAIN, authority: [soa(86400, 86400)] }), maxTtl: 600, want: { kind: 'negative', ttl: 600 } },
    { what: 'NODATA: SOA minimum', reply: reply({ authority: [soa(3600, 12)] }), want: { kind: 'negative', ttl: 12 } },
    { what: 'NXDOMAIN behind a CNAME: the CNAME TTL if smaller', reply: reply({ rcode: RCODE.NXDOMAIN, answer: [cname('www.example.org.', 3, 'gone.example.org.')], authority: [soa(60, 60)] }), want: { kind: 'negative', ttl: 3 } },
    { what: 'NODATA behind a CNAME: the SOA minimum (RFC 2308 2.2)', reply: reply({ answer: [cname('www.example.org.', 300, 'alias.example.org.')], authority: [soa(3600, 12)] }), want: { kind: 'negative', ttl: 12 } },
    { what: 'NODATA behind a CNAME without SOA', reply: reply({ answer: [cname('www.example.org.', 300, 'alias.example.org.')] }), want: 'negative answer without SOA' },
    { what: 'a CNAME chain ending in the type asked for is positive', reply: reply({ answer: [cname('www.example.org.', 300, 'alias.example.org.'), a('alias.example.org.', 200)], authority: [ns(400)] }), want: { kind: 'positive', ttl: 200 } },
    { what: 'NXDOMAIN without SOA', reply: reply({ rcode: RCODE.NXDOMAIN }), want: 'negative answer without SOA' },
    { what: 'NODATA without SOA (a referral)', reply: reply({ authority: [ns(300)] }), want: 'negative answer without SOA' },
    { what: 'SERVFAIL', reply: reply({ rcode: RCODE.SERVFAIL }), want: 'rcode 2' },
    { what: 'REFUSED', reply: reply({ rcode: RCODE.REFUSED }), want: 'rcode 5' },
    { what: 'truncated', reply: truncated, want: 'truncated' },
    { what: 'TTL 0', reply: reply({ answer: [a('www.example.org.', 0)] }), want: 'TTL 0' },
    { what: 'cache off', reply: reply({ answer: [a('www.example.org.', 300)] }), maxTtl: 0, want: 'cache off' },
    { what: 'garbage', reply: Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 0x77]), want: 'name runs past the message' },
    { what: 'a query, not a reply', reply: encodeQuery(1, 'www.example.org.', TYPE.A), want: 'not a response' },
  ];
  for (const c of cases) {
    const p = cachePolicy(c.reply, c.maxTtl ?? 3600);
    if (typeof c.want === 'string') {
      assert.equal(p.cache, false, c.what);
      if (!p.cache) assert.equal(p.reason, c.want, c.what);
    } else {
      assert.ok(p.cache, c.what);
      if (p.cache) assert.deepEqual({ kind: p.kind, ttl: p.ttl }, c.want, c.what);
    }
  }
});

function entry(reply: Buffer, overrides: Partial<ForwardEntry> = {}, maxTtl = 3600): ForwardEntry {
  const p = cachePolicy(reply, maxTtl);
  assert.ok(p.cache);
  const storedAt = overrides.storedAt ?? 100_000;
  return {
    key: 'www.example.org.|1|1|0',
    reply,
    questionEnd: p.questionEnd,
    ttlOffsets: p.ttlOffsets,
    ttls: p.ttls,
    kind: p.kind,
    storedAt,
    expiresAt: storedAt + p.ttl * 1000,
    query: encodeQuery(1, 'www.example.org.', TYPE.A),
    transport: 'udp',
    hits: 0,
    staleUntil: 0,
    ...overrides,
  };
}

test('replyFor: TTLs count down by whole seconds (never below 0, never above the entry TTL), fixed TTL when stale', () => {
  const e = entry(reply({ answer: [a('www.example.org.', 100), a('www.example.org.', 7200, '192.0.2.2')], authority: [ns(300)] }));
  const { msg, q } = query('www.example.org.');
  const ttlsAt = (ms: number, fixed?: number): number[] => {
    const m = decodeMessage(replyFor(e, msg, q.questionEnd, e.storedAt + ms, fixed));
    return [...m.answer, ...m.authority].map((rr) => rr.ttl);
  };
  const cases: { ms: number; fixed?: number; want: number[] }[] = [
    { ms: 0, want: [100, 100, 100] },
    { ms: 999, want: [100, 100, 100] },
    { ms: 1000, want: [99, 99, 99] },
    { ms: 42_500, want: [58, 58, 58] },
    { ms: 100_000, want: [0, 0, 0] },
    { ms: 500_000, want: [0, 0, 0] },
    { ms: 500_000, fixed: 30, want: [30, 30, 30] },
  ];
  for (const c of cases) assert.deepEqual(ttlsAt(c.ms, c.fixed), c.want, `${c.ms} ms${c.fixed ? ' stale' : ''}`);
  // the entry's own bytes are untouched
  assert.deepEqual(decodeMessage(e.reply).answer.map((rr) => rr.ttl), [100, 7200]);
});

test('replyFor / personalize: each waiter gets its own id, question case and RD bit', () => {
  const e = entry(reply({ answer: [a('www.example.org.', 100)] }));
  const asked = Buffer.from(encodeQuery(0xabcd, 'WwW.ExAmPlE.oRg.', TYPE.A, { rd: false }));
  const p = parseQuery(asked);
  assert.ok(p.ok);
  const out = replyFor(e, asked, p.query.questionEnd, e.storedAt);
  const m = decodeMessage(out);
  assert.equal(m.id, 0xabcd);
  assert.equal(m.rd, false);
  assert.equal(m.questions[0]!.name, 'WwW.ExAmPlE.oRg.');
  assert.equal(m.answer[0]!.name, 'WwW.ExAmPlE.oRg.', 'the compressed owner name points at the question');
  const fresh = personalize(Buffer.from(e.reply), encodeQuery(7, 'WWW.EXAMPLE.ORG.', TYPE.A), p.query.questionEnd);
  assert.equal(decodeMessage(fresh).questions[0]!.name, 'WWW.EXAMPLE.ORG.');
  assert.equal(decodeMessage(fresh).id, 7);
  assert.equal(decodeMessage(fresh).rd, true);
});

test('truncatedReply: header and question with TC, no records', () => {
  const r = reply({ answer: [a('www.example.org.', 100)] });
  const p = cachePolicy(r, 3600);
  assert.ok(p.cache);
  const t = decodeMessage(truncatedReply(r, p.questionEnd));
  assert.equal(t.tc, true);
  assert.equal(t.answer.length, 0);
  assert.equal(t.questions[0]!.name, 'www.example.org.');
});

test('freshness: fresh until expiry, stale for staleMax after, then dead', () => {
  const e = entry(reply({ answer: [a('www.example.org.', 10)] }));
  const cases: { at: number; staleMax: number; want: string }[] = [
    { at: 0, staleMax: 3_600_000, want: 'fresh' },
    { at: 9_999, staleMax: 3_600_000, want: 'fresh' },
    { at: 10_000, staleMax: 3_600_000, want: 'stale' },
    { at: 10_000 + 3_599_999, staleMax: 3_600_000, want: 'stale' },
    { at: 10_000 + 3_600_000, staleMax: 3_600_000, want: 'dead' },
    { at: 10_000, staleMax: 0, want: 'dead' },
  ];
  for (const c of cases) assert.equal(freshness(e, e.storedAt + c.at, c.staleMax), c.want, `${c.at} ms, stale max ${c.staleMax}`);
});

test('shouldPrefetch: popular entries in the last 10% of their TTL (at least the last second)', () => {
  const cases: { ttl: number; hits: number; at: number; want: boolean }[] = [
    { ttl: 100, hits: 3, at: 89_000, want: false },
    { ttl: 100, hits: 3, at: 90_000, want: true },
    { ttl: 100, hits: 3, at: 99_999, want: true },
    { ttl: 100, hits: 3, at: 100_000, want: false },
    { ttl: 100, hits: 2, at: 95_000, want: false },
    { ttl: 4, hits: 3, at: 2_999, want: false },
    { ttl: 4, hits: 3, at: 3_000, want: true },
  ];
  for (const c of cases) {
    const e = entry(reply({ answer: [a('www.example.org.', c.ttl)] }), { hits: c.hits });
    assert.equal(shouldPrefetch(e, e.storedAt + c.at), c.want, JSON.stringify(c));
  }
});

test('LruMap: bounded; drops the least recently used first (second chance: a get keeps an entry once)', () => {
  const m = new LruMap<number>(3);
  m.set('a', 1);
  m.set('b', 2);
  m.set('c', 3);
  assert.equal(m.get('a'), 1); // a is marked used
  m.set('d', 4); // a, the oldest, is used: it gets a second chance; b goes
  assert.deepEqual([...m.keys()].sort(), ['a', 'c', 'd']);
  assert.equal(m.peek('c'), 3); // peek does not mark c used
  m.set('e', 5); // c goes
  assert.deepEqual([...m.keys()].sort(), ['a', 'd', 'e']);
  m.set('f', 6); // a was moved behind d when it was passed over: d goes
  assert.deepEqual([...m.keys()].sort(), ['a', 'e', 'f']);
  assert.equal(m.evictions, 3);
  // every entry used: they are passed over once each, then the oldest (a) goes; never the new one
  for (const k of ['a', 'e', 'f']) m.get(k);
  m.set('g', 7);
  assert.deepEqual([...m.keys()].sort(), ['e', 'f', 'g']);
  m.set('e', 10); // replacing keeps the bound
  assert.equal(m.size, 3);
  assert.equal(m.peek('e'), 10);
  const off = new LruMap<number>(0);
  off.set('a', 1);
  assert.equal(off.size, 0, 'size 0 keeps nothing');
});

test('LruMap: bounded by total weight too; a value heavier than the bound alone is not kept', () => {
  const m = new LruMap<number>(100, 10, (v) => v);
  m.set('a', 4);
  m.set('b', 4);
  m.set('c', 4); // 12 > 10: a goes
  assert.deepEqual([...m.keys()], ['b', 'c']);
  assert.equal(m.weight, 8);
  m.set('b', 1); // replacing counts the new weight only
  assert.equal(m.weight, 5);
  m.set('huge', 11);
  assert.equal(m.peek('huge'), undefined);
  assert.deepEqual([...m.keys()], ['c', 'b']);
  m.delete('c');
  assert.equal(m.weight, 1);
});
