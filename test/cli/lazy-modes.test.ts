// A mode's code loads only when that mode runs: on a Node.js whose HTTP internals are gone (the
// llhttp binding behind `_http_common`, process.binding), which the fast proxy engine reads as
// it loads, `beacon --help`, every mode's --help, flag checks and a real `beacon dns` answering
// dig still work. The preload that hides the internals is test/harness/no-http-internals.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileStore } from '../../dist/store/file.js';
import { runBeacon, startBeacon } from '../harness/beacon.ts';
import { NO_HTTP_INTERNALS, withoutHttpInternals } from '../harness/no-http-internals.ts';
import { freePort } from '../harness/ports.ts';
import { dig, values } from '../dns/helpers.ts';

const HIDDEN = withoutHttpInternals();
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** Relative (beacon) imports of a compiled module: static ones, and targets of import(). */
function importsOf(file: string): { statics: string[]; dynamics: string[] } {
  const code = readFileSync(file, 'utf8');
  const at = (re: RegExp) => [...code.matchAll(re)].map((m) => resolve(dirname(file), m[1]!));
  return { statics: at(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm).concat(at(/^import\s+'(\.[^']+)'/gm)), dynamics: at(/\bimport\('(\.[^']+)'\)/g) };
}

test('static imports reach no module a mode loads with create(): the graph from dist/cli.js', () => {
  const seen = new Set<string>();
  const dynamic = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const { statics, dynamics } = importsOf(file);
    dynamics.forEach((d) => dynamic.add(d));
    statics.forEach(visit);
  };
  visit(join(DIST, 'cli.js'));
  // cli.js reaches the command line by import() after the runtime check; walk from there too
  for (const entry of [...dynamic].filter((f) => f.endsWith('/cli/main.js'))) visit(entry);
  const loaded = [...seen].map((f) => relative(DIST, f)).sort();
  const deferred = [...dynamic].map((f) => relative(DIST, f)).filter((f) => f !== 'cli/main.js').sort();
  for (const mode of ['proxy/engine.js', 'proxy/cluster.js', 'proxy/tls/put.js', 'dns/server.js', 'announce/announcer.js', 'render/renderer.js', 'services/listing.js', 'store/open.js']) {
    assert.ok(deferred.includes(mode), `${mode} is imported by a create() or main`);
  }
  assert.deepEqual(loaded.filter((f) => deferred.includes(f)), [], 'statically loaded yet meant to load lazily');
  assert.deepEqual(loaded.filter((f) => f.startsWith('proxy/')), ['proxy/acme/flags.js', 'proxy/command.js', 'proxy/config.js', 'proxy/engine-choice.js', 'proxy/tcp/flags.js', 'proxy/tcp/spec.js', 'proxy/tls/command.js', 'proxy/tls/flags.js']);
});

test('the preload really hides the internals: require, import and process.binding all fail', { timeout: 30_000 }, async () => {
  const probe = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const outcomes = {};
    const attempt = async (name, fn) => { try { await fn(); outcomes[name] = 'loaded'; } catch { outcomes[name] = 'failed'; } };
    await attempt('require', () => require('_http_common'));
    await attempt('require node:', () => require('node:_http_common'));
    await attempt('import', () => import('_http_common'));
    await attempt('binding', () => process.binding('stream_wrap'));
    await attempt('node:http', () => import('node:http').then((m) => { if (typeof m.createServer !== 'function') throw new Error(); }));
    console.log(JSON.stringify(outcomes));`;
  const run = (env: NodeJS.ProcessEnv) =>
    new Promise<Record<string, string>>((resolve, reject) =>
      execFile(process.execPath, ['--no-deprecation', '--input-type=module', '-e', probe], { env, timeout: 20_000 }, (err, stdout) =>
        err ? reject(err) : resolve(JSON.parse(stdout) as Record<string, string>),
      ),
    );
  assert.deepEqual(await run({ ...process.env, ...HIDDEN }), { require: 'failed', 'require node:': 'failed', import: 'failed', binding: 'failed', 'node:http': 'loaded' });
  // and without it the same probe loads them, so the preload is what makes the difference
  assert.deepEqual(await run(process.env), { require: 'loaded', 'require node:': 'loaded', import: 'loaded', binding: 'loaded', 'node:http': 'loaded' });
  assert.ok(HIDDEN.NODE_OPTIONS!.includes(pathToFileURL(NO_HTTP_INTERNALS).href));
});

test('without the HTTP internals: --help, every mode --help and flag checks work', { timeout: 60_000 }, async () => {
  const main = await runBeacon(['--help'], HIDDEN);
  assert.equal(main.code, 0, main.stderr);
  assert.match(main.stdout, /Usage: beacon <mode>/);
  for (const mode of ['announce', 'dns', 'proxy', 'render', 'services', 'demo']) {
    const r = await runBeacon([mode, '--help'], HIDDEN);
    assert.equal(r.code, 0, `${mode} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: beacon ${mode}`));
  }
  // flag validation happens before any mode code loads: still exit 2 naming the flag
  const bad = await runBeacon(['dns', '--listen', 'nowhere'], HIDDEN);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--listen/);
  const badProxy = await runBeacon(['proxy', '--client-request-timeout', '1s', '--store', 'etcd://127.0.0.1:1'], HIDDEN);
  assert.equal(badProxy.code, 2, badProxy.stderr);
  assert.match(badProxy.stderr, /--client-request-timeout/);
});

test('without the HTTP internals: beacon dns serves a name from the store to dig; services lists', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-lazy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/skydns/local/skydns/api/a1', JSON.stringify({ host: '10.70.0.1', port: 8080 }));
  await store.put('/services/api/a1', '10.70.0.1:8080');
  await store.close();

  const port = await freePort(true);
  const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--store', `file://${dir}`, '--udp-workers', '0'], HIDDEN);
  t.after(() => dns.stop());
  await dns.waitForLog('dns index ready');
  assert.deepEqual(values(await dig(port, 'api.skydns.local', 'A'), 'A'), ['10.70.0.1']);

  const services = await runBeacon(['services', '--json', '--store', `file://${dir}`], HIDDEN);
  assert.equal(services.code, 0, services.stderr);
  assert.match(services.stdout, /10\.70\.0\.1:8080/);
});
