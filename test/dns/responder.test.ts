// The Responder without sockets: who may recurse (--allow-recursion), the stale TTL cap, and which
// in-zone answers the cache keeps (from a name's second ask).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Responder } from '../../dist/dns/responder.js';
import { Stats } from '../../dist/dns/metrics.js';
import { SkyIndex } from '../../dist/dns/records.js';
import { resolveSettings } from '../../dist/dns/settings.js';
import { decodeMessage, encodeQuery, RCODE, TYPE } from '../../dist/dns/wire.js';
import { parseSkyRecord } from '../../dist/catalog/values.js';

function responder(explicit: Record<string, unknown>): { r: Responder; stats: InstanceType<typeof Stats> } {
  // a forwarder that is never reached in time: forwarding shows as SERVFAIL, refusing as REFUSED
  const { settings } = resolveSettings({ domain: 'skydns.local', forward: ['127.0.0.1:9'], forwardTimeoutMs: 50, ...explicit }, undefined, []);
  const stats = new Stats();
  const r = new Responder(settings, stats, { error: () => undefined }, () => undefined);
  const parsed = parseSkyRecord('{"host":"10.0.0.1","port":80}');
  assert.ok(parsed.ok);
  r.update({ index: new SkyIndex([{ key: '/skydns/local/skydns/app/a', record: parsed.value }], '/skydns'), synced: true });
  return { r, stats };
}

async function ask(r: Responder, client: string, name: string, transport: 'udp' | 'tcp' = 'udp'): Promise<{ rcode: number; ttls: number[]; sync: boolean }> {
  const out = r.handle(encodeQuery(7, name, TYPE.A), transport, client);
  const sync = !(out instanceof Promise);
  const reply = await out;
  assert.ok(reply, 'a reply');
  const m = decodeMessage(reply);
  return { rcode: m.rcode, ttls: [...m.answer, ...m.authority].map((rr) => rr.ttl), sync };
}

const CLIENTS: { allow?: string[]; client: string; refused: boolean }[] = [
  { client: '127.0.0.1', refused: false },
  { client: '::1', refused: false },
  { client: '::ffff:127.0.0.1', refused: false },
  { client: '10.20.30.40', refused: false },
  { client: '172.16.0.9', refused: false },
  { client: '192.168.1.1', refused: false },
  { client: 'fd00::5', refused: false },
  { client: '8.8.8.8', refused: true },
  { client: '::ffff:8.8.8.8', refused: true },
  { client: '2001:db8::1', refused: true },
  { client: '', refused: true },
  { allow: ['10.0.0.0/8'], client: '127.0.0.1', refused: true },
  { allow: ['10.0.0.0/8'], client: '::ffff:10.1.1.1', refused: false },
  { allow: ['0.0.0.0/0', '::/0'], client: '8.8.8.8', refused: false },
  { allow: ['0.0.0.0/0', '::/0'], client: '2001:db8::1', refused: false },
];

test('--allow-recursion: out-of-zone names are forwarded only for allowed clients', async () => {
  for (const c of CLIENTS) {
    const { r, stats } = responder(c.allow ? { allowRecursion: c.allow } : {});
    for (const transport of ['udp', 'tcp'] as const) {
      const got = await ask(r, c.client, 'www.example.org.', transport);
      const label = `${c.client} with ${c.allow?.join(',') ?? 'the default'} over ${transport}`;
      if (c.refused) {
        assert.equal(got.rcode, RCODE.REFUSED, label);
        assert.ok(got.sync, `refused at once: ${label}`);
      } else {
        // forwarded (to a nameserver that does not answer)
        assert.equal(got.rcode, RCODE.SERVFAIL, label);
        assert.ok(!got.sync, `forwarded: ${label}`);
      }
    }
    assert.equal(stats.recursionRefused, c.refused ? 2 : 0);
  }
});

test('--allow-recursion: names in the domain are answered for every client', async () => {
  const { r } = responder({ allowRecursion: ['10.0.0.0/8'] });
  for (const client of ['8.8.8.8', '2001:db8::1', '127.0.0.1', '']) {
    assert.deepEqual(await ask(r, client, 'a.app.skydns.local.'), { rcode: RCODE.NOERROR, ttls: [30], sync: true }, client);
    const missing = await ask(r, client, 'missing.skydns.local.');
    assert.equal(missing.rcode, RCODE.NXDOMAIN);
  }
});

test('stale: TTLs capped at staleTtl while the store is lost, normal again after (cached answers dropped both ways)', async () => {
  const { r } = responder({ staleTtl: 5 });
  assert.deepEqual((await ask(r, '8.8.8.8', 'a.app.skydns.local.')).ttls, [30]);
  r.update({ stale: true });
  assert.deepEqual((await ask(r, '8.8.8.8', 'a.app.skydns.local.')).ttls, [5]);
  assert.deepEqual((await ask(r, '8.8.8.8', 'missing.skydns.local.')).ttls, [5], 'negative answers too');
  r.update({ stale: false });
  assert.deepEqual((await ask(r, '8.8.8.8', 'a.app.skydns.local.')).ttls, [30]);
  assert.deepEqual((await ask(r, '8.8.8.8', 'missing.skydns.local.')).ttls, [60]);
});

test('forwarding is capped: beyond maxForwards in flight, SERVFAIL at once and counted', { timeout: 30_000 }, async () => {
  const { createSocket } = await import('node:dgram');
  const { MAX_FORWARDS } = await import('../../dist/dns/forward.js');
  assert.equal(MAX_FORWARDS, 1024);
  // a nameserver that never answers
  const blackhole = createSocket('udp4');
  await new Promise<void>((resolve) => blackhole.bind(0, '127.0.0.1', () => resolve()));
  try {
    const { settings } = resolveSettings({ domain: 'skydns.local', forward: [`127.0.0.1:${blackhole.address().port}`], forwardTimeoutMs: 1000 }, undefined, []);
    const stats = new Stats();
    const r = new Responder(settings, stats, { error: () => undefined }, () => undefined, 4);
    r.update({ synced: true });
    const t0 = performance.now();
    const pending = Array.from({ length: 10 }, (_, i) => {
      const out = r.handle(encodeQuery(i, `q${i}.example.test.`, TYPE.A), 'udp', '127.0.0.1');
      assert.ok(out instanceof Promise, 'forwarded (or shed) asynchronously');
      return out.then((reply) => ({ rcode: decodeMessage(reply!).rcode, ms: performance.now() - t0 }));
    });
    const results = await Promise.all(pending);
    assert.ok(results.every((x) => x.rcode === RCODE.SERVFAIL));
    const shed = results.filter((x) => x.ms < 500);
    assert.equal(shed.length, 6, `answered at once: ${results.map((x) => x.ms.toFixed(0))}`);
    assert.equal(stats.forwardsShed, 6);
    assert.equal(stats.snapshot().forwardsShed, 6);
    assert.equal(stats.forwarded[2], 4, 'four timed out at the nameserver');
    // the slots are free again
    const again = r.handle(encodeQuery(99, 'again.example.test.', TYPE.A), 'udp', '127.0.0.1');
    await again;
    assert.equal(stats.forwardsShed, 6);
    assert.equal(stats.forwarded[2], 5);
  } finally {
    blackhole.close();
  }
});

test('/skydns/config no_rec: names outside the domain get SERVFAIL with RA clear, as SkyDNS; REFUSED stays for clients outside --allow-recursion', async () => {
  const { settings } = resolveSettings({ domain: 'skydns.local', forward: ['127.0.0.1:9'], forwardTimeoutMs: 50 }, { no_rec: true }, []);
  assert.equal(settings.noRecursion, true);
  const stats = new Stats();
  const r = new Responder(settings, stats, { error: () => undefined }, () => undefined);
  const parsed = parseSkyRecord('{"host":"10.0.0.1","port":80}');
  assert.ok(parsed.ok);
  r.update({ index: new SkyIndex([{ key: '/skydns/local/skydns/app/a', record: parsed.value }], '/skydns'), synced: true });
  for (const transport of ['udp', 'tcp'] as const) {
    const out = r.handle(encodeQuery(7, 'www.example.org.', TYPE.A), transport, '127.0.0.1');
    assert.ok(!(out instanceof Promise) && out, 'answered at once, nothing forwarded');
    const m = decodeMessage(out);
    assert.equal(m.rcode, RCODE.SERVFAIL, transport);
    assert.equal(m.ra, false);
    const outside = r.handle(encodeQuery(8, 'www.example.org.', TYPE.A), transport, '8.8.8.8');
    assert.equal(decodeMessage((await outside)!).rcode, RCODE.REFUSED, `outside --allow-recursion over ${transport}`);
    assert.equal(decodeMessage((await r.handle(encodeQuery(9, 'a.app.skydns.local.', TYPE.A), transport, '8.8.8.8'))!).rcode, RCODE.NOERROR);
  }
  assert.equal(stats.recursionRefused, 2);
});

test('the answer cache keeps an answer from its second ask; names asked once never enter it', async () => {
  const { r, stats } = responder({});
  // 500 one-off names (a scan): answered, none cached
  for (let i = 0; i < 500; i++) assert.equal((await ask(r, '127.0.0.1', `n${i}.app.skydns.local.`)).rcode, RCODE.NXDOMAIN);
  assert.equal(r.cacheSize, 0);
  assert.equal(stats.cacheHits, 0);
  // a name asked again: cached at the second ask, a hit from the third on
  await ask(r, '127.0.0.1', 'a.app.skydns.local.');
  assert.equal(r.cacheSize, 0);
  await ask(r, '127.0.0.1', 'a.app.skydns.local.');
  assert.equal(r.cacheSize, 1);
  assert.equal(stats.cacheHits, 0);
  assert.deepEqual(await ask(r, '127.0.0.1', 'a.app.skydns.local.'), { rcode: RCODE.NOERROR, ttls: [30], sync: true });
  assert.equal(stats.cacheHits, 1);
});

test('--allow-recursion verdicts are remembered per client, and forgotten when the ranges change', async () => {
  const { r, stats } = responder({ allowRecursion: ['10.0.0.0/8'] });
  for (let i = 0; i < 2; i++) assert.equal((await ask(r, '192.168.1.1', 'www.example.org.')).rcode, RCODE.REFUSED);
  assert.equal(stats.recursionRefused, 2);
  // the same client, once its range is allowed: forwarded (SERVFAIL from the silent nameserver)
  const { settings } = resolveSettings({ domain: 'skydns.local', forward: ['127.0.0.1:9'], forwardTimeoutMs: 50, allowRecursion: ['192.168.0.0/16'] }, undefined, []);
  r.update({ settings });
  assert.equal((await ask(r, '192.168.1.1', 'www.example.org.')).rcode, RCODE.SERVFAIL);
  assert.equal((await ask(r, '10.1.1.1', 'www.example.org.')).rcode, RCODE.REFUSED);
  assert.equal(stats.recursionRefused, 3);
});
