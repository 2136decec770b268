// Table-driven tests of the pure answer logic (like CoreDNS's plugin/etcd lookup_test.go):
// stored records -> question -> expected answer, authority and additional sections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerFor, externalKey, type AnswerContext, type Outcome } from '../../dist/dns/answer.js';
import { SkyIndex } from '../../dist/dns/records.js';
import { rdataText, typeName, TYPE, CLASS, RCODE, type RR } from '../../dist/dns/wire.js';
import { parseSkyRecord } from '../../dist/catalog/values.js';

const STORED: Record<string, string> = {
  '/skydns/local/skydns/app/a': '{"host":"10.0.0.1","port":80}',
  '/skydns/local/skydns/app/b': '{"host":"10.0.0.2","port":80,"weight":300}',
  '/skydns/local/skydns/app/c': '{"host":"10.0.0.3","port":80,"priority":20}',
  '/skydns/local/skydns/app/v6': '{"host":"2001:db8::1","port":80}',
  '/skydns/local/skydns/dup/x': '{"host":"10.1.0.1","port":1}',
  '/skydns/local/skydns/dup/y': '{"host":"10.1.0.1","port":1}',
  '/skydns/local/skydns/txt/t': '{"text":"hello world"}',
  '/skydns/local/skydns/both': '{"host":"10.7.0.1","text":"both text"}',
  '/skydns/local/skydns/alias': '{"host":"app.skydns.local"}',
  '/skydns/local/skydns/talias': '{"host":"txt.skydns.local."}',
  '/skydns/local/skydns/loop1': '{"host":"loop2.skydns.local"}',
  '/skydns/local/skydns/loop2': '{"host":"loop1.skydns.local"}',
  '/skydns/local/skydns/dom': '{"host":"10.2.0.1"}',
  '/skydns/local/skydns/dom1': '{"host":"10.2.0.2"}',
  '/skydns/local/skydns/multi/a': '{"host":"dom.skydns.local"}',
  '/skydns/local/skydns/multi/b': '{"host":"dom1.skydns.local"}',
  '/skydns/local/skydns/mail/m1': '{"host":"10.3.0.1","mail":true,"priority":5}',
  '/skydns/local/skydns/mail/m2': '{"host":"10.3.0.2"}',
  '/skydns/local/skydns/dns/ns/ns1': '{"host":"10.9.0.1","targetstrip":1}',
  '/skydns/arpa/in-addr/10/0/0/1': '{"host":"a.app.skydns.local"}',
  '/skydns/local/skydns/ext': '{"host":"www.example.org"}',
  '/skydns/local/skydns/grp/a': '{"host":"10.4.0.1","group":"g1"}',
  '/skydns/local/skydns/grp/b/c': '{"host":"10.4.0.2","group":"g2"}',
  '/skydns/local/skydns/grp/b/d': '{"host":"10.4.0.3","group":"g1"}',
  '/skydns/local/skydns/grp/e': '{"host":"10.4.0.4"}',
  '/skydns/local/skydns/grp2/a': '{"host":"10.4.1.1","group":"g1"}',
  '/skydns/local/skydns/grp2/b': '{"host":"10.4.1.2","group":"g2"}',
  '/skydns/local/skydns/ttl/a': '{"host":"10.5.0.1","ttl":10}',
  '/skydns/local/skydns/ttl/b': '{"host":"10.5.0.2"}',
  '/skydns/local/skydns/ttl/c': '{"host":"10.5.0.3","ttl":100}',
  '/skydns/local/skydns/ttlx/a': '{"host":"10.5.1.1","ttl":100}',
  '/skydns/local/skydns/ttly/x': '{"host":"10.5.2.1","ttl":100}',
  '/skydns/local/skydns/ttlz/x': '{"host":"10.5.3.1","ttl":10}',
  '/skydns/local/skydns/ts/x/y': '{"host":"10.6.0.1","port":9,"targetstrip":1}',
  '/skydns/local/skydns/web/x': '{"host":"a.app.skydns.local","port":8080}',
  '/skydns/local/skydns/chain/l1': '{"host":"l2.chain2.skydns.local"}',
  '/skydns/local/skydns/chain2/l2': '{"host":"l3.chain3.skydns.local"}',
  '/skydns/local/skydns/chain3/l3': '{"host":"10.8.0.1"}',
  '/skydns/local/sampleapp/db': '{"host":"172.17.96.3","port":5432}',
  '/skydns/local/sampleapp/some-postgres': '{"host":"db.sampleapp.local."}',
};

// leases: ttl/b and ttl/c are attached to lease 7 (7 s left), ttlx/a to lease 50
const LEASES: Record<string, string> = {
  '/skydns/local/skydns/ttl/b': '7',
  '/skydns/local/skydns/ttl/c': '7',
  '/skydns/local/skydns/ttlx/a': '50',
  '/skydns/local/skydns/ttly/x': '999',
  '/skydns/local/skydns/ttlz/x': '50',
};
const LEASE_SECONDS: Record<string, number> = { '7': 7, '50': 50 };

function buildIndex(stored: Record<string, string>): SkyIndex {
  const entries = Object.entries(stored).map(([key, value]) => {
    const parsed = parseSkyRecord(value);
    assert.ok(parsed.ok, `fixture ${key} parses`);
    return { key, record: parsed.value, ...(LEASES[key] ? { lease: LEASES[key] } : {}) };
  });
  return new SkyIndex(entries, '/skydns');
}

const INDEX = buildIndex(STORED);

function context(domain: string, external?: Map<string, RR[] | null>): AnswerContext {
  return {
    domain,
    ttl: 30,
    minTtl: 60,
    serial: 1000,
    leaseSeconds: (id: string) => LEASE_SECONDS[id],
    ...(external ? { external } : {}),
  };
}

function show(rr: RR): string {
  return `${rr.name} ${rr.ttl} ${typeName(rr.type)} ${rdataText(rr)}`;
}

interface Case {
  name: string;
  qname: string;
  qtype: number;
  domain?: string;
  rcode?: number;
  answer?: string[];
  /** answer compared as a set (order not part of the contract) */
  unordered?: boolean;
  authority?: string[];
  additional?: string[];
}

const SOA = (owner: string, ttl: number) => `${owner} ${ttl} SOA ns.dns.skydns.local. hostmaster.skydns.local. 1000 28800 7200 604800 60`;

const CASES: Case[] = [
  // A / AAAA and subtrees
  { name: 'A of one instance', qname: 'a.app.skydns.local.', qtype: TYPE.A, answer: ['a.app.skydns.local. 30 A 10.0.0.1'] },
  {
    name: 'A of a service lists its subtree',
    qname: 'app.skydns.local.',
    qtype: TYPE.A,
    answer: ['app.skydns.local. 30 A 10.0.0.1', 'app.skydns.local. 30 A 10.0.0.2', 'app.skydns.local. 30 A 10.0.0.3'],
  },
  { name: 'AAAA of a service', qname: 'app.skydns.local.', qtype: TYPE.AAAA, answer: ['app.skydns.local. 30 AAAA 2001:db8::1'] },
  { name: 'dom does not match dom1', qname: 'dom.skydns.local.', qtype: TYPE.A, answer: ['dom.skydns.local. 30 A 10.2.0.1'] },
  { name: 'identical records under two keys answered once', qname: 'dup.skydns.local.', qtype: TYPE.A, answer: ['dup.skydns.local. 30 A 10.1.0.1'] },
  { name: 'owner keeps the query case', qname: 'A.App.SkyDNS.Local.', qtype: TYPE.A, answer: ['A.App.SkyDNS.Local. 30 A 10.0.0.1'] },

  // wildcards
  {
    name: 'wildcard * in the first label',
    qname: '*.app.skydns.local.',
    qtype: TYPE.A,
    answer: ['*.app.skydns.local. 30 A 10.0.0.1', '*.app.skydns.local. 30 A 10.0.0.2', '*.app.skydns.local. 30 A 10.0.0.3'],
  },
  {
    name: 'wildcard any in a middle label matches every <x>/a key (smallest TTL for the set)',
    qname: 'a.any.skydns.local.',
    qtype: TYPE.A,
    answer: [
      'a.any.skydns.local. 10 A 10.0.0.1',
      'a.any.skydns.local. 10 A 10.4.0.1',
      'a.any.skydns.local. 10 A 10.4.1.1',
      'a.any.skydns.local. 30 CNAME dom.skydns.local.',
      'dom.skydns.local. 30 A 10.2.0.1',
      'a.any.skydns.local. 10 A 10.5.0.1',
      'a.any.skydns.local. 10 A 10.5.1.1',
    ],
  },
  { name: 'wildcard without a match is NXDOMAIN', qname: 'zz.*.skydns.local.', qtype: TYPE.A, rcode: RCODE.NXDOMAIN, authority: [SOA('skydns.local.', 60)] },

  // CNAMEs
  {
    name: 'CNAME in the zone is followed (the some-postgres example)',
    qname: 'some-postgres.sampleapp.local.',
    qtype: TYPE.A,
    domain: 'local',
    answer: ['some-postgres.sampleapp.local. 30 CNAME db.sampleapp.local.', 'db.sampleapp.local. 30 A 172.17.96.3'],
  },
  {
    name: 'CNAME to a service lists the target subtree',
    qname: 'alias.skydns.local.',
    qtype: TYPE.A,
    answer: ['alias.skydns.local. 30 CNAME app.skydns.local.', 'app.skydns.local. 30 A 10.0.0.1', 'app.skydns.local. 30 A 10.0.0.2', 'app.skydns.local. 30 A 10.0.0.3'],
  },
  {
    name: 'CNAME chain of three links',
    qname: 'l1.chain.skydns.local.',
    qtype: TYPE.A,
    answer: ['l1.chain.skydns.local. 30 CNAME l2.chain2.skydns.local.', 'l2.chain2.skydns.local. 30 CNAME l3.chain3.skydns.local.', 'l3.chain3.skydns.local. 30 A 10.8.0.1'],
  },
  { name: 'CNAME loop gives NODATA', qname: 'loop1.skydns.local.', qtype: TYPE.A, answer: [], authority: [SOA('skydns.local.', 60)] },
  {
    name: 'several CNAMEs for one owner appear once',
    qname: 'multi.skydns.local.',
    qtype: TYPE.A,
    answer: ['multi.skydns.local. 30 CNAME dom.skydns.local.', 'dom.skydns.local. 30 A 10.2.0.1'],
  },
  { name: 'CNAME query uses the exact key', qname: 'alias.skydns.local.', qtype: TYPE.CNAME, answer: ['alias.skydns.local. 30 CNAME app.skydns.local.'] },
  { name: 'CNAME query on a directory is NODATA', qname: 'multi.skydns.local.', qtype: TYPE.CNAME, answer: [], authority: [SOA('skydns.local.', 60)] },
  { name: 'CNAME query on a missing name is NXDOMAIN', qname: 'nothing.skydns.local.', qtype: TYPE.CNAME, rcode: RCODE.NXDOMAIN, authority: [SOA('skydns.local.', 60)] },

  // TXT
  { name: 'TXT of a text-only record', qname: 'txt.skydns.local.', qtype: TYPE.TXT, answer: ['txt.skydns.local. 30 TXT "hello world"'] },
  { name: 'text-only record does not appear in A answers', qname: 'txt.skydns.local.', qtype: TYPE.A, answer: [], authority: [SOA('skydns.local.', 60)] },
  { name: 'record with host and text answers TXT', qname: 'both.skydns.local.', qtype: TYPE.TXT, answer: ['both.skydns.local. 30 TXT "both text"'] },
  { name: 'record with host and text answers A', qname: 'both.skydns.local.', qtype: TYPE.A, answer: ['both.skydns.local. 30 A 10.7.0.1'] },
  {
    name: 'TXT query on a CNAME follows the chain',
    qname: 'talias.skydns.local.',
    qtype: TYPE.TXT,
    answer: ['talias.skydns.local. 30 CNAME txt.skydns.local.', 'txt.skydns.local. 30 TXT "hello world"'],
  },

  // SRV
  {
    name: 'SRV weights per priority, targets from keys, glue in additional',
    qname: 'app.skydns.local.',
    qtype: TYPE.SRV,
    answer: [
      'app.skydns.local. 30 SRV 10 20 80 a.app.skydns.local.',
      'app.skydns.local. 30 SRV 10 60 80 b.app.skydns.local.',
      'app.skydns.local. 30 SRV 20 100 80 c.app.skydns.local.',
      'app.skydns.local. 30 SRV 10 20 80 v6.app.skydns.local.',
    ],
    additional: ['a.app.skydns.local. 30 A 10.0.0.1', 'b.app.skydns.local. 30 A 10.0.0.2', 'c.app.skydns.local. 30 A 10.0.0.3', 'v6.app.skydns.local. 30 AAAA 2001:db8::1'],
  },
  {
    name: 'SRV target in the zone gets A glue',
    qname: 'web.skydns.local.',
    qtype: TYPE.SRV,
    answer: ['web.skydns.local. 30 SRV 10 100 8080 a.app.skydns.local.'],
    additional: ['a.app.skydns.local. 30 A 10.0.0.1'],
  },
  {
    name: 'targetstrip drops labels of the SRV target',
    qname: 'ts.skydns.local.',
    qtype: TYPE.SRV,
    answer: ['ts.skydns.local. 30 SRV 10 100 9 x.ts.skydns.local.'],
    additional: ['x.ts.skydns.local. 30 A 10.6.0.1'],
  },
  { name: 'SRV of a text-only record is NODATA', qname: 'txt.skydns.local.', qtype: TYPE.SRV, answer: [], authority: [SOA('skydns.local.', 60)] },

  // MX
  { name: 'MX from mail records only', qname: 'mail.skydns.local.', qtype: TYPE.MX, answer: ['mail.skydns.local. 30 MX 5 m1.mail.skydns.local.'], additional: ['m1.mail.skydns.local. 30 A 10.3.0.1'] },

  // groups
  {
    name: 'group of the shortest key filters the set',
    qname: 'grp.skydns.local.',
    qtype: TYPE.A,
    answer: ['grp.skydns.local. 30 A 10.4.0.1', 'grp.skydns.local. 30 A 10.4.0.3', 'grp.skydns.local. 30 A 10.4.0.4'],
  },
  { name: 'disagreeing groups at one level are no group', qname: 'grp2.skydns.local.', qtype: TYPE.A, answer: ['grp2.skydns.local. 30 A 10.4.1.1', 'grp2.skydns.local. 30 A 10.4.1.2'] },

  // TTL
  { name: 'record ttl', qname: 'a.ttl.skydns.local.', qtype: TYPE.A, answer: ['a.ttl.skydns.local. 10 A 10.5.0.1'] },
  { name: 'lease remaining without record ttl', qname: 'b.ttl.skydns.local.', qtype: TYPE.A, answer: ['b.ttl.skydns.local. 7 A 10.5.0.2'] },
  { name: 'record ttl capped by the lease', qname: 'c.ttl.skydns.local.', qtype: TYPE.A, answer: ['c.ttl.skydns.local. 7 A 10.5.0.3'] },
  { name: 'lease whose remaining time is not known yet: TTL 1', qname: 'ttly.skydns.local.', qtype: TYPE.A, answer: ['ttly.skydns.local. 1 A 10.5.2.1'] },
  { name: 'record ttl longer than the lease: the lease', qname: 'ttlx.skydns.local.', qtype: TYPE.A, answer: ['ttlx.skydns.local. 50 A 10.5.1.1'] },
  { name: 'lease longer than the record ttl: the record ttl', qname: 'ttlz.skydns.local.', qtype: TYPE.A, answer: ['ttlz.skydns.local. 10 A 10.5.3.1'] },
  {
    name: 'an answer set carries its smallest TTL',
    qname: 'ttl.skydns.local.',
    qtype: TYPE.A,
    answer: ['ttl.skydns.local. 7 A 10.5.0.1', 'ttl.skydns.local. 7 A 10.5.0.2', 'ttl.skydns.local. 7 A 10.5.0.3'],
  },

  // negative answers, SOA, NS
  { name: 'missing name is NXDOMAIN with SOA at min_ttl', qname: 'nope.skydns.local.', qtype: TYPE.A, rcode: RCODE.NXDOMAIN, authority: [SOA('skydns.local.', 60)] },
  { name: 'SOA owner keeps the query case in negative answers', qname: 'NoPe.SkyDNS.local.', qtype: TYPE.A, rcode: RCODE.NXDOMAIN, authority: [SOA('SkyDNS.local.', 60)] },
  { name: 'existing name without the type is NODATA', qname: 'a.app.skydns.local.', qtype: TYPE.AAAA, answer: [], authority: [SOA('skydns.local.', 60)] },
  { name: 'unknown type on an existing name is NODATA', qname: 'a.app.skydns.local.', qtype: 99, answer: [], authority: [SOA('skydns.local.', 60)] },
  { name: 'SOA at the apex carries the configured ttl', qname: 'skydns.local.', qtype: TYPE.SOA, answer: [SOA('skydns.local.', 30)], authority: [] },
  {
    name: 'NS at the apex from dns/ns, targetstrip not applied',
    qname: 'skydns.local.',
    qtype: TYPE.NS,
    answer: ['skydns.local. 30 NS ns1.ns.dns.skydns.local.'],
    additional: ['ns1.ns.dns.skydns.local. 30 A 10.9.0.1'],
  },
  { name: 'NS for a missing name below the apex is NXDOMAIN', qname: 'nope.skydns.local.', qtype: TYPE.NS, rcode: RCODE.NXDOMAIN, authority: [SOA('skydns.local.', 60)] },
  { name: 'NS for an existing name below the apex is NODATA', qname: 'app.skydns.local.', qtype: TYPE.NS, answer: [], authority: [SOA('skydns.local.', 60)] },
  { name: 'SOA below the apex is NODATA', qname: 'app.skydns.local.', qtype: TYPE.SOA, answer: [], authority: [SOA('skydns.local.', 60)] },

  // PTR
  { name: 'PTR from /skydns/arpa', qname: '1.0.0.10.in-addr.arpa.', qtype: TYPE.PTR, answer: ['1.0.0.10.in-addr.arpa. 30 PTR a.app.skydns.local.'] },
];

for (const c of CASES) {
  test(`answerFor: ${c.name}`, () => {
    const out = answerFor({ name: c.qname, type: c.qtype, class: CLASS.IN }, INDEX, context(c.domain ?? 'skydns.local'));
    assert.equal(out.kind, 'answer');
    if (out.kind !== 'answer') return;
    assert.equal(out.rcode, c.rcode ?? RCODE.NOERROR, 'rcode');
    assert.equal(out.authoritative, true);
    assert.deepEqual(out.needs, []);
    if (c.answer) {
      const got = out.answer.map(show);
      if (c.unordered) assert.deepEqual([...got].sort(), [...c.answer].sort(), 'answer');
      else assert.deepEqual(got, c.answer, 'answer');
    }
    // positive answers carry an empty authority section
    if (c.authority) assert.deepEqual(out.authority.map(show), c.authority, 'authority');
    else if (out.answer.length > 0) assert.deepEqual(out.authority, [], 'authority of a positive answer');
    if (c.additional) assert.deepEqual(out.additional.map(show), c.additional, 'additional');
  });
}

test('answerFor: the apex A query returns every address in the zone', () => {
  const out = answerFor({ name: 'skydns.local.', type: TYPE.A, class: CLASS.IN }, INDEX, context('skydns.local'));
  assert.equal(out.kind, 'answer');
  if (out.kind !== 'answer') return;
  const addresses = out.answer.filter((rr) => rr.type === TYPE.A && rr.name === 'skydns.local.').map((rr) => rdataText(rr));
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.1.0.1', '10.2.0.1', '10.2.0.2', '10.3.0.1', '10.5.0.1', '10.6.0.1', '10.7.0.1', '10.9.0.1']) {
    assert.ok(addresses.includes(ip), `apex answer includes ${ip}`);
  }
  // one CNAME at most for the apex owner
  assert.ok(out.answer.filter((rr) => rr.type === TYPE.CNAME && rr.name === 'skydns.local.').length <= 1);
});

test('answerFor: names outside the domain are forwarded', () => {
  for (const [name, type] of [['example.com.', TYPE.A], ['skydns.local.example.com.', TYPE.A], ['9.9.9.10.in-addr.arpa.', TYPE.PTR], ['1.0.0.10.in-addr.arpa.', TYPE.A]] as const) {
    const out = answerFor({ name, type, class: CLASS.IN }, INDEX, context('skydns.local'));
    assert.equal(out.kind, 'forward', name);
  }
});

test('answerFor: a CNAME out of the zone asks for the target, then answers with it', () => {
  const q = { name: 'ext.skydns.local.', type: TYPE.A, class: CLASS.IN };
  const first = answerFor(q, INDEX, context('skydns.local'));
  assert.equal(first.kind, 'answer');
  if (first.kind !== 'answer') return;
  assert.deepEqual(first.needs, [{ name: 'www.example.org.', type: TYPE.A }]);

  const resolved = new Map<string, RR[] | null>([[externalKey('www.example.org.', TYPE.A), [{ name: 'www.example.org.', type: TYPE.A, class: CLASS.IN, ttl: 300, data: { kind: 'a', address: '93.184.216.34' } }]]]);
  const second = answerFor(q, INDEX, context('skydns.local', resolved)) as Extract<Outcome, { kind: 'answer' }>;
  assert.deepEqual(second.needs, []);
  assert.deepEqual(second.answer.map(show), ['ext.skydns.local. 30 CNAME www.example.org.', 'www.example.org. 300 A 93.184.216.34']);

  // a CNAME to an out-of-zone name that does not resolve is dropped: NODATA
  const failed = new Map<string, RR[] | null>([[externalKey('www.example.org.', TYPE.A), null]]);
  const third = answerFor(q, INDEX, context('skydns.local', failed)) as Extract<Outcome, { kind: 'answer' }>;
  assert.equal(third.rcode, RCODE.NOERROR);
  assert.deepEqual(third.answer, []);
  assert.deepEqual(third.authority.map(show), [SOA('skydns.local.', 60)]);
});

test('answerFor: a CNAME chain longer than 8 links is cut', () => {
  const stored: Record<string, string> = {};
  for (let i = 1; i <= 10; i++) stored[`/skydns/local/skydns/c${i}`] = JSON.stringify({ host: `c${i + 1}.skydns.local` });
  stored['/skydns/local/skydns/c11'] = '{"host":"10.10.10.10"}';
  const out = answerFor({ name: 'c1.skydns.local.', type: TYPE.A, class: CLASS.IN }, buildIndex(stored), context('skydns.local'));
  assert.equal(out.kind, 'answer');
  if (out.kind !== 'answer') return;
  assert.equal(out.rcode, RCODE.NOERROR);
  assert.deepEqual(out.answer, []);
  const short = answerFor({ name: 'c5.skydns.local.', type: TYPE.A, class: CLASS.IN }, buildIndex(stored), context('skydns.local'));
  assert.equal(short.kind === 'answer' && short.answer.length, 7, 'six CNAMEs and the A');
});

test('answerFor: a different domain moves the zone', () => {
  const out = answerFor({ name: 'db.sampleapp.local.', type: TYPE.A, class: CLASS.IN }, INDEX, context('local'));
  assert.equal(out.kind === 'answer' && out.answer.map(show).join(), 'db.sampleapp.local. 30 A 172.17.96.3');
  assert.equal(answerFor({ name: 'db.sampleapp.local.', type: TYPE.A, class: CLASS.IN }, INDEX, context('skydns.local')).kind, 'forward');
});

test('answerFor: maxTtl (the stale cap) lowers every TTL above it, SOA included, and keeps lower ones', () => {
  const capped = (qname: string, qtype: number): string[] => {
    const out = answerFor({ name: qname, type: qtype, class: CLASS.IN }, INDEX, { ...context('skydns.local'), maxTtl: 5 });
    assert.equal(out.kind, 'answer');
    if (out.kind !== 'answer') return [];
    return [...out.answer, ...out.authority, ...out.additional].map(show);
  };
  assert.deepEqual(capped('a.app.skydns.local.', TYPE.A), ['a.app.skydns.local. 5 A 10.0.0.1']);
  assert.deepEqual(capped('nope.skydns.local.', TYPE.A), [SOA('skydns.local.', 5)]);
  assert.deepEqual(capped('skydns.local.', TYPE.SOA), [SOA('skydns.local.', 5)]);
  assert.deepEqual(capped('ttly.skydns.local.', TYPE.A), ['ttly.skydns.local. 1 A 10.5.2.1']);
  const srv = capped('a.app.skydns.local.', TYPE.SRV);
  assert.ok(srv.length > 0 && srv.every((l) => l.split(' ')[1] === '5'), srv.join('\n'));
});

/** n names, each with a CNAME to every other one (n·(n-1) records); `sink`: each also points at an address */
function cnameMesh(n: number, sink: boolean): Record<string, string> {
  const stored: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) if (i !== j) stored[`/skydns/local/skydns/n${i}/t${j}`] = JSON.stringify({ host: `n${j}.skydns.local` });
    if (sink) stored[`/skydns/local/skydns/n${i}/tz`] = '{"host":"zz.skydns.local"}';
  }
  if (sink) {
    stored['/skydns/local/skydns/zz'] = '{"host":"10.11.0.1"}';
    stored['/skydns/local/skydns/zt'] = '{"text":"at the end"}';
  }
  return stored;
}

const MESH_CASES: { name: string; n: number; sink: boolean; qtype: number; last?: string }[] = [
  { name: '10 names (90 records), A', n: 10, sink: false, qtype: TYPE.A },
  { name: '10 names, AAAA', n: 10, sink: false, qtype: TYPE.AAAA },
  { name: '10 names, TXT', n: 10, sink: false, qtype: TYPE.TXT },
  { name: '30 names (870 records), A', n: 30, sink: false, qtype: TYPE.A },
  { name: '30 names, TXT', n: 30, sink: false, qtype: TYPE.TXT },
  { name: '20 names and an address at the end, A', n: 20, sink: true, qtype: TYPE.A, last: 'A 10.11.0.1' },
];

for (const c of MESH_CASES) {
  test(`answerFor: CNAMEs between every pair of names take bounded work: ${c.name}`, () => {
    const index = buildIndex(cnameMesh(c.n, c.sink));
    // the work is counted in index lookups, not timed (a loaded machine says nothing): a chase
    // that revisits names would make this grow exponentially with n
    let lookups = 0;
    const counting = { lookup: (labels: readonly string[], exact?: boolean) => (lookups++, index.lookup(labels, exact)) };
    const out = answerFor({ name: 'n1.skydns.local.', type: c.qtype, class: CLASS.IN }, counting, context('skydns.local'));
    console.log(`# ${c.name}: ${lookups} index lookups`);
    assert.ok(lookups <= 2 * c.n + 2, `${lookups} index lookups for ${c.n} names`);
    assert.equal(out.kind, 'answer');
    if (out.kind !== 'answer') return;
    assert.equal(out.rcode, RCODE.NOERROR);
    const lines = out.answer.map(show);
    if (c.last === undefined) {
      assert.deepEqual(lines, []);
      assert.deepEqual(out.authority.map(show), [SOA('skydns.local.', 60)]);
    } else {
      assert.match(lines.at(-1) ?? '', new RegExp(`^zz\\.skydns\\.local\\. 30 ${c.last}$`));
      const cnames = out.answer.filter((rr) => rr.type === TYPE.CNAME);
      assert.ok(cnames.length >= 1 && cnames.length <= 7, lines.join('\n'));
      // an unbroken chain from the query name to the address
      let at = 'n1.skydns.local.';
      for (const rr of cnames) {
        assert.equal(rr.name, at);
        at = (rr.data as { target: string }).target;
      }
      assert.equal(at, 'zz.skydns.local.');
    }
  });
}

test('answerFor: /skydns/config local answers local.dns.<domain> from the records of the name it gives (SkyDNS)', () => {
  const ctx = { ...context('skydns.local'), local: 'a.app.skydns.local.' };
  const show2 = (o: Outcome) => (o.kind === 'answer' ? { rcode: o.rcode, answer: o.answer.map(show), additional: o.additional.map(show) } : o);
  assert.deepEqual(show2(answerFor({ name: 'local.dns.skydns.local.', type: TYPE.A, class: CLASS.IN }, INDEX, ctx)), {
    rcode: RCODE.NOERROR,
    answer: ['local.dns.skydns.local. 30 A 10.0.0.1'],
    additional: [],
  });
  assert.deepEqual(show2(answerFor({ name: 'Local.DNS.SkyDNS.local.', type: TYPE.SRV, class: CLASS.IN }, INDEX, ctx)), {
    rcode: RCODE.NOERROR,
    answer: ['Local.DNS.SkyDNS.local. 30 SRV 10 100 80 a.app.skydns.local.'],
    additional: ['a.app.skydns.local. 30 A 10.0.0.1'],
  });
  // without `local` the name is just missing
  const none = answerFor({ name: 'local.dns.skydns.local.', type: TYPE.A, class: CLASS.IN }, INDEX, context('skydns.local'));
  assert.equal(none.kind === 'answer' && none.rcode, RCODE.NXDOMAIN);
  // a local name without records: NXDOMAIN
  const missing = answerFor({ name: 'local.dns.skydns.local.', type: TYPE.A, class: CLASS.IN }, INDEX, { ...context('skydns.local'), local: 'nope.skydns.local.' });
  assert.equal(missing.kind === 'answer' && missing.rcode, RCODE.NXDOMAIN);
});

test('answerFor: an MX exchange with several CNAME-style entries: every address in the additional section, one CNAME for the owner (SkyDNS)', () => {
  const index = buildIndex({
    '/skydns/local/skydns/mx2/m': '{"host":"mxhost.skydns.local","mail":true}',
    '/skydns/local/skydns/mxhost/a': '{"host":"dom.skydns.local"}',
    '/skydns/local/skydns/mxhost/b': '{"host":"dom1.skydns.local"}',
    '/skydns/local/skydns/dom': '{"host":"10.2.0.1"}',
    '/skydns/local/skydns/dom1': '{"host":"10.2.0.2"}',
    '/skydns/local/skydns/srv2/s': '{"host":"mxhost.skydns.local","port":25}',
  });
  const out = answerFor({ name: 'mx2.skydns.local.', type: TYPE.MX, class: CLASS.IN }, index, context('skydns.local'));
  assert.ok(out.kind === 'answer');
  assert.deepEqual(out.answer.map(show), ['mx2.skydns.local. 30 MX 10 mxhost.skydns.local.']);
  assert.deepEqual(out.additional.map(show), ['mxhost.skydns.local. 30 CNAME dom.skydns.local.', 'dom.skydns.local. 30 A 10.2.0.1', 'dom1.skydns.local. 30 A 10.2.0.2']);
  // SRV glue is the same
  const srv = answerFor({ name: 'srv2.skydns.local.', type: TYPE.SRV, class: CLASS.IN }, index, context('skydns.local'));
  assert.ok(srv.kind === 'answer');
  assert.deepEqual(srv.additional.map(show), ['mxhost.skydns.local. 30 CNAME dom.skydns.local.', 'dom.skydns.local. 30 A 10.2.0.1', 'dom1.skydns.local. 30 A 10.2.0.2']);
  // an A query still answers one CNAME and its own chain
  const a = answerFor({ name: 'mxhost.skydns.local.', type: TYPE.A, class: CLASS.IN }, index, context('skydns.local'));
  assert.ok(a.kind === 'answer');
  assert.deepEqual(a.answer.map(show), ['mxhost.skydns.local. 30 CNAME dom.skydns.local.', 'dom.skydns.local. 30 A 10.2.0.1']);
});

test('answerFor: a wildcard SRV leaves out text-only entries and shares the weights among the rest (SkyDNS)', () => {
  const index = buildIndex({
    '/skydns/local/skydns/w/a/x': '{"host":"10.0.0.1","port":80,"weight":300}',
    '/skydns/local/skydns/w/b/x': '{"host":"10.0.0.2","port":80}',
    '/skydns/local/skydns/w/c/x': '{"text":"only text","weight":600}',
    '/skydns/local/skydns/w/d/x': '{"host":"","text":"empty host"}',
  });
  for (const qname of ['*.w.skydns.local.', 'x.*.w.skydns.local.', 'x.any.w.skydns.local.', 'w.skydns.local.']) {
    const out = answerFor({ name: qname, type: TYPE.SRV, class: CLASS.IN }, index, context('skydns.local'));
    assert.ok(out.kind === 'answer', qname);
    assert.deepEqual(out.answer.map((rr) => rdataText(rr)), ['10 75 80 x.a.w.skydns.local.', '10 25 80 x.b.w.skydns.local.'], qname);
    assert.deepEqual(out.additional.map(show), ['x.a.w.skydns.local. 30 A 10.0.0.1', 'x.b.w.skydns.local. 30 A 10.0.0.2'], qname);
  }
});
