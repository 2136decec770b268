// A change re-renders only the resources whose `keys` cover the changed key (and the upstreams
// file only for /services changes): an in-process Renderer over an in-memory store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Renderer } from '../../dist/render/renderer.js';
import { createLogger } from '../../dist/log.js';
import { MemoryStore } from '../harness/memory-store.ts';
import { waitFor } from '../harness/wait.ts';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

test('a change re-renders only the resources whose keys it touches', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-render-marking-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf.d'));
  mkdirSync(join(dir, 'templates'));
  for (const name of ['a', 'b']) {
    writeFileSync(join(dir, 'templates', `${name}.tmpl`), `${name}={{getv "/app/${name}/x"}}\n`);
    writeFileSync(join(dir, 'conf.d', `${name}.toml`), `[template]\nsrc = "${name}.tmpl"\ndest = "${join(dir, `${name}.out`)}"\nkeys = ["/app/${name}"]\n`);
  }
  const store = new MemoryStore();
  await store.put('/app/a/x', '1');
  await store.put('/app/b/x', '1');
  await store.put('/services/web/i1', '10.0.0.1:80');
  const metrics = new Registry();
  const upstreams = join(dir, 'upstreams.conf');
  const renderer = new Renderer(
    { confdir: dir, prefix: '/', onetime: false, noop: false, wait: { minMs: 0, maxMs: 0 }, timeoutMs: 5000, servicesPrefix: '/services', nginxUpstreams: { file: upstreams }, lookup: { timeoutMs: 5000 } },
    { store, log: createLogger('silent'), metrics, env: {}, stdout: process.stdout },
  );
  await renderer.start();
  t.after(() => renderer.stop());
  const renders = async (): Promise<Record<string, number>> => {
    const values = (await metrics.getSingleMetric('beacon_render_renders_total')!.get()).values;
    return Object.fromEntries(values.map((v) => [String(v.labels.resource), v.value]));
  };
  await waitFor('first render', async () => read(join(dir, 'a.out')) === 'a=1\n' && read(join(dir, 'b.out')) === 'b=1\n' && read(upstreams).includes('10.0.0.1:80'), 10_000, 10);
  await waitFor('first run finished', async () => (await renders())['nginx-upstreams'] === 1, 5000, 10);
  assert.deepEqual(await renders(), { 'a.toml': 1, 'b.toml': 1, 'nginx-upstreams': 1 });

  await store.put('/app/a/x', '2');
  await waitFor('a re-rendered', async () => read(join(dir, 'a.out')) === 'a=2\n', 10_000, 10);
  assert.deepEqual(await renders(), { 'a.toml': 2, 'b.toml': 1, 'nginx-upstreams': 1 }, 'only a');

  await store.put('/services/web/i2', '10.0.0.2:80');
  await waitFor('upstreams re-rendered', async () => read(upstreams).includes('10.0.0.2:80'), 10_000, 10);
  assert.deepEqual(await renders(), { 'a.toml': 2, 'b.toml': 1, 'nginx-upstreams': 2 }, 'only the upstreams file');

  // a key no resource reads: nothing is rendered
  await store.put('/app/c/x', '1');
  await store.put('/app/b/x', '3');
  await waitFor('b re-rendered', async () => read(join(dir, 'b.out')) === 'b=3\n', 10_000, 10);
  assert.deepEqual(await renders(), { 'a.toml': 2, 'b.toml': 2, 'nginx-upstreams': 2 });
});
