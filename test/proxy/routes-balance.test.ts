// Balancing policies per route against real upstreams: least-conn with one slow instance,
// ip-hash stable per client address and moving about 1/N on a new instance, sticky cookies
// that re-stick when the instance dies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster } from '../harness/etcd.ts';
import { waitFor } from '../harness/wait.ts';
import { startProxy, type ProxyUnderTest } from './fixtures.ts';
import { get, startEcho, type EchoUpstream } from './routes-fixtures.ts';

let etcd: EtcdCluster;
let proxy: ProxyUnderTest;
const cleanup: (() => Promise<unknown>)[] = [];

async function service(name: string, count: number): Promise<EchoUpstream[]> {
  const out: EchoUpstream[] = [];
  for (let i = 1; i <= count; i++) {
    const u = await startEcho(`${name}${i}`);
    cleanup.push(() => u.close());
    await etcd.put(`/services/${name}/${name}${i}`, `127.0.0.1:${u.port}`);
    out.push(u);
  }
  return out;
}

let lc: EchoUpstream[];
let rr: EchoUpstream[];
let ih: EchoUpstream[];
let ck: EchoUpstream[];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  lc = await service('lc', 2);
  rr = await service('rr', 2);
  ih = await service('ih', 3);
  ck = await service('ck', 3);
  await etcd.put('/beacon/routes/lc', JSON.stringify({ host: 'lc.test', service: 'lc', balance: 'least-conn' }));
  await etcd.put('/beacon/routes/rr', JSON.stringify({ host: 'rr.test', service: 'rr' }));
  await etcd.put('/beacon/routes/ih', JSON.stringify({ host: 'ih.test', service: 'ih', balance: 'ip-hash' }));
  await etcd.put('/beacon/routes/ck', JSON.stringify({ host: 'ck.test', service: 'ck', balance: 'cookie', cookie: 'sid' }));
  proxy = await startProxy(etcd.url, ['--fail-timeout', '5s']);
  cleanup.push(() => proxy.beacon.stop());
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

/** `clients` loops of sequential requests, `each` per loop; returns answers by upstream name. */
async function load(host: string, clients: number, each: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < each; i++) {
        const r = await get(proxy.port, { host });
        assert.equal(r.status, 200);
        const name = r.text.split(' ')[0]!;
        counts[name] = (counts[name] ?? 0) + 1;
      }
    }),
  );
  return counts;
}

test('least-conn sends fewer requests to a slow instance; round robin does not', { timeout: 60_000 }, async () => {
  lc[0]!.delayMs = 300;
  rr[0]!.delayMs = 300;
  const least = await load('lc.test', 4, 12);
  const robin = await load('rr.test', 4, 12);
  console.log(`# least-conn ${JSON.stringify(least)}, round-robin ${JSON.stringify(robin)}`);
  // 4 clients, one instance 300 ms slow: least-conn keeps at most ~1 request there at a time
  assert.ok((least.lc1 ?? 0) < 48 * 0.25, `least-conn gave the slow instance ${least.lc1} of 48`);
  assert.ok((robin.rr1 ?? 0) >= 48 * 0.4, `round robin gave the slow instance ${robin.rr1} of 48`);
});

const ADDRESSES = Array.from({ length: 60 }, (_, i) => `127.0.${10 + Math.floor(i / 20)}.${(i % 20) + 1}`);

async function ipMap(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const a of ADDRESSES) out.set(a, (await get(proxy.port, { host: 'ih.test', localAddress: a })).text.split(' ')[0]!);
  return out;
}

test('ip-hash: each client address sticks to one instance; a new instance takes about 1/N of them', { timeout: 60_000 }, async () => {
  const first = await ipMap();
  const again = await ipMap();
  assert.deepEqual(again, first, 'the same address went elsewhere');
  const spread = new Set(first.values());
  assert.equal(spread.size, 3, 'every instance gets clients');
  const [extra] = await (async () => {
    const u = await startEcho('ih4');
    cleanup.push(() => u.close());
    await etcd.put('/services/ih/ih4', `127.0.0.1:${u.port}`);
    return [u];
  })();
  await waitFor('the fourth instance in rotation', async () => [...(await ipMap()).values()].includes('ih4'), 5000);
  const after4 = await ipMap();
  let moved = 0;
  for (const [a, before] of first) {
    const now = after4.get(a)!;
    if (now !== before) {
      moved++;
      assert.equal(now, 'ih4', `${a} moved between old instances (${before} -> ${now})`);
    }
  }
  console.log(`# ip-hash: ${moved} of ${ADDRESSES.length} clients moved to the 4th instance (ideal ${ADDRESSES.length / 4})`);
  assert.ok(moved >= 5 && moved <= 30, `${moved} of 60 moved`);
  assert.ok(extra.hits > 0);
});

test('cookie: a client sticks to the instance its cookie names; when it dies the request goes elsewhere and the cookie is reissued', { timeout: 60_000 }, async () => {
  const first = await get(proxy.port, { host: 'ck.test' });
  const setCookie = first.headers['set-cookie']?.[0];
  assert.ok(setCookie, 'first response sets the sticky cookie');
  const m = /^sid=([A-Za-z0-9_-]+); Path=\/; HttpOnly; SameSite=Lax$/.exec(setCookie);
  assert.ok(m, setCookie);
  const owner = first.text.split(' ')[0]!;
  assert.doesNotMatch(m[1]!, /127\.0\.0\.1|\d{4,5}/, 'the cookie is not the address');
  for (let i = 0; i < 20; i++) {
    const r = await get(proxy.port, { host: 'ck.test', headers: { cookie: `other=1; sid=${m[1]}` } });
    assert.equal(r.text.split(' ')[0], owner, 'stuck');
    assert.equal(r.headers['set-cookie'], undefined, 'no new cookie while it holds');
  }
  // without the cookie, round robin spreads clients
  const spread = new Set<string>();
  for (let i = 0; i < 6; i++) spread.add((await get(proxy.port, { host: 'ck.test' })).text.split(' ')[0]!);
  assert.equal(spread.size, 3);
  // the instance dies (still registered): the request is retried elsewhere and re-stuck there
  await ck.find((u) => u.name === owner)!.close();
  const moved = await get(proxy.port, { host: 'ck.test', headers: { cookie: `sid=${m[1]}` } });
  assert.equal(moved.status, 200);
  const next = moved.text.split(' ')[0]!;
  assert.notEqual(next, owner);
  const reissued = /^sid=([A-Za-z0-9_-]+);/.exec(moved.headers['set-cookie']?.[0] ?? '');
  assert.ok(reissued && reissued[1] !== m[1], 'a new cookie naming the new instance');
  for (let i = 0; i < 10; i++) {
    const r = await get(proxy.port, { host: 'ck.test', headers: { cookie: `sid=${reissued[1]}` } });
    assert.equal(r.text.split(' ')[0], next);
  }
  // deregistered instead: the same
  await etcd.del(`/services/ck/${next}`);
  await waitFor('the instance gone from rotation', async () => (await get(proxy.port, { host: 'ck.test', headers: { cookie: `sid=${reissued[1]}` } })).text.split(' ')[0] !== next, 5000);
  const third = await get(proxy.port, { host: 'ck.test', headers: { cookie: `sid=${reissued[1]}` } });
  assert.match(third.headers['set-cookie']?.[0] ?? '', /^sid=/);
});
