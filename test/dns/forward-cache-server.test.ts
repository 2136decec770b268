// The forward cache end to end (issue 19): real beacon dns processes, real dig, and a counting
// upstream nameserver on loopback. Once per TTL, TTL count-down, negative caching by the SOA
// minimum, SERVFAIL and TC not cached, the LRU bound, coalescing of 100 identical queries,
// --allow-recursion before the cache, serve-stale with TTL 30 then SERVFAIL, prefetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBeacon } from '../harness/beacon.ts';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { decodeMessage, encodeQuery, RCODE, TYPE, type Message } from '../../dist/dns/wire.js';
import { CountingUpstream, rrA, rrSoa, type Answerer } from './counting-upstream.ts';
import { dig, values } from './helpers.ts';

const ZONE = 'example.test.';

/** what the upstream knows: see each name's use below */
const answers: Answerer = ({ name, type, n }) => {
  const soa = [rrSoa(ZONE, 300, 2)];
  const label = name.split('.')[0]!;
  if (label.startsWith('nx')) return { rcode: RCODE.NXDOMAIN, authority: soa };
  if (label === 'nodata' && type === TYPE.AAAA) return { authority: soa };
  if (type !== TYPE.A) return { authority: soa };
  switch (label) {
    case 'ttl2':
      return { answer: [rrA(name, 2, `192.0.2.${n + 1}`)] };
    case 'stale':
      return { answer: [rrA(name, 1, '192.0.2.50')] };
    case 'hot':
      return { answer: [rrA(name, 4, `192.0.2.${100 + n}`)] };
    case 'fail':
      return { rcode: RCODE.SERVFAIL };
    case 'tc':
      return { truncate: true, answer: [rrA(name, 120, '192.0.2.60')] };
    case 'slow':
      return { delayMs: 400, answer: [rrA(name, 120, '192.0.2.70')] };
    default:
      return { answer: [rrA(name, 120, '192.0.2.7')] };
  }
};

async function metrics(admin: number): Promise<Record<string, number>> {
  const body = (await httpGet(admin, '127.0.0.1', '/metrics')).body;
  const out: Record<string, number> = {};
  for (const line of body.split('\n')) {
    const m = /^(beacon_dns_forward_cache_\w+) (\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** raw UDP queries from one socket; replies matched by id */
async function udpClient(port: number, from = '127.0.0.1'): Promise<{ ask(id: number, name: string): Promise<Message & { raw: Buffer }>; close(): void }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, from, () => resolve()));
  const waiting = new Map<number, (m: Buffer) => void>();
  socket.on('message', (m) => waiting.get(m.readUInt16BE(0))?.(m));
  return {
    ask: (id, name) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to id ${id} (${name})`)), 5000);
        waiting.set(id, (raw) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve({ ...decodeMessage(raw), raw });
        });
        socket.send(encodeQuery(id, name, TYPE.A, { ednsSize: 1232 }), port, '127.0.0.1');
      }),
    close: () => socket.close(),
  };
}

test('forward cache: once per TTL, count-down, negative caching, coalescing, LRU, serve-stale, prefetch', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-fwdcache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = await CountingUpstream.start(await freePort(true), answers);
  t.after(() => upstream.stop());
  const outage = await CountingUpstream.start(await freePort(true), answers);
  t.after(() => outage.stop());

  const start = async (name: string, up: CountingUpstream, extra: string[]): Promise<{ port: number; admin: number }> => {
    const port = await freePort(true);
    const admin = await freePort();
    const store = join(dir, name);
    const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--store', `file://${store}`, '--forward', `127.0.0.1:${up.port}`, '--udp-workers', '0', ...extra]);
    t.after(() => dns.stop());
    await dns.waitForLog('dns index ready');
    return { port, admin };
  };
  const [main, small, stale] = await Promise.all([
    // only 127.0.0.1 may recurse: 127.0.0.2 is a client outside --allow-recursion
    start('main', upstream, ['--allow-recursion', '127.0.0.1/32']),
    start('small', upstream, ['--forward-cache-size', '3']),
    start('stale', outage, ['--forward-stale-max', '3s', '--forward-timeout', '200ms']),
  ]);

  await t.test('repeated queries reach the upstream once per TTL (UDP and TCP share the entry)', async () => {
    const first = await dig(main.port, 'ttl2.example.test', 'A');
    const storedAt = Date.now();
    assert.equal(first.status, 'NOERROR', first.raw);
    assert.deepEqual(values(first, 'A'), ['192.0.2.1']);
    for (const transport of [[], ['+tcp'], []]) {
      const again = await dig(main.port, 'ttl2.example.test', 'A', ...transport);
      assert.deepEqual(values(again, 'A'), ['192.0.2.1'], again.raw);
    }
    assert.equal(upstream.count('ttl2.example.test'), 1);
    await sleep(Math.max(0, storedAt + 2300 - Date.now()));
    const after = await dig(main.port, 'ttl2.example.test', 'A');
    assert.deepEqual(values(after, 'A'), ['192.0.2.2'], 'expired: asked again');
    assert.equal(upstream.count('ttl2.example.test'), 2);
  });

  await t.test('TTLs in cached replies count down', async () => {
    const first = await dig(main.port, 'long.example.test', 'A');
    assert.equal(first.answer[0]?.split(' ')[1], '120', first.raw);
    await sleep(2100);
    const later = await dig(main.port, 'long.example.test', 'A');
    const ttl = Number(later.answer[0]?.split(' ')[1]);
    assert.ok(ttl <= 118 && ttl >= 110, `TTL ${ttl} after 2 s`);
    assert.equal(upstream.count('long.example.test'), 1);
  });

  await t.test('NXDOMAIN and NODATA are cached for the SOA minimum (2 s here, SOA TTL 300)', async () => {
    const nx = await dig(main.port, 'nx1.example.test', 'A');
    const nodata = await dig(main.port, 'nodata.example.test', 'AAAA');
    const storedAt = Date.now();
    assert.equal(nx.status, 'NXDOMAIN', nx.raw);
    assert.equal(nodata.status, 'NOERROR', nodata.raw);
    assert.deepEqual(nodata.answer, []);
    const nx2 = await dig(main.port, 'nx1.example.test', 'A');
    const nodata2 = await dig(main.port, 'nodata.example.test', 'AAAA');
    assert.equal(nx2.status, 'NXDOMAIN');
    assert.equal(nodata2.status, 'NOERROR');
    const soaTtl = Number(nx2.authority[0]?.split(' ')[1]);
    assert.ok(soaTtl <= 2, `the cached SOA says at most the negative TTL, got ${soaTtl}`);
    assert.equal(upstream.count('nx1.example.test'), 1);
    assert.equal(upstream.count('nodata.example.test', TYPE.AAAA), 1);
    await sleep(Math.max(0, storedAt + 2300 - Date.now()));
    await dig(main.port, 'nx1.example.test', 'A');
    await dig(main.port, 'nodata.example.test', 'AAAA');
    assert.equal(upstream.count('nx1.example.test'), 2);
    assert.equal(upstream.count('nodata.example.test', TYPE.AAAA), 2);
  });

  await t.test('SERVFAIL and truncated replies are not cached; the TCP answer is', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await dig(main.port, 'fail.example.test', 'A')).status, 'SERVFAIL');
    assert.equal(upstream.count('fail.example.test'), 2);
    for (let i = 0; i < 2; i++) {
      const r = await dig(main.port, 'tc.example.test', 'A', '+ignore');
      assert.ok(r.flags.includes('tc'), r.raw);
    }
    assert.equal(upstream.count('tc.example.test', TYPE.A, 'udp'), 2);
    const full = await dig(main.port, 'tc.example.test', 'A', '+tcp');
    assert.deepEqual(values(full, 'A'), ['192.0.2.60']);
    const udp = await dig(main.port, 'tc.example.test', 'A', '+ignore');
    assert.deepEqual(values(udp, 'A'), ['192.0.2.60'], 'the TCP answer serves UDP clients it fits');
    assert.equal(upstream.count('tc.example.test'), 3);
  });

  await t.test('100 identical concurrent queries: one upstream query, each reply with its own id and case', async () => {
    const client = await udpClient(main.port);
    t.after(() => client.close());
    const spell = (i: number): string => [...'slow.example.test.'].map((c, j) => ((i >> j % 7) & 1 ? c.toUpperCase() : c)).join('');
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => client.ask(1000 + i, spell(i))));
    replies.forEach((r, i) => {
      assert.equal(r.id, 1000 + i);
      assert.equal(r.rcode, RCODE.NOERROR);
      assert.equal(r.questions[0]!.name, spell(i), 'the question as asked');
      assert.deepEqual(r.answer.map((rr) => rr.name), [spell(i)]);
    });
    assert.equal(upstream.count('slow.example.test'), 1);
  });

  await t.test('--allow-recursion still decides: a cached name is REFUSED to a client outside it', async () => {
    assert.equal((await dig(main.port, 'long.example.test', 'A')).status, 'NOERROR');
    const refused = await dig(main.port, 'long.example.test', 'A', '-b', '127.0.0.2');
    assert.equal(refused.status, 'REFUSED', refused.raw);
    // the same bytes as a query answered from the cache before (dig's cookies differ every run)
    const allowed = await udpClient(main.port);
    const outside = await udpClient(main.port, '127.0.0.2');
    t.after(() => allowed.close());
    t.after(() => outside.close());
    for (let i = 0; i < 2; i++) assert.equal((await allowed.ask(7, 'long.example.test.')).rcode, RCODE.NOERROR);
    assert.equal((await outside.ask(7, 'long.example.test.')).rcode, RCODE.REFUSED);
  });

  await t.test('metrics and /status', async () => {
    const m = await metrics(main.admin);
    assert.ok(m.beacon_dns_forward_cache_hits_total! >= 8, JSON.stringify(m));
    // a query that joined one in flight missed the cache too
    assert.ok(m.beacon_dns_forward_cache_misses_total! >= 100, JSON.stringify(m));
    assert.ok(m.beacon_dns_forward_cache_entries! >= 5, JSON.stringify(m));
    assert.equal(m.beacon_dns_forward_cache_stale_served_total, 0);
    const status = JSON.parse((await httpGet(main.admin, '127.0.0.1', '/status')).body) as { forwardCache: Record<string, unknown> };
    assert.equal(status.forwardCache.size, 10_000);
    assert.equal(status.forwardCache.perThread, true);
    assert.equal(status.forwardCache.entries, m.beacon_dns_forward_cache_entries);
  });

  await t.test('--forward-cache-size bounds the entries, least recently used out first', async () => {
    for (const name of ['l1', 'l2', 'l3']) await dig(small.port, `${name}.example.test`, 'A');
    await dig(small.port, 'l1.example.test', 'A'); // l1 used: l2 is now the oldest
    await dig(small.port, 'l4.example.test', 'A'); // evicts l2
    for (const name of ['l1', 'l3', 'l4']) await dig(small.port, `${name}.example.test`, 'A');
    assert.deepEqual(['l1', 'l2', 'l3', 'l4'].map((n) => upstream.count(`${n}.example.test`)), [1, 1, 1, 1]);
    await dig(small.port, 'l2.example.test', 'A');
    assert.equal(upstream.count('l2.example.test'), 2, 'l2 was evicted');
    assert.equal((await metrics(small.admin)).beacon_dns_forward_cache_entries, 3);
  });

  await t.test('upstream down: stale answers with TTL 30 (counted), SERVFAIL past --forward-stale-max', async () => {
    const fresh = await dig(stale.port, 'stale.example.test', 'A');
    const storedAt = Date.now();
    assert.deepEqual(values(fresh, 'A'), ['192.0.2.50']);
    await outage.stop();
    await sleep(Math.max(0, storedAt + 1300 - Date.now()));
    for (let i = 0; i < 2; i++) {
      const old = await dig(stale.port, 'stale.example.test', 'A');
      assert.equal(old.status, 'NOERROR', old.raw);
      assert.deepEqual(old.answer, ['stale.example.test. 30 A 192.0.2.50']);
    }
    assert.equal((await metrics(stale.admin)).beacon_dns_forward_cache_stale_served_total, 2);
    // stored at storedAt with TTL 1, stale for 3 s more: dead after storedAt + 4 s
    await sleep(Math.max(0, storedAt + 4500 - Date.now()));
    const dead = await dig(stale.port, 'stale.example.test', 'A');
    assert.equal(dead.status, 'SERVFAIL', dead.raw);
    // and back: fresh answers again
    await outage.listen();
    await waitFor('upstream answers again', async () => (await dig(stale.port, 'stale.example.test', 'A')).status === 'NOERROR', 10_000, 200);
  });

  await t.test('prefetch: a hot entry is refreshed before it expires, so it never misses', async () => {
    const client = await udpClient(main.port);
    t.after(() => client.close());
    const before = await metrics(main.admin);
    const started = Date.now();
    let id = 0;
    const seen = new Set<string>();
    // TTL 4: popular after 3 hits, refreshed in the last second of its TTL
    while (Date.now() - started < 5500) {
      const r = await client.ask(++id, 'hot.example.test.');
      assert.equal(r.rcode, RCODE.NOERROR);
      assert.equal(r.answer.length, 1);
      seen.add(r.answer[0]!.data.kind === 'a' ? r.answer[0]!.data.address : '');
      await sleep(100);
    }
    const hot = upstream.of('hot.example.test');
    assert.ok(hot.length >= 2, `refreshed (${hot.length} upstream queries)`);
    assert.ok(hot[1]!.at < hot[0]!.at + 4000, `refreshed ${hot[1]!.at - hot[0]!.at} ms after it was stored, before its 4 s TTL ran out`);
    const after = await metrics(main.admin);
    assert.equal(after.beacon_dns_forward_cache_misses_total! - before.beacon_dns_forward_cache_misses_total!, 1, 'only the first query missed');
    assert.ok(after.beacon_dns_forward_cache_prefetches_total! >= 1);
    assert.deepEqual([...seen].sort(), ['192.0.2.100', '192.0.2.101'], 'the refreshed answer took over');
  });
});
