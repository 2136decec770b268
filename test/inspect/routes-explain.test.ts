// `beacon routes` and `beacon explain URL` against a real etcd.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster } from '../harness/etcd.ts';
import { runBeacon, startBeacon } from '../harness/beacon.ts';
import { waitFor } from '../harness/wait.ts';

let etcd: EtcdCluster;

before(async () => {
  etcd = await EtcdCluster.start();
  await etcd.put('/services/web/web1', '127.0.0.1:8081');
  await etcd.put('/services/api/api1', '127.0.0.1:8082');
  await etcd.put('/services/api/api2', '127.0.0.1:8083');
  const grant = await etcd.etcdctl('lease', 'grant', '60');
  const lease = /lease ([0-9a-f]+) granted/.exec(grant)![1]!;
  await etcd.etcdctl('put', '--lease', lease, '/services/api/api3', '127.0.0.1:8084');
  await etcd.put('/beacon/routes/www', JSON.stringify({ host: 'www.example.com', service: 'web' }));
  await etcd.put('/beacon/routes/www-api', JSON.stringify({ host: 'www.example.com', path: '/api', service: 'api', stripPath: true, balance: 'least-conn' }));
  await etcd.put('/beacon/routes/www-api-low', JSON.stringify({ host: 'www.example.com', path: '/api', service: 'web', priority: -1 }));
  await etcd.put('/beacon/routes/old', JSON.stringify({ host: 'old.example.com', redirect: { to: 'https://www.example.com', code: 301, keepPath: true } }));
  await etcd.put('/beacon/routes/broken', '{"service":"web","balance":"random"}');
});

after(async () => {
  await etcd.stop();
});

test('beacon routes --json: the effective table, live instances, shadowed and invalid routes', { timeout: 30_000 }, async () => {
  const r = await runBeacon(['routes', '--json', '--store', etcd.url, '--route', '/static=web']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    routes: { name: string; source: string; host: string | null; path: string; action: string; service: string; instances: number }[];
    shadowed: { name: string; shadowedBy: string }[];
    invalid: { key: string; reason: string }[];
  };
  const byName = new Map(out.routes.map((x) => [x.name, x]));
  assert.deepEqual(byName.get('www-api'), { ...byName.get('www-api'), source: 'etcd', host: 'www.example.com', path: '/api', action: 'forward, strip /api', service: 'api', instances: 3 });
  assert.equal(byName.get('www')!.instances, 1);
  assert.equal(byName.get('old')!.action, 'redirect 301 https://www.example.com +path');
  assert.equal(byName.get('--route /static=web')!.source, 'flag');
  assert.deepEqual(out.shadowed.map((s) => [s.name, s.shadowedBy]), [['www-api-low', 'www-api']]);
  assert.equal(out.invalid.length, 1);
  assert.equal(out.invalid[0]!.key, '/beacon/routes/broken');
  assert.match(out.invalid[0]!.reason, /unknown balance/);
});

test('beacon routes prints a table', { timeout: 30_000 }, async () => {
  const r = await runBeacon(['routes', '--store', etcd.url, '--domain', 'svc.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^SOURCE +HOST +PATH +ACTION +SERVICE +LIVE +BALANCE +NAME/);
  assert.match(r.stdout, /etcd +www\.example\.com +\/api +forward, strip \/api +api +3 +least-conn +www-api/);
  assert.match(r.stdout, /3 route\(s\) at revision \d+; then <service>\.svc\.test/);
  assert.match(r.stdout, /shadowed: www-api-low \(www\.example\.com\/api\) by www-api/);
  assert.match(r.stdout, /invalid: \/beacon\/routes\/broken: unknown balance/);
});

test('beacon routes --watch prints again when a route changes', { timeout: 30_000 }, async () => {
  const watch = startBeacon(['routes', '--watch', '--json', '--store', etcd.url]);
  try {
    await waitFor('first table', () => watch.output().includes('"routes"'), 10_000);
    await etcd.put('/beacon/routes/new', JSON.stringify({ host: 'new.example.com', service: 'web' }));
    await waitFor('table with the new route', () => watch.output().includes('"name":"new"'), 10_000);
  } finally {
    await watch.stop();
    await etcd.del('/beacon/routes/new');
  }
});

test('beacon explain URL: route, why, action and each instance with its lease', { timeout: 30_000 }, async () => {
  const r = await runBeacon(['explain', 'http://www.example.com/%61pi/v1?x=1', '--store', etcd.url]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /match on: host "www\.example\.com", path "\/api\/v1" \(normalised\), store revision \d+/);
  assert.match(r.stdout, /route: +www-api \(etcd\): host www\.example\.com, path \/api, priority 0/);
  assert.match(r.stdout, /why: +host "www\.example\.com" matches exactly; path "\/api\/v1" under prefix "\/api"/);
  assert.match(r.stdout, /shadows: +www-api-low/);
  assert.match(r.stdout, /action: +forward to service api as \/v1\?x=1, balance least-conn/);
  assert.match(r.stdout, /instances \(3\):/);
  assert.match(r.stdout, /api1 +127\.0\.0\.1:8082 +registered, no lease/);
  assert.match(r.stdout, /api3 +127\.0\.0\.1:8084 +registered, lease (5\d|60)\.\d s left/);
  assert.match(r.stdout, /ejection is passive and per proxy process/);
});

test('beacon explain --json: redirects, misses, and bad URLs', { timeout: 30_000 }, async () => {
  const red = JSON.parse((await runBeacon(['explain', 'http://old.example.com/a?b', '--json', '--store', etcd.url])).stdout) as { action: { kind: string; status: number; location: string } };
  assert.deepEqual(red.action, { kind: 'redirect', status: 301, location: 'https://www.example.com/a?b' });
  const miss = JSON.parse((await runBeacon(['explain', 'http://nothing.test/', '--json', '--store', etcd.url])).stdout) as { route: null; action: { status: number } };
  assert.equal(miss.route, null);
  assert.equal(miss.action.status, 404);
  const fallback = JSON.parse((await runBeacon(['explain', 'http://nothing.test/', '--json', '--default-service', 'web', '--store', etcd.url])).stdout) as { route: { source: string }; instances: unknown[] };
  assert.equal(fallback.route.source, 'default');
  assert.equal(fallback.instances.length, 1);
  const bad = await runBeacon(['explain', 'not a url', '--store', etcd.url]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /URL/);
  const none = await runBeacon(['explain', '--store', etcd.url]);
  assert.equal(none.code, 2);
});
