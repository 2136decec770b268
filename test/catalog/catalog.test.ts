import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog, type CatalogChange } from '../../dist/catalog/catalog.js';
import { FileStore } from '../../dist/store/file.js';
import { captureLog } from '../harness/log.ts';
import { waitFor } from '../harness/wait.ts';

test('catalog: snapshot + watch, malformed values skipped, logged once and counted', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-catalog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/a', '10.0.0.1:80');
  await store.put('/services/web/b', 'http://10.0.0.2:8080');
  await store.put('/services/web/bad', 'not an address');
  await store.put('/services/toodeep/x/y', '10.0.0.3:80');
  await store.put('/skydns/local/skydns/web/a', '{"host":"10.0.0.1","port":80}');
  await store.put('/skydns/local/skydns/web/bad', '{"host":');
  await store.put('/skydns/config', '{"domain":"skydns.local.","ttl":60}');
  const { log, lines } = captureLog();
  const catalog = new Catalog({ store, log, services: { prefix: '/services' }, skydns: { prefix: '/skydns/' } });
  t.after(() => catalog.stop().then(() => store.close()));
  const changes: CatalogChange[] = [];
  catalog.on('change', (c) => changes.push(c));
  await catalog.start();
  assert.ok(catalog.ready);
  assert.deepEqual(catalog.instances('web').map((i) => [i.id, i.host, i.port]), [['a', '10.0.0.1', 80], ['b', '10.0.0.2', 8080]]);
  assert.deepEqual([...catalog.skydnsEntries().keys()], ['/skydns/local/skydns/web/a']);
  assert.deepEqual(catalog.skydnsConfig(), { domain: 'skydns.local.', ttl: 60 });
  assert.equal(catalog.malformed, 3);
  const warnings = () => lines.filter((l) => l.msg === 'skipping malformed value');
  assert.equal(warnings().length, 3);
  assert.ok(changes[0]?.reset);

  // The same bad value written again is counted, not logged again; a new bad value is logged.
  await store.put('/services/web/bad', 'not an address');
  await store.put('/services/web/c', '10.0.0.4:80');
  await waitFor('c seen', () => catalog.instances('web').length === 3, 3000);
  await store.put('/services/web/bad', 'still:bad:value');
  await waitFor('second bad value counted', () => catalog.malformed >= 4, 3000);
  assert.equal(warnings().length, 4);
  await store.delete('/services/web/a');
  await waitFor('a removed', () => catalog.instances('web').every((i) => i.id !== 'a'), 3000);
  const last = changes.at(-1)!;
  assert.equal(last.reset, false);
  assert.deepEqual([...last.services], ['web']);
});

test('catalog: the one instance of a service rewritten keeps the service (and the names in order); a bad rewrite drops it', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-catalog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  for (const name of ['a', 'm', 'z']) await store.put(`/services/${name}/1`, '10.0.0.1:80');
  const { log } = captureLog();
  const catalog = new Catalog({ store, log, services: { prefix: '/services' } });
  t.after(() => catalog.stop().then(() => store.close()));
  await catalog.start();
  const before = catalog.services();
  assert.deepEqual([...before.keys()], ['a', 'm', 'z']);

  await store.put('/services/m/1', '10.0.0.2:80');
  await waitFor('m rewritten', () => catalog.instances('m')[0]?.host === '10.0.0.2', 15_000);
  // the same map, updated in place: a rewrite is not a new service (no re-sort of every name)
  assert.equal(catalog.services(), before);
  assert.deepEqual([...catalog.services().keys()], ['a', 'm', 'z']);

  await store.put('/services/m/1', 'not an address');
  await waitFor('m gone', () => !catalog.services().has('m'), 15_000);
  assert.deepEqual([...catalog.services().keys()], ['a', 'z']);
  await store.put('/services/b/1', '10.0.0.3:80');
  await waitFor('b seen', () => catalog.services().has('b'), 15_000);
  assert.deepEqual([...catalog.services().keys()], ['a', 'b', 'z']);
});
