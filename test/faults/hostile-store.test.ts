import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../../dist/catalog/catalog.js';
import { EtcdStore } from '../../dist/store/etcd.js';
import { FileStore } from '../../dist/store/file.js';
import { startBeacon } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { captureLog } from '../harness/log.ts';
import { waitFor } from '../harness/wait.ts';

test('hostile store data: junk, huge values, odd keys and thousands of instances at once', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const writer = new EtcdStore({ endpoints: [etcd.endpoints] });
  t.after(() => writer.close());
  const { log, lines: warnings } = captureLog('warn');
  const catalog = new Catalog({ store: new EtcdStore({ endpoints: [etcd.endpoints] }), log, services: { prefix: '/services' }, skydns: { prefix: '/skydns' } });
  t.after(() => catalog.stop());
  await catalog.start();

  const junk: [string, string][] = [
    ['/services/web/not-json', '{"host":'],
    ['/services/web/huge', 'x'.repeat(1024 * 1024)],
    ['/services/web/spaces in id', '10.0.0.1:80'],
    ['/services/web/unicode-ü', '10.0.0.2:80'],
    ['/services/web/apache@1', '10.0.0.5:80'],
    ['/services/Web_App/a', '10.0.0.6:80'],
    ['/services/x { server 127.0.0.1:1; } server { listen 18999; } upstream y/i1', '10.0.0.7:80'],
    ['/services/web/port-zero', '10.0.0.3:0'],
    ['/services/web/deep/er', '10.0.0.4:80'],
    ['/services/web/empty', ''],
    ['/skydns/local/skydns/web/array', '[1,2,3]'],
    ['/skydns/local/skydns/web/huge', JSON.stringify({ host: 'h'.repeat(512 * 1024) })],
    ['/skydns/local/skydns/web/badttl', '{"host":"10.0.0.1","ttl":-5}'],
  ];
  for (const [key, value] of junk) await writer.put(key, value);

  const N = 3000;
  const started = Date.now();
  for (let i = 0; i < N; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, N - i) }, (_, j) => writer.put(`/services/bulk/i${i + j}`, `10.1.${(i + j) >> 8}.${(i + j) & 255}:8080`)));
  }
  await waitFor('all bulk instances', () => catalog.instances('bulk').length === N, 60_000, 50);
  const took = Date.now() - started;

  // A sidekick's `apache@1` id is served; odd names (which would reach DNS, Host routing and
  // nginx config) are skipped, each logged once and counted.
  assert.deepEqual(catalog.instances('web').map((i) => i.id), ['apache@1']);
  assert.deepEqual([...catalog.services().keys()].sort(), ['bulk', 'web']);
  const malformedKeys = new Set(warnings.filter((w) => w.msg === 'skipping malformed value').map((w) => w.key));
  assert.deepEqual([...malformedKeys].sort(), junk.map(([k]) => k).filter((k) => k !== '/services/web/apache@1').sort());
  assert.equal(catalog.malformed, 12);
  assert.ok(warnings.every((w) => String(w.value ?? '').length <= 200), 'huge values are not copied into logs');
  assert.ok(catalog.ready);
  assert.ok(took < 60_000);
  assert.ok(process.memoryUsage().heapUsed < 512 * 1024 * 1024);
});

test('every reading mode skips malformed values, logs each once and counts it in /metrics', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-hostile-modes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/good', '127.0.0.1:9');
  await store.put('/services/web/bad', 'not an address');
  await store.put('/skydns/local/skydns/web/good', '{"host":"10.0.0.1"}');
  await store.put('/skydns/local/skydns/web/bad', '{"host":');
  await store.close();
  const runs: [string, string[]][] = [
    ['proxy', ['--listen', `127.0.0.1:${await freePort()}`]],
    ['dns', ['--listen', `127.0.0.1:${await freePort(true)}`, '--forward', '127.0.0.1:9']],
    ['render', ['--nginx-upstreams', join(dir, 'upstreams.conf')]],
  ];
  for (const [mode, args] of runs) {
    const admin = await freePort();
    const beacon = startBeacon([mode, '--store', `file://${dir}`, ...args, '--admin', `127.0.0.1:${admin}`]);
    t.after(() => beacon.stop('SIGKILL'));
    await waitFor(`${mode} ready`, async () => (await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => undefined))?.status === 200, 15_000, 100);
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    assert.match(metrics, /^beacon_catalog_malformed_values 1$/m, `${mode} counts the malformed value it reads`);
    assert.match(metrics, /^beacon_catalog_ready 1$/m);
    const warned = beacon.logs().filter((l) => l.msg === 'skipping malformed value');
    assert.equal(warned.length, 1, `${mode} logs it once`);
    assert.equal((await beacon.stop('SIGTERM')).code, 0);
  }
});
