// Routes in etcd, applied live: host + path matching, strip, redirects, header edits,
// normalised paths, bad values skipped and counted; a real etcd and real upstreams.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { EtcdCluster } from '../harness/etcd.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { startProxy, type ProxyUnderTest } from './fixtures.ts';
import { get, startEcho, type EchoUpstream } from './routes-fixtures.ts';

let etcd: EtcdCluster;
let proxy: ProxyUnderTest;
const ups = new Map<string, EchoUpstream>();
const cleanup: (() => Promise<unknown>)[] = [];

const ROUTES: Record<string, unknown> = {
  'www-root': { host: 'www.example.test', service: 'web' },
  'www-api': { host: 'www.example.test', path: '/api', service: 'api', stripPath: true },
  'www-api-keep': { host: 'www.example.test', path: '/api/keep', service: 'api' },
  'wild': { host: '*.example.test', service: 'wild' },
  'wild-deep': { host: '*.eu.example.test', service: 'eu' },
  'any-admin': { path: '/admin', service: 'admin' },
  'old-keep': { host: 'old.example.test', redirect: { to: 'https://new.example.test', code: 308, keepPath: true } },
  'old-bare': { host: 'gone.example.test', redirect: { to: 'https://new.example.test/landing', code: 302 } },
  'edits': {
    host: 'edit.example.test',
    service: 'web',
    headers: { request: { set: { 'X-Env': 'prod' }, remove: ['X-Secret'] }, response: { set: { 'X-Frame-Options': 'DENY' }, remove: ['Server'] } },
  },
  'dup-low': { host: 'dup.example.test', service: 'web', priority: 1 },
  'dup-high': { host: 'dup.example.test', service: 'api', priority: 9 },
};

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  for (const name of ['web', 'api', 'wild', 'eu', 'admin', 'flag', 'live']) {
    const u = await startEcho(name);
    ups.set(name, u);
    cleanup.push(() => u.close());
    await etcd.put(`/services/${name}/${name}1`, `127.0.0.1:${u.port}`);
  }
  for (const [name, value] of Object.entries(ROUTES)) await etcd.put(`/beacon/routes/${name}`, JSON.stringify(value));
  proxy = await startProxy(etcd.url, ['--route', 'flag.example.test/f=flag', '--route', 'dup.example.test=flag', '--log-level', 'debug']);
  cleanup.push(() => proxy.beacon.stop());
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

const at = (host: string, path = '/', headers?: Record<string, string>) => get(proxy.port, { host, path, ...(headers ? { headers } : {}) });

test('host + path routes: longest prefix on / boundaries; stripPath removes the prefix', { timeout: 30_000 }, async () => {
  const cases: [host: string, path: string, body: string][] = [
    ['www.example.test', '/', 'web /'],
    ['www.example.test', '/apix', 'web /apix'],
    ['www.example.test', '/api', 'api /'],
    ['www.example.test', '/api/', 'api /'],
    ['www.example.test', '/api/v1/users?x=1', 'api /v1/users?x=1'],
    ['www.example.test', '/api/keep/x', 'api /api/keep/x'],
    ['WWW.Example.test:8080', '/api/v1', 'api /v1'],
  ];
  for (const [host, path, body] of cases) {
    const r = await at(host, path);
    assert.equal(r.status, 200, `${host}${path}`);
    assert.equal(r.text, body, `${host}${path}`);
  }
});

test('wildcard hosts, the longest wildcard first; host-less routes after them; flags merged', { timeout: 30_000 }, async () => {
  assert.equal((await at('shop.example.test')).text, 'wild /');
  assert.equal((await at('a.b.example.test')).text, 'wild /');
  assert.equal((await at('x.eu.example.test')).text, 'eu /');
  assert.equal((await at('unknown.test', '/admin/users')).text, 'admin /admin/users');
  assert.equal((await at('flag.example.test', '/f/1')).text, 'flag /f/1');
  assert.equal((await at('flag.example.test', '/')).text, 'wild /');
  assert.equal((await at('unknown.test', '/')).status, 404);
});

test('same host and path: priority decides over source; /status lists the shadowed routes', { timeout: 30_000 }, async () => {
  // dup-high (priority 9) beats the flag (priority 0) and dup-low (1)
  assert.equal((await at('dup.example.test')).text, 'api /');
  const status = (await proxy.status()) as { routes: { shadowed: { name: string; shadowedBy: string }[] } };
  const shadowed = status.routes.shadowed.map((s) => `${s.name}<${s.shadowedBy}`).sort();
  assert.deepEqual(shadowed, ['--route dup.example.test=flag<dup-high', 'dup-low<dup-high']);
});

test('redirects with and without the original path', { timeout: 30_000 }, async () => {
  const kept = await at('old.example.test', '/a/b?q=1');
  assert.equal(kept.status, 308);
  assert.equal(kept.headers.location, 'https://new.example.test/a/b?q=1');
  const bare = await at('gone.example.test', '/a/b?q=1');
  assert.equal(bare.status, 302);
  assert.equal(bare.headers.location, 'https://new.example.test/landing');
});

test('request and response header edits per route', { timeout: 30_000 }, async () => {
  const r = await at('edit.example.test', '/', { 'x-secret': 'hunter2', 'x-env': 'dev' });
  assert.equal(r.status, 200);
  const seen = JSON.parse(String(r.headers['x-seen'])) as Record<string, string>;
  assert.equal(seen['x-env'], 'prod');
  assert.equal(seen['x-secret'], undefined);
  assert.equal(r.headers['x-frame-options'], 'DENY');
  assert.equal(r.headers.server, undefined);
  // other routes are untouched
  assert.equal((await at('www.example.test')).headers.server, 'echo');
});

test('encoded and dot-segment paths are matched after normalisation', { timeout: 30_000 }, async () => {
  for (const path of ['/admin', '/%61dmin', '/%61%64%6D%69%6E/x', '/x/../admin', '/x/%2e%2e/admin', '//admin', '/./admin']) {
    assert.match((await at('unknown.test', path)).text, /^admin /, path);
  }
  // www.example.test has its own "/": the host comes first, but /api cannot be dodged either
  assert.match((await at('www.example.test', '/%61pi/v1')).text, /^api \/v1/);
  assert.match((await at('www.example.test', '/x/../api/v1')).text, /^api \/v1/);
});

test('etcdctl put / del of a route applies live while a keep-alive connection stays open', { timeout: 60_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const req = () => get(proxy.port, { host: 'live.example.test', path: '/p', agent });
  const first = await req();
  assert.equal(first.text, 'wild /p');
  const port = first.localPort;
  // requests keep flowing on the one connection while the route comes and goes
  let running = true;
  const seen: { status: number; text: string; localPort: number }[] = [];
  const errors: Error[] = [];
  const loop = (async () => {
    while (running) {
      try {
        seen.push(await req());
      } catch (err) {
        errors.push(err as Error);
      }
    }
  })();
  const t0 = performance.now();
  let applied = Infinity;
  let removed = Infinity;
  try {
    await etcd.put('/beacon/routes/live', JSON.stringify({ host: 'live.example.test', service: 'live' }));
    const putAt = performance.now();
    await waitFor('the new route served', () => seen.some((r) => r.text === 'live /p'), 5000, 5);
    applied = performance.now() - putAt;
    await etcd.del('/beacon/routes/live');
    const delAt = performance.now();
    const before = seen.length;
    await waitFor('the deleted route gone', () => seen.slice(before).some((r) => r.text === 'wild /p'), 5000, 5);
    removed = performance.now() - delAt;
  } finally {
    // a failure must not leave the request loop running
    running = false;
    await loop;
    agent.destroy();
  }
  console.log(`# route put -> served: ${applied.toFixed(1)} ms, del -> gone: ${removed.toFixed(1)} ms (after etcdctl returned; ${seen.length} requests in ${(performance.now() - t0).toFixed(0)} ms)`);
  assert.deepEqual(errors, []);
  assert.ok(seen.every((r) => r.status === 200), 'every request on the connection answered 200');
  assert.ok(seen.every((r) => r.localPort === port), 'one connection throughout');
  // etcdctl is a process of its own; the watch delivers within a few ms of the write
  assert.ok(applied < 1000 && removed < 1000, `applied after ${applied} ms, removed after ${removed} ms`);
});

test('malformed route values are skipped, logged with their key and counted; the rest keeps working', { timeout: 30_000 }, async () => {
  const bad: Record<string, string> = {
    'bad-json': '{not json',
    'bad-none': '{"host":"x.example.test"}',
    'bad-path': '{"service":"web","path":"api"}',
    'bad-balance': '{"service":"web","balance":"random"}',
    'bad-host': '{"service":"web","host":"bad host!"}',
  };
  for (const [name, value] of Object.entries(bad)) await etcd.put(`/beacon/routes/${name}`, value);
  await waitFor('bad routes counted', async () => /beacon_proxy_routes_invalid 5\b/.test(await proxy.metrics()), 5000);
  for (const name of Object.keys(bad)) {
    const line = await proxy.beacon.waitForLog('skipping malformed value', { key: `/beacon/routes/${name}` }, 5000);
    assert.ok(typeof line.reason === 'string' && line.reason.length > 0);
  }
  const status = (await proxy.status()) as { routes: { invalid: { key: string; reason: string }[] } };
  assert.equal(status.routes.invalid.length, 5);
  assert.match(status.routes.invalid.find((i) => i.key.endsWith('bad-balance'))!.reason, /unknown balance/);
  assert.equal((await at('www.example.test', '/api/v1')).text, 'api /v1');
  // a fixed value counts no more
  await etcd.put('/beacon/routes/bad-json', JSON.stringify({ host: 'fixed.test', service: 'web' }));
  for (const name of Object.keys(bad).filter((n) => n !== 'bad-json')) await etcd.del(`/beacon/routes/${name}`);
  await waitFor('bad routes gone', async () => /beacon_proxy_routes_invalid 0\b/.test(await proxy.metrics()), 5000);
  assert.equal((await at('fixed.test')).text, 'web /');
  await etcd.del('/beacon/routes/bad-json');
  await sleep(50);
});
