import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Catalog } from '../../dist/catalog/catalog.js';
import { EtcdStore } from '../../dist/store/etcd.js';
import { EtcdCluster } from '../harness/etcd.ts';
import { waitFor } from '../harness/wait.ts';

test('hostile store data: junk, huge values, odd keys and thousands of instances at once', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const writer = new EtcdStore({ endpoints: [etcd.endpoints] });
  t.after(() => writer.close());
  const warnings: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString().split('\n')) if (l) warnings.push(JSON.parse(l));
      done();
    },
  });
  const catalog = new Catalog({ store: new EtcdStore({ endpoints: [etcd.endpoints] }), log: pino({ level: 'warn' }, sink), services: { prefix: '/services' }, skydns: { prefix: '/skydns' } });
  t.after(() => catalog.stop());
  await catalog.start();

  const junk: [string, string][] = [
    ['/services/web/not-json', '{"host":'],
    ['/services/web/huge', 'x'.repeat(1024 * 1024)],
    ['/services/web/spaces in id', '10.0.0.1:80'],
    ['/services/web/unicode-ü', '10.0.0.2:80'],
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

  // Odd but valid keys are served; the rest skipped, each logged once and counted.
  const web = catalog.instances('web').map((i) => i.id).sort();
  assert.deepEqual(web, ['spaces in id', 'unicode-ü']);
  const malformedKeys = new Set(warnings.filter((w) => w.msg === 'skipping malformed value').map((w) => w.key));
  assert.deepEqual([...malformedKeys].sort(), junk.map(([k]) => k).filter((k) => !['/services/web/spaces in id', '/services/web/unicode-ü'].includes(k)).sort());
  assert.equal(catalog.malformed, 8);
  assert.ok(warnings.every((w) => String(w.value ?? '').length <= 200), 'huge values are not copied into logs');
  assert.ok(catalog.ready);
  assert.ok(took < 60_000);
  assert.ok(process.memoryUsage().heapUsed < 512 * 1024 * 1024);
});
