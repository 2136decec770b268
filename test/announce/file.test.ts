import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToggleApp } from '../harness/app.ts';
import { startBeacon, runBeacon } from '../harness/beacon.ts';
import { waitFor } from '../harness/wait.ts';
import { FileStore } from '../../dist/store/file.js';

const FAST = ['--interval', '200ms', '--timeout', '150ms', '--rise', '2', '--fall', '3', '--ttl', '2s'];

test('announce on the embedded file store, seen from another process', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-file-announce-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const storeDir = join(dir, 'store');
  const reader = new FileStore(storeDir);
  t.after(() => reader.close());
  const get = async (key: string): Promise<string | undefined> => (await reader.read([key])).kvs.find((kv) => kv.key === key)?.value;
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const drain = join(dir, 'drain');
  const args = [
    'announce', '--store', `file://${storeDir}`, '--service', 'app', '--id', 'web1-8080', '--host', '127.0.0.1',
    '--port', String(app.port), '--check', `http://127.0.0.1:${app.port}/health`, '--drain-file', drain, ...FAST,
  ];
  const beacon = startBeacon(args);
  t.after(() => beacon.stop('SIGKILL'));
  const SVC = '/services/app/web1-8080';
  const DNS = '/skydns/local/skydns/app/web1-8080';

  await beacon.waitForLog('registered');
  assert.equal(await get(SVC), `127.0.0.1:${app.port}`);
  assert.equal(JSON.parse((await get(DNS))!).port, app.port);
  const snapshot = await reader.read(['/services/', '/skydns/']);
  const leases = new Set(snapshot.kvs.map((kv) => kv.lease));
  assert.equal(leases.size, 1, 'both keys under one lease');
  const remaining = await reader.leaseRemaining([...leases][0]!);
  assert.ok(remaining !== undefined && remaining > 0 && remaining <= 2000);

  const services = await runBeacon(['services', '--json', '--store', `file://${storeDir}`]);
  assert.equal(services.code, 0, services.stderr);
  assert.deepEqual(JSON.parse(services.stdout).map((r: { service: string; instance: string; address: string }) => [r.service, r.instance, r.address]), [
    ['app', 'web1-8080', `127.0.0.1:${app.port}`],
  ]);

  app.healthy = false;
  await waitFor('deregistered when unhealthy', async () => (await get(SVC)) === undefined, 200 * 3 + 1500);
  app.healthy = true;
  await waitFor('registered again', async () => (await get(SVC)) !== undefined, 3000);

  writeFileSync(drain, '');
  await waitFor('drained', async () => (await get(SVC)) === undefined, 3000);
  rmSync(drain);
  await waitFor('undrained', async () => (await get(SVC)) !== undefined, 3000);

  assert.equal((await beacon.stop('SIGTERM')).code, 0);
  assert.equal(await get(SVC), undefined, 'SIGTERM revoked the lease');
  assert.equal(await get(DNS), undefined);

  const killed = startBeacon(args);
  t.after(() => killed.stop('SIGKILL'));
  await killed.waitForLog('registered');
  await killed.stop('SIGKILL');
  const since = Date.now();
  await waitFor('keys expire with the lease after kill -9', async () => (await get(SVC)) === undefined, 4000);
  assert.ok(Date.now() - since <= 2000 + 500);
});

test('file store: leases, prefix reads and watches across instances', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-file-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const writer = new FileStore(dir);
  const watcher = new FileStore(dir);
  t.after(() => Promise.all([writer.close(), watcher.close()]));
  await writer.put('/services/web/a', '10.0.0.1:80');
  await writer.put('/other/x', 'y');
  const snap = await watcher.read(['/services/']);
  assert.deepEqual(snap.kvs.map((kv) => kv.key), ['/services/web/a']);
  const events: string[] = [];
  let resets = 0;
  const watch = await watcher.watch(['/services/'], snap.revision, {
    onChanges: (evs) => evs.forEach((e) => events.push(`${e.type} ${e.type === 'put' ? e.kv.key : e.key}`)),
    onReset: () => resets++,
  });
  // A change between read() and watch() is not lost.
  const lease = await writer.grantLease(1000);
  await lease.putAll([['/services/web/b', '10.0.0.2:80'], ['/skydns/ignored', '{}']]);
  await writer.put('/services/web/a', '10.0.0.9:80');
  await waitFor('puts seen', () => events.includes('put /services/web/b') && events.includes('put /services/web/a'), 3000);
  lease.release();
  await waitFor('expiry seen without any file event', () => events.includes('delete /services/web/b'), 3000);
  await writer.delete('/services/web/a');
  await waitFor('delete seen', () => events.includes('delete /services/web/a'), 3000);
  assert.equal(events.filter((e) => e.includes('/skydns')).length, 0);
  assert.equal(events.filter((e) => e.includes('/other')).length, 0);
  assert.equal(resets, 0);
  await watch.cancel();
  const lease2 = await writer.grantLease(5000);
  await lease2.putAll([['/services/x/1', '1.2.3.4:5']]);
  assert.ok((await writer.leaseRemaining(lease2.id))! > 4000);
  await lease2.revoke();
  assert.equal((await watcher.read(['/services/x/'])).kvs.length, 0);
  assert.equal(await writer.leaseRemaining(lease2.id), undefined);
});

test('file store watch: lease renewals cost no directory scans; a revoked lease deletes at once', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-file-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const holder = new FileStore(dir);
  const reader = new FileStore(dir);
  t.after(() => Promise.all([holder.close(), reader.close()]));
  const lease = await holder.grantLease(600);
  await lease.putAll([['/services/web/a', '10.0.0.1:80']]);
  const snap = await reader.read(['/services/']);
  const events: string[] = [];
  const watch = await reader.watch(['/services/'], snap.revision, {
    onChanges: (evs) => evs.forEach((e) => events.push(e.type)),
    onReset: () => undefined,
  });
  t.after(() => watch.cancel());
  const before = reader.scans;
  // Renewed every 200 ms for 2 s: ten lease-file events, no change to the view.
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(events.length, 0, 'no change reported');
  assert.ok(reader.scans - before <= 2, `${reader.scans - before} scans while only the lease was renewed`);
  const since = Date.now();
  await lease.revoke();
  await waitFor('revocation seen', () => events.includes('delete'), 2000, 10);
  assert.ok(Date.now() - since < 1000);
});

test('file store watch: an unreadable directory is reported, and so is its recovery', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-file-recover-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(join(dir, 'store'));
  t.after(() => store.close());
  await store.put('/services/web/a', '10.0.0.1:80');
  const snap = await store.read(['/services/']);
  const states: boolean[] = [];
  const keys = new Set(snap.kvs.map((kv) => kv.key));
  const watch = await store.watch(['/services/'], snap.revision, {
    onChanges: (evs) => evs.forEach((e) => (e.type === 'put' ? keys.add(e.kv.key) : keys.delete(e.key))),
    onReset: () => undefined,
    onConnectionChange: (connected) => states.push(connected),
  });
  t.after(() => watch.cancel());
  renameSync(join(dir, 'store', 'keys'), join(dir, 'keys-away'));
  await waitFor('reported unreadable', () => states.at(-1) === false, 10_000);
  assert.ok(keys.has('/services/web/a'), 'the last view is kept');
  renameSync(join(dir, 'keys-away'), join(dir, 'store', 'keys'));
  await waitFor('reported back', () => states.at(-1) === true, 10_000);
  await store.put('/services/web/b', '10.0.0.2:80');
  await waitFor('changes flow again', () => keys.has('/services/web/b'), 10_000);
});

test('announce: SIGTERM during a slow check exits without waiting out the interval', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-stop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const beacon = startBeacon(['announce', '--store', `file://${dir}`, '--service', 'slow', '--port', '9', '--host', '127.0.0.1', '--check', 'cmd:sleep 0.8', '--interval', '10s', '--timeout', '2s']);
  t.after(() => beacon.stop('SIGKILL'));
  await beacon.waitForLog('announcing');
  await new Promise((r) => setTimeout(r, 300));
  const since = Date.now();
  const exit = await beacon.stop('SIGTERM', 20_000);
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - since < 3000, `took ${Date.now() - since}ms to stop`);
});

test('announce: --interval below 1s alone is valid (the default --timeout follows it down); an explicit larger --timeout still exits 2', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-interval-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const reader = new FileStore(dir);
  t.after(() => reader.close());
  const base = ['announce', '--store', `file://${dir}`, '--service', 'quick', '--id', 'q1', '--port', '9', '--host', '127.0.0.1', '--check', 'cmd:true', '--rise', '1'];
  const beacon = startBeacon([...base, '--interval', '300ms']);
  t.after(() => beacon.stop('SIGKILL'));
  await waitFor('registered', async () => (await reader.read(['/services/quick/'])).kvs.length === 1, 15_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${beacon.output()}`);
  });
  assert.equal((await beacon.stop('SIGTERM', 10_000)).code, 0);

  for (const [args, env] of [[['--interval', '300ms', '--timeout', '500ms'], {}], [['--interval', '300ms'], { BEACON_TIMEOUT: '500ms' }]] as const) {
    const res = await runBeacon([...base, ...args], env);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /--timeout: must not exceed --interval \(500ms > 300ms\)/);
  }
});
