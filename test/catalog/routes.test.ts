// The catalog watches the proxy routes when asked: parsed with the route parser, bad values skipped,
// logged once with their key and reason, listed while they are bad; a change says `routes`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog, type CatalogChange } from '../../dist/catalog/catalog.js';
import { FileStore } from '../../dist/store/file.js';
import { captureLog } from '../harness/log.ts';
import { waitFor } from '../harness/wait.ts';

test('catalog: routes under the prefix parsed, bad ones skipped and listed, changes flagged', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-catalog-routes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/beacon/routes/www', '{"host":"www.example.com","service":"web"}');
  await store.put('/beacon/routes/bad', '{"service":"web","path":"nope"}');
  await store.put('/beacon/routes/deep/er', '{"service":"web"}');
  await store.put('/services/web/a', '10.0.0.1:80');
  const { log, lines } = captureLog();
  const catalog = new Catalog({ store, log, services: { prefix: '/services' }, routes: { prefix: '/beacon/routes' } });
  t.after(() => catalog.stop().then(() => store.close()));
  const changes: CatalogChange[] = [];
  catalog.on('change', (c) => changes.push(c));
  await catalog.start();
  assert.deepEqual([...catalog.routes().values()].map((r) => [r.name, r.host, r.service]), [['www', 'www.example.com', 'web']]);
  assert.deepEqual([...catalog.routesInvalid().keys()].sort(), ['/beacon/routes/bad', '/beacon/routes/deep/er']);
  assert.match(catalog.routesInvalid().get('/beacon/routes/bad')!, /path must start with/);
  assert.equal(lines.filter((l) => l.msg === 'skipping malformed value').length, 2);
  assert.ok(changes[0]!.routes);

  await store.put('/beacon/routes/bad', '{"service":"web","path":"/ok"}');
  await waitFor('fixed route', () => catalog.routes().has('/beacon/routes/bad'), 3000);
  assert.equal(catalog.routesInvalid().has('/beacon/routes/bad'), false);
  assert.equal(changes.at(-1)!.routes, true);
  await store.put('/services/web/b', '10.0.0.2:80');
  await waitFor('b', () => catalog.instances('web').length === 2, 3000);
  assert.equal(changes.at(-1)!.routes, false, 'a service change is no route change');
  await store.delete('/beacon/routes/www');
  await waitFor('www gone', () => !catalog.routes().has('/beacon/routes/www'), 3000);
  await store.delete('/beacon/routes/deep/er');
  await waitFor('invalid gone', () => catalog.routesInvalid().size === 0, 3000);
});

test('catalog without the routes option ignores route keys', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-catalog-routes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/beacon/routes/www', '{"host":"www.example.com","service":"web"}');
  const { log } = captureLog();
  const catalog = new Catalog({ store, log, services: { prefix: '/services' } });
  t.after(() => catalog.stop().then(() => store.close()));
  await catalog.start();
  assert.equal(catalog.routes().size, 0);
});
