// beacon render with confd template resources against a real etcd and a real nginx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster } from '../harness/etcd.ts';
import { runBeacon, startBeacon, type BeaconProcess } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { collect, Nginx, startUpstream, stopUpstream, type Upstream } from './nginx.ts';
import { EtcdStore } from '../../dist/store/etcd.js';

// The template from the issue, byte for byte.
const ISSUE_TEMPLATE = `upstream app {
  {{ range getvs "/services/app/*" }}
  server {{ . }};
  {{ end }}
}
`;

let etcd: EtcdCluster;
let nginx: Nginx;
let confdir: string;
let dest: string;
let reloadCmd: string;
const ups: Record<string, Upstream> = {};
let announceB: BeaconProcess;
let render: BeaconProcess | undefined;
let adminPort: number;

const file = (): string => readFileSync(dest, 'utf8');
const reloads = (): number => nginx.reloads();
const addr = (u: Upstream): string => `127.0.0.1:${u.port}`;

/** What the issue template renders for these host:port values (getvs sorts values). */
function expected(values: string[]): string {
  return `upstream app {\n  ${[...values].sort().map((v) => `\n  server ${v};\n  `).join('')}\n}\n`;
}

function writeResource(name: string, template: string, keys: string[], out: string): void {
  writeFileSync(join(confdir, 'templates', `${name}.conf.tmpl`), template);
  writeFileSync(
    join(confdir, 'conf.d', `${name}.toml`),
    `[template]
src = "${name}.conf.tmpl"
dest = "${out}"
keys = [ ${keys.map((k) => JSON.stringify(k)).join(', ')} ]
mode = "0644"
check_cmd = "${nginx.checkCmd}"
reload_cmd = "${reloadCmd}"
`,
  );
}

before(async () => {
  etcd = await EtcdCluster.start();
  nginx = await Nginx.create('app');
  reloadCmd = nginx.countingReloadCmd();
  confdir = mkdtempSync(join(tmpdir(), 'beacon-confd-'));
  mkdirSync(join(confdir, 'conf.d'));
  mkdirSync(join(confdir, 'templates'));
  dest = join(nginx.root, 'conf.d', 'app.conf');
  writeResource('app', ISSUE_TEMPLATE, ['/services/app'], dest);
  for (const n of ['a', 'b', 'c']) ups[n] = await startUpstream(n);
  adminPort = await freePort();
});

after(async () => {
  await render?.stop();
  await announceB?.stop();
  await nginx?.stop();
  await Promise.all(Object.values(ups).map(stopUpstream));
  await etcd?.stop();
  if (confdir) rmSync(confdir, { recursive: true, force: true });
});

test('--onetime renders the issue template from keys written by announce and by etcdctl; nginx reaches every upstream in turn', { timeout: 60_000 }, async () => {
  await etcd.put('/services/app/a', addr(ups.a!));
  announceB = startBeacon(['announce', '--store', etcd.url, '--service', 'app', '--port', String(ups.b!.port), '--host', '127.0.0.1', '--id', 'b', '--rise', '1', '--interval', '200ms', '--timeout', '150ms']);
  await waitFor('announce registered b', () => etcd.get('/services/app/b'), 15_000);

  // a running nginx with the hand-written upstream file a site has before beacon
  writeFileSync(dest, `upstream app { server ${addr(ups.c!)}; }\n`);
  await nginx.start();
  assert.deepEqual(await collect(nginx.port, 2), ['c', 'c']);

  const r = await runBeacon(['render', '--store', etcd.url, '--confdir', confdir, '--onetime']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(file(), expected([addr(ups.a!), addr(ups.b!)]));
  assert.equal(reloads(), 1);

  await nginx.settled();
  const bodies = await collect(nginx.port, 6);
  assert.deepEqual(bodies.slice().sort(), ['a', 'a', 'a', 'b', 'b', 'b']);
  for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], `round robin alternates: ${bodies.join(',')}`);
});

/** log lines of the watching render so far whose msg includes `text` */
const logsWith = (text: string): Record<string, unknown>[] => render!.logs().filter((l) => String(l.msg).includes(text));

async function metric(name: string, resource = 'app.toml'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const m = new RegExp(`^${name}\\{resource="${resource.replace('.', '\\.')}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('watch: a new instance appears in the file and in nginx; a removed one disappears and nginx stops sending to it', { timeout: 60_000 }, async () => {
  render = startBeacon(['render', '--store', etcd.url, '--confdir', confdir, '--wait', '200ms:1s', '--admin', `127.0.0.1:${adminPort}`]);
  await render.waitForLog('template resources loaded');
  await waitFor('render ready', async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200, 15_000, 100);

  let before = reloads();
  await etcd.put('/services/app/c', addr(ups.c!));
  await waitFor('c in the file', () => file() === expected([addr(ups.a!), addr(ups.b!), addr(ups.c!)]), 10_000);
  await nginx.reloadedAfter(before);
  assert.deepEqual((await collect(nginx.port, 6)).sort(), ['a', 'a', 'b', 'b', 'c', 'c']);

  before = reloads();
  await etcd.del('/services/app/a');
  await waitFor('a gone from the file', () => file() === expected([addr(ups.b!), addr(ups.c!)]), 10_000);
  await nginx.reloadedAfter(before);
  const hitsA = ups.a!.hits;
  const bodies = await collect(nginx.port, 8);
  assert.deepEqual(bodies.sort(), ['b', 'b', 'b', 'b', 'c', 'c', 'c', 'c']);
  assert.equal(ups.a!.hits, hitsA);
  assert.ok((await metric('beacon_render_writes_total')) >= 2);
  assert.ok((await metric('beacon_render_reloads_total')) >= 2);
  const status = (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { mode: string; revision: number; resources: { name: string; dest: string; lastOutcome: string; writes: number }[] };
  assert.equal(status.mode, 'watch');
  assert.ok(status.revision > 0);
  assert.deepEqual(status.resources.map((r) => [r.name, r.dest, r.lastOutcome]), [['app.toml', dest, 'written']]);
  assert.ok(status.resources[0]!.writes >= 2);
});

test('a broken template keeps the previous file and nginx untouched, naming file, line and column', { timeout: 60_000 }, async () => {
  const before = file();
  const reloadsBefore = reloads();
  const tmpl = join(confdir, 'templates', 'app.conf.tmpl');
  writeFileSync(tmpl, 'upstream app {\n  {{ range getvs "/services/app/*" }}\n  server {{ . ;\n  {{ end }}\n}\n');
  const line = await waitFor('template error logged', () => logsWith('template failed')[0], 10_000);
  assert.match(String(line.err), new RegExp(`${tmpl.replace(/[.]/g, '\\.')}:3:15: `));
  // a change in etcd while the template is broken changes nothing either
  await etcd.put('/services/app/d', '127.0.0.1:1');
  await waitFor('second template error', () => logsWith('template failed').length >= 2, 10_000);
  assert.equal(file(), before);
  assert.equal(reloads(), reloadsBefore);
  assert.deepEqual((await collect(nginx.port, 4)).sort(), ['b', 'b', 'c', 'c']);
  assert.ok((await metric('beacon_render_template_errors_total')) >= 2);
  await etcd.del('/services/app/d');
  writeFileSync(tmpl, ISSUE_TEMPLATE);
  await waitFor('template fixed (a run without errors)', () => render!.logs().filter((l) => l.msg === 'template resources loaded').length >= 3, 10_000);
  await sleep(500);
  assert.equal(file(), before);
});

test('a check_cmd failure keeps the previous file and nginx untouched', { timeout: 60_000 }, async () => {
  const before = file();
  const reloadsBefore = reloads();
  const failuresBefore = await metric('beacon_render_check_failures_total');
  // nginx -t rejects the port; the template renders it as written
  await etcd.put('/services/app/zz', '127.0.0.1:99999');
  await waitFor('check failure counted', async () => (await metric('beacon_render_check_failures_total')) === failuresBefore + 1, 10_000, 100);
  assert.equal(file(), before);
  assert.equal(reloads(), reloadsBefore);
  assert.deepEqual(readdirStaged(), [], 'no staged file left behind');
  assert.ok(logsWith('check_cmd failed').length >= 1);
  await nginx.check();
  assert.deepEqual((await collect(nginx.port, 4)).sort(), ['b', 'b', 'c', 'c']);
  await etcd.del('/services/app/zz');
});

function readdirStaged(): string[] {
  return readdirSync(join(nginx.root, 'conf.d')).filter((n) => n.endsWith('.staged'));
}

test('removing the last instance keeps the last good file', { timeout: 60_000 }, async () => {
  await announceB.stop();
  await etcd.del('/services/app/c');
  await waitFor('guard logged', () => logsWith('keeping the last good file').length >= 1, 15_000);
  await sleep(500);
  assert.match(file(), /server 127\.0\.0\.1:\d+;/);
  await nginx.check();
  assert.equal((await collect(nginx.port, 2)).length, 2);
  assert.ok((await metric('beacon_render_guarded_total')) >= 1);
});

test('50 registrations in one burst cause at most 3 reloads', { timeout: 60_000 }, async (t) => {
  await etcd.put('/services/app/a', addr(ups.a!));
  await waitFor('a back', () => file() === expected([addr(ups.a!)]), 10_000);
  await sleep(1500);
  const reloadsBefore = reloads();
  const store = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  t.after(() => store.close());
  const values: string[] = [addr(ups.a!)];
  for (let i = 0; i < 50; i++) {
    const v = `127.0.0.1:${20000 + i}`;
    values.push(v);
    await store.put(`/services/app/burst-${i}`, v);
  }
  await waitFor('all 50 in the file', () => file() === expected(values), 15_000);
  await sleep(2000);
  const n = reloads() - reloadsBefore;
  assert.ok(n >= 1 && n <= 3, `reloads for the burst: ${n}`);
  await etcd.del('/services/app/burst-', true);
  await waitFor('burst gone', () => file() === expected([addr(ups.a!)]), 15_000);
});

test('a new .toml dropped in conf.d is picked up live', { timeout: 60_000 }, async () => {
  await etcd.put('/services/web/x', addr(ups.b!));
  const webDest = join(nginx.root, 'conf.d', 'web.conf');
  writeResource('web', 'upstream web {\n{{- range gets "/services/web/*" }}\n  server {{ .Value }}; # {{ base .Key }}\n{{- end }}\n}\n', ['/services/web'], webDest);
  await waitFor('web.conf written', () => existsSync(webDest) && readFileSync(webDest, 'utf8'), 15_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${render!.output().slice(-3000)}`);
  });
  assert.equal(readFileSync(webDest, 'utf8'), `upstream web {\n  server ${addr(ups.b!)}; # x\n}\n`);
  await etcd.put('/services/web/y', addr(ups.c!));
  await waitFor('y in web.conf', () => readFileSync(webDest, 'utf8').includes(addr(ups.c!)), 10_000);
  await nginx.check();
});

test('--noop prints the diff and writes nothing; --onetime exits non-zero when a check fails', { timeout: 60_000 }, async () => {
  await render!.stop();
  render = undefined;
  const before = file();
  const reloadsBefore = reloads();
  await etcd.put('/services/app/n', '127.0.0.1:7');
  const r = await runBeacon(['render', '--store', etcd.url, '--confdir', confdir, '--onetime', '--noop']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^--- ${dest.replace(/[.]/g, '\\.')}$`, 'm'));
  assert.match(r.stdout, /^\+ {2}server 127\.0\.0\.1:7;$/m);
  assert.equal(file(), before);
  assert.equal(reloads(), reloadsBefore);

  await etcd.put('/services/app/n', '127.0.0.1:99999');
  const bad = await runBeacon(['render', '--store', etcd.url, '--confdir', confdir, '--onetime']);
  assert.equal(bad.code, 1);
  assert.equal(file(), before);
  await etcd.del('/services/app/n');
});
