// Which HTTP engine serves: the pure decision, and `auto` falling back to the portable engine
// (and saying so) on a Node.js whose internals the fast engine needs are gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decideEngine, EngineUnavailableError, type Probe } from '../../dist/proxy/engine-choice.js';
import { FileStore } from '../../dist/store/file.js';
import { runBeacon, startBeacon } from '../harness/beacon.ts';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { send, startUpstream } from './fixtures.ts';

const HIDE_INTERNALS = fileURLToPath(new URL('../harness/no-http-internals.mjs', import.meta.url));

const ok = (name: Probe['name']): Probe => ({ name, ok: true });
const gone = (name: Probe['name']): Probe => ({ name, ok: false, detail: 'gone' });
const ALL = [ok('llhttp'), ok('direct-writes'), ok('shared-reads')];

test('decideEngine: auto takes fast only when every probe passes; portable never probes; fast needs llhttp', () => {
  const cases: [Parameters<typeof decideEngine>[0], Probe[], string][] = [
    ['auto', ALL, 'fast'],
    ['auto', [ok('llhttp'), gone('direct-writes'), ok('shared-reads')], 'portable'],
    ['auto', [ok('llhttp'), ok('direct-writes'), gone('shared-reads')], 'portable'],
    ['auto', [gone('llhttp')], 'portable'],
    ['portable', [], 'portable'],
    ['portable', ALL, 'portable'],
    ['fast', ALL, 'fast'],
    // writes and reads have fallbacks of their own inside the fast engine
    ['fast', [ok('llhttp'), gone('direct-writes'), gone('shared-reads')], 'fast'],
  ];
  for (const [requested, probes, engine] of cases) {
    assert.equal(decideEngine(requested, probes).engine, engine, `${requested} with ${JSON.stringify(probes)}`);
  }
  assert.match(decideEngine('auto', [ok('llhttp'), gone('direct-writes'), ok('shared-reads')]).reason, /direct-writes unavailable/);
  assert.throws(() => decideEngine('fast', [gone('llhttp')]), EngineUnavailableError);
});

test('auto on a Node without the HTTP internals serves with the portable engine and says why', { timeout: 40_000 }, async (t) => {
  const upstream = await startUpstream('u1');
  t.after(() => upstream.close());
  const dir = mkdtempSync(join(tmpdir(), 'beacon-engine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/a', `127.0.0.1:${upstream.port}`);
  await store.close();
  const port = await freePort();
  const admin = await freePort();
  const env = { NODE_OPTIONS: `--import=${HIDE_INTERNALS}`, BEACON_ENGINE: 'auto' };
  const proxy = startBeacon(['proxy', '--store', `file://${dir}`, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--default-service', 'web', '--no-access-log'], env);
  t.after(() => proxy.stop('SIGKILL'));
  const chosen = await proxy.waitForLog('proxy engine chosen');
  assert.equal(chosen.engine, 'portable');
  assert.match(String(chosen.reason), /^auto: llhttp unavailable/);
  await proxy.waitForLog('proxy listening');
  const reply = await httpGet(port, 'www.example.com');
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'u1');
  const status = JSON.parse((await send(admin, { path: '/status' })).text) as { engine: { name: string; reason: string } };
  assert.equal(status.engine.name, 'portable');
  const metrics = (await send(admin, { path: '/metrics' })).text;
  assert.match(metrics, /beacon_proxy_engine_info\{engine="portable",reason="auto: llhttp unavailable[^"]*"\} 1/);

  // asking for the fast engine there is a clear runtime failure, not a stack trace
  const fast = await runBeacon(['proxy', '--store', `file://${dir}`, '--listen', `127.0.0.1:${await freePort()}`, '--engine', 'fast'], { NODE_OPTIONS: `--import=${HIDE_INTERNALS}` });
  assert.equal(fast.code, 1, fast.stderr);
  assert.match(fast.stderr, /--engine fast needs Node's llhttp binding/);
});

test('auto on this Node (24, internals present) chooses the fast engine', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-engine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const proxy = startBeacon(['proxy', '--store', `file://${dir}`, '--listen', `127.0.0.1:${await freePort()}`, '--engine', 'auto', '--no-access-log']);
  t.after(() => proxy.stop('SIGKILL'));
  const chosen = await proxy.waitForLog('proxy engine chosen');
  assert.equal(chosen.engine, 'fast');
});
