import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  decodeMessage,
  encodeQuery,
  encodeResponse,
  ipv6Bytes,
  ipv6Text,
  parseQuery,
  rdataText,
  WireError,
  CLASS,
  RCODE,
  TYPE,
  type RR,
} from '../../dist/dns/wire.js';

const a = (name: string, address: string, ttl = 30): RR => ({ name, type: TYPE.A, class: CLASS.IN, ttl, data: { kind: 'a', address } });

test('parseQuery reads the header, question and EDNS of a query', () => {
  const q = encodeQuery(0xbeef, 'Web1.App.SkyDNS.local.', TYPE.SRV, { ednsSize: 1232 });
  const p = parseQuery(q);
  assert.ok(p.ok);
  if (!p.ok) return;
  assert.equal(p.query.id, 0xbeef);
  assert.equal(p.query.name, 'Web1.App.SkyDNS.local.');
  assert.equal(p.query.type, TYPE.SRV);
  assert.equal(p.query.class, CLASS.IN);
  assert.equal(p.query.rd, true);
  assert.deepEqual(p.query.edns, { size: 1232, version: 0, dnssecOk: false });
  // without EDNS
  const plain = parseQuery(encodeQuery(1, 'a.b.', TYPE.A));
  assert.ok(plain.ok && plain.query.edns === undefined);
  // the root name
  const root = parseQuery(encodeQuery(1, '.', TYPE.NS));
  assert.ok(root.ok && root.query.name === '.');
});

test('parseQuery: what cannot be answered is dropped, what is malformed gets FORMERR/NOTIMP', () => {
  assert.deepEqual(parseQuery(Buffer.alloc(5)).ok, false);
  const short = parseQuery(Buffer.alloc(5));
  assert.ok(!short.ok && short.drop);
  const response = Buffer.from(encodeQuery(1, 'a.', TYPE.A));
  response[2]! |= 0x80;
  const r = parseQuery(response);
  assert.ok(!r.ok && r.drop, 'responses are ignored');

  const two = Buffer.from(encodeQuery(7, 'a.', TYPE.A));
  two[5] = 2;
  const t = parseQuery(two);
  assert.ok(!t.ok && !t.drop && t.rcode === RCODE.FORMERR && t.id === 7);

  const notify = Buffer.from(encodeQuery(7, 'a.', TYPE.A));
  notify[2] = (4 << 3) | 1;
  const n = parseQuery(notify);
  assert.ok(!n.ok && !n.drop && n.rcode === RCODE.NOTIMP);

  // a compression pointer in the question, pointing at itself
  const loop = Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  const l = parseQuery(loop);
  assert.ok(!l.ok && !l.drop && l.rcode === RCODE.FORMERR);

  // a label that runs past the end
  const past = Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 40, 0x61, 0x62]);
  const pst = parseQuery(past);
  assert.ok(!pst.ok && !pst.drop && pst.rcode === RCODE.FORMERR);

  // a name longer than 255 octets
  const long = Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...Array.from({ length: 5 }, () => Buffer.from([63, ...Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]);
  const lg = parseQuery(long);
  assert.ok(!lg.ok && !lg.drop && lg.rcode === RCODE.FORMERR);
});

test('parseQuery never throws on random input', () => {
  for (let i = 0; i < 20_000; i++) {
    const buf = randomBytes(Math.floor(Math.random() * 80));
    if (buf.length > 2) buf[2]! &= 0x7f; // mostly "queries"
    if (buf.length > 5) {
      buf[4] = 0;
      buf[5] = 1;
    }
    parseQuery(buf);
  }
});

test('decodeMessage refuses looping and forward compression pointers', () => {
  const header = [0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
  // answer owner is a pointer to itself
  const self = Buffer.from([...header, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4]);
  assert.throws(() => decodeMessage(self), WireError);
  // pointer forward to a later name
  const forward = Buffer.from([...header, 0xc0, 30, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4, 1, 0x61, 0]);
  assert.throws(() => decodeMessage(forward), WireError);
  for (let i = 0; i < 20_000; i++) {
    try {
      decodeMessage(randomBytes(12 + Math.floor(Math.random() * 80)));
    } catch (err) {
      assert.ok(err instanceof WireError || err instanceof RangeError, `unexpected ${(err as Error).stack}`);
    }
  }
});

test('encodeResponse round-trips every record type, compresses names and keeps the question case', () => {
  const query = encodeQuery(42, 'App.SkyDNS.local.', TYPE.A, { ednsSize: 4096 });
  const p = parseQuery(query);
  assert.ok(p.ok);
  if (!p.ok) return;
  const owner = 'App.SkyDNS.local.';
  const records: RR[] = [
    a(owner, '10.0.0.1'),
    { name: owner, type: TYPE.AAAA, class: CLASS.IN, ttl: 5, data: { kind: 'aaaa', address: '2001:db8::1' } },
    { name: owner, type: TYPE.CNAME, class: CLASS.IN, ttl: 5, data: { kind: 'name', target: 'x.App.SkyDNS.local.' } },
    { name: owner, type: TYPE.MX, class: CLASS.IN, ttl: 5, data: { kind: 'mx', preference: 10, exchange: 'mx.SkyDNS.local.' } },
    { name: owner, type: TYPE.SRV, class: CLASS.IN, ttl: 5, data: { kind: 'srv', priority: 10, weight: 50, port: 8080, target: 'web1.App.SkyDNS.local.' } },
    { name: owner, type: TYPE.TXT, class: CLASS.IN, ttl: 5, data: { kind: 'txt', texts: ['hello', 'x'.repeat(300)] } },
    { name: owner, type: TYPE.SOA, class: CLASS.IN, ttl: 5, data: { kind: 'soa', mname: 'ns.dns.skydns.local.', rname: 'hostmaster.skydns.local.', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } },
  ];
  const buf = encodeResponse({ id: 42, rcode: 0, aa: true, rd: true, ra: true, question: query.subarray(12, p.query.questionEnd), answer: records, edns: { size: 4096, dnssecOk: false }, maxSize: 4096 });
  const msg = decodeMessage(buf);
  assert.equal(msg.id, 42);
  assert.ok(msg.qr && msg.aa && msg.rd && msg.ra && !msg.tc);
  assert.equal(msg.questions[0]!.name, 'App.SkyDNS.local.');
  assert.deepEqual(msg.answer.map((rr) => `${rr.name} ${rdataText(rr)}`), [
    'App.SkyDNS.local. 10.0.0.1',
    'App.SkyDNS.local. 2001:db8::1',
    'App.SkyDNS.local. x.App.SkyDNS.local.',
    'App.SkyDNS.local. 10 mx.SkyDNS.local.',
    'App.SkyDNS.local. 10 50 8080 web1.App.SkyDNS.local.',
    `App.SkyDNS.local. "hello" "${'x'.repeat(255)}" "${'x'.repeat(45)}"`,
    'App.SkyDNS.local. ns.dns.skydns.local. hostmaster.skydns.local. 1 2 3 4 5',
  ]);
  assert.equal(msg.edns?.size, 4096);
  // owners and CNAME/MX targets point back at the question; only the SRV target (RFC 2782) is spelled out
  const spelled = buf.toString('latin1').split('SkyDNS').length - 1;
  assert.equal(spelled, 2, 'SkyDNS appears in the question and the SRV target only');
});

test('encodeResponse truncates answers at the budget with TC, keeping the OPT record', () => {
  const query = encodeQuery(9, 'many.skydns.local.', TYPE.A, { ednsSize: 512 });
  const p = parseQuery(query);
  assert.ok(p.ok);
  if (!p.ok) return;
  const answer = Array.from({ length: 100 }, (_, i) => a('many.skydns.local.', `10.0.${i >> 8}.${i & 255}`));
  const question = query.subarray(12, p.query.questionEnd);
  const udp = encodeResponse({ id: 9, rcode: 0, question, answer, edns: { size: 4096, dnssecOk: false }, maxSize: 512 });
  assert.ok(udp.length <= 512, `size ${udp.length}`);
  const m = decodeMessage(udp);
  assert.ok(m.tc, 'TC set');
  assert.ok(m.answer.length > 10 && m.answer.length < 100);
  assert.ok(m.edns, 'OPT kept');
  const tcp = decodeMessage(encodeResponse({ id: 9, rcode: 0, question, answer, maxSize: 65535 }));
  assert.equal(tcp.answer.length, 100);
  assert.ok(!tcp.tc);
  // additional records that do not fit are dropped without TC
  const extra = decodeMessage(encodeResponse({ id: 9, rcode: 0, question, answer: answer.slice(0, 2), additional: answer, maxSize: 512 }));
  assert.ok(!extra.tc);
  assert.equal(extra.answer.length, 2);
  assert.ok(extra.additional.length < 100);
});

test('encodeResponse leaves out a record with an unencodable name instead of failing', () => {
  const bad = a(`${'x'.repeat(70)}.skydns.local.`, '10.0.0.1');
  const m = decodeMessage(encodeResponse({ id: 1, rcode: 0, answer: [bad, a('ok.skydns.local.', '10.0.0.2')], maxSize: 512 }));
  assert.deepEqual(m.answer.map((rr) => rr.name), ['ok.skydns.local.']);
});

test('a TXT record too long for one record is left out; a long one is split into 255-octet strings', () => {
  const txt = (text: string): RR => ({ name: 't.skydns.local.', type: TYPE.TXT, class: CLASS.IN, ttl: 5, data: { kind: 'txt', texts: [text] } });
  const m = decodeMessage(encodeResponse({ id: 1, rcode: 0, answer: [txt('x'.repeat(200_000)), txt('y'.repeat(1000))], maxSize: 65535 }));
  assert.equal(m.answer.length, 1);
  const d = m.answer[0]!.data;
  assert.ok(d.kind === 'txt' && d.texts.length === 4 && d.texts.join('') === 'y'.repeat(1000));
});

test('extended rcodes go into the OPT record', () => {
  const m = decodeMessage(encodeResponse({ id: 1, rcode: RCODE.BADVERS, edns: { size: 1232, dnssecOk: false }, maxSize: 512 }));
  assert.equal(m.rcode, RCODE.BADVERS);
});

test('IPv6 text and bytes round-trip', () => {
  for (const ip of ['2001:db8::1', '::1', '::', 'fe80::1:2:3:4', '2001:db8:0:0:1:0:0:1', '1:2:3:4:5:6:7:8', '::ffff:10.0.0.1']) {
    const bytes = Uint8Array.from(ipv6Bytes(ip));
    assert.equal(bytes.length, 16, ip);
    const back = ipv6Text(bytes, 0);
    assert.deepEqual(Uint8Array.from(ipv6Bytes(back)), bytes, `${ip} -> ${back}`);
  }
  assert.equal(ipv6Text(Uint8Array.from(ipv6Bytes('2001:db8:0:0:1:0:0:1')), 0), '2001:db8::1:0:0:1');
});
