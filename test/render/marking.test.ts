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

test('--nginx-upstreams: a change to one service renders one block; the file on disk is read only at start-up', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-render-blocks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const upstreams = join(dir, 'upstreams.conf');
  // an earlier run's file: `gone` has no instances now and keeps its block
  writeFileSync(upstreams, 'upstream gone {\n    server 10.9.0.1:80;\n}\n');
  const store = new MemoryStore();
  for (let s = 0; s < 50; s++) for (let i = 0; i < 3; i++) await store.put(`/services/svc${String(s).padStart(2, '0')}/i${i}`, `10.0.${s}.${i + 1}:80`);
  const metrics = new Registry();
  const renderer = new Renderer(
    { prefix: '/', onetime: false, noop: false, wait: { minMs: 0, maxMs: 0 }, timeoutMs: 5000, servicesPrefix: '/services', nginxUpstreams: { file: upstreams }, lookup: { timeoutMs: 5000 } },
    { store, log: createLogger('silent'), metrics, env: {}, stdout: process.stdout },
  );
  await renderer.start();
  t.after(() => renderer.stop());
  const blocks = async (): Promise<number> => (await metrics.getSingleMetric('beacon_render_upstream_blocks_rendered_total')!.get()).values[0]!.value;
  await waitFor('first render', () => read(upstreams).includes('10.0.49.3:80'), 10_000, 10);
  await waitFor('first run counted', async () => (await blocks()) === 50, 5000, 10);
  assert.match(read(upstreams), /upstream gone \{\n    server 10\.9\.0\.1:80;\n\}/);

  // edited behind beacon's back: not read again (beacon's own blocks are what it writes)
  writeFileSync(upstreams, `${read(upstreams)}\nupstream intruder {\n    server 10.8.0.1:80;\n}\n`);
  await store.put('/services/svc07/i9', '10.0.7.9:80');
  await waitFor('svc07 re-rendered', () => read(upstreams).includes('10.0.7.9:80'), 10_000, 10);
  assert.equal(await blocks(), 51, 'one block for one changed service');
  assert.doesNotMatch(read(upstreams), /intruder/);
  assert.match(read(upstreams), /upstream gone \{/);

  // the same value again renders nothing; deleting a service's last instances keeps its block
  await store.put('/services/svc07/i9', '10.0.7.9:80');
  for (let i = 0; i < 3; i++) await store.delete(`/services/svc12/i${i}`);
  await store.put('/services/svc30/i0', '10.0.30.99:80');
  await waitFor('svc30 re-rendered', () => read(upstreams).includes('10.0.30.99:80'), 10_000, 10);
  assert.equal(await blocks(), 52, 'only svc30 (svc12 has no instances: its last block is kept as it was)');
  assert.match(read(upstreams), /upstream svc12 \{\n    server 10\.0\.12\.1:80;\n    server 10\.0\.12\.2:80;\n    server 10\.0\.12\.3:80;\n\}/);
});
