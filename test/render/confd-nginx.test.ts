// beacon render with confd template resources against a real etcd and a real nginx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const reloads = (): number => (existsSync(join(nginx.root, 'reloads')) ? readFileSync(join(nginx.root, 'reloads'), 'utf8').split('\n').filter(Boolean).length : 0);
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

  await waitFor('nginx serves the rendered upstreams', async () => !(await collect(nginx.port, 4)).includes('c'), 10_000, 100);
  const bodies = await collect(nginx.port, 6);
  assert.deepEqual(bodies.slice().sort(), ['a', 'a', 'a', 'b', 'b', 'b']);
  for (let i = 1; i < bodies.length; i++) assert.notEqual(bodies[i], bodies[i - 1], `round robin alternates: ${bodies.join(',')}`);
});
