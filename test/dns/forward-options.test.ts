// A client's EDNS options (a DNS cookie here) are its own: the query relayed for the shared cache
// carries none, so an upstream that echoes them (as cookie-aware servers do) cannot put one
// client's cookie into the answer another client gets, cached or coalesced. No sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayQuery } from '../../dist/dns/forward-cache.js';
import { ForwardResolver } from '../../dist/dns/forward-resolver.js';
import { Stats } from '../../dist/dns/metrics.js';
import { CLASS, encodeQuery, encodeResponse, parseQuery, RCODE, TYPE, type Query } from '../../dist/dns/wire.js';

/** `encodeQuery` with EDNS, plus a COOKIE option (code 10) carrying `cookie` (8 bytes) */
function withCookie(id: number, name: string, cookie: string, dnssecOk = false): Buffer {
  const base = encodeQuery(id, name, TYPE.A, { ednsSize: 1232 });
  const option = Buffer.concat([Buffer.from([0, 10, 0, 8]), Buffer.from(cookie, 'latin1')]);
  const out = Buffer.concat([base, option]);
  out.writeUInt16BE(option.length, base.length - 2); // the OPT record's rdlength
  if (dnssecOk) out[base.length - 4] = 0x80;
  return out;
}

/** the part of a query from the end of its question (its additional records), as an upstream echoing them would send */
function additional(query: Uint8Array): Buffer {
  const p = parseQuery(query);
  assert.ok(p.ok);
  return Buffer.from(query.subarray(p.query.questionEnd));
}

test('relayQuery: key parts only; the OPT keeps size and DO, loses every option', () => {
  const msg = withCookie(7, 'WWW.example.org.', 'AAAAAAAA', true);
  const p = parseQuery(msg);
  assert.ok(p.ok);
  const out = relayQuery(p.query as Query, msg, 0x1234);
  const back = parseQuery(out);
  assert.ok(back.ok);
  assert.equal(back.query.id, 0x1234);
  assert.equal(back.query.name, 'WWW.example.org.');
  assert.equal(back.query.rd, true);
  assert.deepEqual(back.query.edns, { size: 1232, version: 0, dnssecOk: true });
  assert.equal(out.indexOf('AAAAAAAA'), -1);
  assert.equal(out.length, back.query.questionEnd + 11);
  const plain = encodeQuery(9, 'x.example.org.', TYPE.A, { rd: false });
  const pp = parseQuery(plain);
  assert.ok(pp.ok);
  const relayed = relayQuery(pp.query as Query, plain, 1);
  assert.equal(relayed.length, pp.query.questionEnd);
  assert.equal(relayed[2]! & 0x01, 1, 'RD set');
  assert.equal(relayed.readUInt16BE(10), 0);
});

test('ForwardResolver: one client cookie never reaches another client (cached and coalesced)', async () => {
  const pending: (() => void)[] = [];
  let hold = true;
  const sent: Buffer[] = [];
  const forwarder = {
    relay(query: Uint8Array): Promise<Buffer | undefined> {
      sent.push(Buffer.from(query));
      const p = parseQuery(query);
      assert.ok(p.ok);
      const q = p.query;
      const body = encodeResponse({
        id: q.id,
        rcode: RCODE.NOERROR,
        rd: true,
        ra: true,
        question: Buffer.from(query).subarray(12, q.questionEnd),
        answer: [{ name: q.name, type: TYPE.A, class: CLASS.IN, ttl: 300, data: { kind: 'a', address: '192.0.2.1' } }],
        maxSize: 65535,
      });
      // echo the query's additional records (its OPT, options included), as cookie servers do
      const extra = additional(query);
      const reply = Buffer.concat([body, extra]);
      reply.writeUInt16BE(extra.length > 0 ? 1 : 0, 10);
      if (!hold) return Promise.resolve(reply);
      return new Promise((resolve) => pending.push(() => resolve(reply)));
    },
  };
  const r = new ForwardResolver({ forwarder: forwarder as never, config: () => ({ size: 100, maxTtl: 3600, staleMax: 60 }), stats: new Stats() });
  const ask = async (msg: Buffer): Promise<Buffer> => {
    const p = parseQuery(msg);
    assert.ok(p.ok);
    const out = await r.resolve(p.query as Query, msg, 'udp', 1232);
    assert.ok(out);
    return out;
  };
  const first = ask(withCookie(1, 'www.example.org.', 'AAAAAAAA'));
  const joined = ask(withCookie(2, 'www.example.org.', 'BBBBBBBB'));
  hold = false;
  pending.splice(0).forEach((f) => f());
  const [a, b] = await Promise.all([first, joined]);
  const c = await ask(withCookie(3, 'www.example.org.', 'CCCCCCCC'));
  assert.equal(sent.length, 1, 'one relay for all three');
  assert.equal(sent[0]!.indexOf('AAAAAAAA'), -1, 'the relayed query carries no client option');
  for (const [reply, own] of [[a, 'A'], [b, 'B'], [c, 'C']] as const) {
    for (const other of ['A', 'B', 'C'].filter((x) => x !== own)) assert.equal(reply.indexOf(other.repeat(8)), -1, `client ${own} got ${other}'s cookie`);
  }
});
