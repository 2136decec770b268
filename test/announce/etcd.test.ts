import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToggleApp } from '../harness/app.ts';
import { startBeacon, runBeacon } from '../harness/beacon.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { waitFor } from '../harness/wait.ts';

const FAST = ['--interval', '200ms', '--timeout', '150ms', '--rise', '2', '--fall', '3', '--ttl', '2s'];
const SVC_KEY = '/services/app/web1-8080';
const DNS_KEY = '/skydns/local/skydns/app/web1-8080';

test('announce against a real etcd', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const dir = mkdtempSync(join(tmpdir(), 'beacon-announce-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const drain = join(dir, 'drain');
  const args = [
    'announce', '--store', etcd.url, '--service', 'app', '--id', 'web1-8080', '--host', '127.0.0.1', '--port', String(app.port),
    '--check', `http://127.0.0.1:${app.port}/health`, '--drain-file', drain, ...FAST,
  ];

  const beacon = startBeacon(args);
  t.after(() => beacon.stop('SIGKILL'));

  await t.test('registers both keys under one lease after rise', async () => {
    await beacon.waitForLog('registered');
    assert.equal(await etcd.get(SVC_KEY), `127.0.0.1:${app.port}`);
    assert.deepEqual(JSON.parse((await etcd.get(DNS_KEY))!), { host: '127.0.0.1', port: app.port, priority: 10, weight: 100, ttl: 2 });
    const lease = await etcd.leaseOf(SVC_KEY);
    assert.ok(lease, 'the /services key has a lease');
    assert.equal(await etcd.leaseOf(DNS_KEY), lease, 'both keys share one lease');
    const ttl = await etcd.leaseTtl(lease);
    assert.equal(ttl.granted, 2);
    assert.ok(ttl.remaining > 0 && ttl.remaining <= 2);
  });

  await t.test('app failing -> keys gone within interval x fall (+1 s); app back -> keys back', async () => {
    app.healthy = false;
    const since = Date.now();
    await waitFor('keys deleted', async () => (await etcd.get(SVC_KEY)) === undefined && (await etcd.get(DNS_KEY)) === undefined, 5000);
    assert.ok(Date.now() - since <= 200 * 3 + 1000 + 300, `took ${Date.now() - since}ms`);
    app.healthy = true;
    await waitFor('keys back', async () => (await etcd.get(SVC_KEY)) === `127.0.0.1:${app.port}`, 5000);
  });

  await t.test('keys deleted by hand while healthy are written again within the TTL', async () => {
    const lease = await etcd.leaseOf(SVC_KEY);
    await etcd.del(SVC_KEY);
    await waitFor('key restored', async () => (await etcd.get(SVC_KEY)) === `127.0.0.1:${app.port}`, 2000 + 1500, 100);
    assert.equal(await etcd.leaseOf(SVC_KEY), lease, 'under the same lease');
  });

  await t.test('drain file deregisters while present, checks go on', async () => {
    writeFileSync(drain, '');
    await waitFor('drained', async () => (await etcd.get(SVC_KEY)) === undefined, 5000);
    const status = beacon.logs().filter((l) => l.msg === 'healthy' || l.msg === 'unhealthy').length;
    rmSync(drain);
    await waitFor('undrained', async () => (await etcd.get(SVC_KEY)) !== undefined, 5000);
    assert.equal(beacon.logs().filter((l) => l.msg === 'healthy' || l.msg === 'unhealthy').length, status, 'health never flapped while draining');
  });

  await t.test('etcd restarted while beacon runs -> keys present again', async () => {
    const member = etcd.members[0]!;
    await etcd.stopMember(member, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 3000));
    await etcd.restartMember(member);
    const back = Date.now();
    await waitFor('keys after etcd restart', async () => (await etcd.get(SVC_KEY)) === `127.0.0.1:${app.port}`, 10_000, 100);
    assert.ok(Date.now() - back < 10_000);
  });

  await t.test('etcd replaced by an empty one -> registered again with a new lease', async () => {
    const member = etcd.members[0]!;
    const oldLease = await etcd.leaseOf(SVC_KEY);
    await etcd.restartMember(member, { wipe: true });
    await waitFor('keys in the new etcd', async () => (await etcd.get(SVC_KEY)) === `127.0.0.1:${app.port}`, 15_000, 100);
    assert.notEqual(await etcd.leaseOf(SVC_KEY), oldLease);
    assert.equal(await etcd.leaseOf(DNS_KEY), await etcd.leaseOf(SVC_KEY));
  });

  await t.test('SIGTERM removes the keys before the process exits 0', async () => {
    const exit = await beacon.stop('SIGTERM');
    assert.equal(exit.code, 0);
    assert.equal(await etcd.get(SVC_KEY), undefined);
    assert.equal(await etcd.get(DNS_KEY), undefined);
  });

  await t.test('kill -9 -> keys expire within the TTL', async () => {
    const again = startBeacon(args);
    t.after(() => again.stop('SIGKILL'));
    await again.waitForLog('registered');
    await again.stop('SIGKILL');
    const since = Date.now();
    await waitFor('lease expiry', async () => (await etcd.get(SVC_KEY)) === undefined, 6000, 100);
    assert.ok(Date.now() - since <= 2000 + 1500, `took ${Date.now() - since}ms`);
  });

  await t.test('an app that never passes is never registered', async () => {
    app.healthy = false;
    const sick = startBeacon(args);
    t.after(() => sick.stop('SIGKILL'));
    await sick.waitForLog('announcing');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await etcd.get(SVC_KEY), undefined);
    assert.equal(sick.logs().some((l) => l.msg === 'registered'), false);
    assert.equal((await sick.stop('SIGTERM')).code, 0);
    app.healthy = true;
  });
});

test('announce: bad flags exit 2 naming the field', { timeout: 30_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [['announce', '--service', 'app', '--port', '80a'], /--port: expected 1-65535, got "80a"/],
    [['announce', '--port', '80'], /--service: is required/],
    [['announce', '--service', 'App_1', '--port', '80'], /--service: service must be a DNS label/],
    [['announce', '--service', 'app', '--port', '80', '--check', 'ftp://x'], /--check: expected http/],
    [['announce', '--service', 'app', '--port', '80', '--interval', 'often'], /--interval: expected a duration/],
    [['announce', '--service', 'app', '--port', '80', '--store', 'consul://x'], /--store: unknown scheme/],
    [['announce', '--service', 'app', '--port', '80', '--wat'], /--wat: unknown flag/],
  ];
  for (const [args, message] of cases) {
    const res = await runBeacon(args);
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, message);
  }
  const env = await runBeacon(['announce', '--service', 'app'], { BEACON_PORT: 'x' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /BEACON_PORT: expected 1-65535/);
});
