// Which keys a confd template resource reads, against a real etcd: key entries on a path boundary
// (confd's etcd v3 backend), --prefix replacing the resource's prefix, and resources without keys.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster } from '../harness/etcd.ts';
import { runBeacon, startBeacon } from '../harness/beacon.ts';
import { waitFor } from '../harness/wait.ts';

let etcd: EtcdCluster;
let root: string;

before(async () => {
  etcd = await EtcdCluster.start();
  root = mkdtempSync(join(tmpdir(), 'beacon-confd-keys-'));
});

after(async () => {
  await etcd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

let dirs = 0;

/** A confdir with one resource `r.toml` (extra TOML lines in `toml`); returns it and its dest. */
function confdir(template: string, toml: string): { dir: string; dest: string } {
  const dir = join(root, `c${++dirs}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'templates'));
  const dest = join(dir, 'out.conf');
  writeFileSync(join(dir, 'templates', 'r.tmpl'), template);
  writeFileSync(join(dir, 'conf.d', 'r.toml'), `[template]\nsrc = "r.tmpl"\ndest = "${dest}"\n${toml}`);
  return { dir, dest };
}

const LIST = '{{range gets "/services/*"}}{{.Key}}={{.Value}}\n{{end}}{{range gets "/services/*/*"}}{{.Key}}={{.Value}}\n{{end}}';

test('a key entry /services/web reads /services/web and below, never /services/web-old (confd etcd v3); also while watching', { timeout: 60_000 }, async (t) => {
  await etcd.put('/services/web', 'parent');
  await etcd.put('/services/web/a', '10.0.0.1:80');
  await etcd.put('/services/web-old/b', '10.0.0.2:80');
  await etcd.put('/services/webx', 'other');
  const { dir, dest } = confdir(LIST, 'keys = [ "/services/web" ]\n');
  const r = await runBeacon(['render', '--store', etcd.url, '--confdir', dir, '--onetime']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(dest, 'utf8'), '/services/web=parent\n/services/web/a=10.0.0.1:80\n');

  const render = startBeacon(['render', '--store', etcd.url, '--confdir', dir, '--wait', '50ms:200ms']);
  t.after(() => render.stop('SIGKILL'));
  await render.waitForLog('template resources loaded');
  await etcd.put('/services/web-old/c', '10.0.0.3:80');
  await etcd.put('/services/web/d', '10.0.0.4:80');
  await waitFor('d rendered', () => readFileSync(dest, 'utf8').includes('/services/web/d='), 15_000);
  assert.equal(readFileSync(dest, 'utf8'), '/services/web=parent\n/services/web/a=10.0.0.1:80\n/services/web/d=10.0.0.4:80\n');
  assert.equal((await render.stop('SIGTERM', 10_000)).code, 0);
});

test('--prefix replaces the resource prefix (confd >= 0.12), it is not prepended', { timeout: 60_000 }, async () => {
  await etcd.put('/production/app/x', 'production');
  await etcd.put('/staging/app/x', 'staging');
  await etcd.put('/staging/production/app/x', 'prepended');
  const { dir, dest } = confdir('{{getv "/app/x"}}\n', 'prefix = "/production"\nkeys = [ "/app" ]\n');
  let r = await runBeacon(['render', '--store', etcd.url, '--confdir', dir, '--onetime']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(dest, 'utf8'), 'production\n');
  r = await runBeacon(['render', '--store', etcd.url, '--confdir', dir, '--onetime', '--prefix', '/staging']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(dest, 'utf8'), 'staging\n');
});

test('keys = [] renders like a resource without keys: no store data, the template still runs (onetime and watch)', { timeout: 60_000 }, async (t) => {
  for (const keys of ['keys = []\n', '']) {
    const { dir, dest } = confdir('host {{getenv "DEMO_HOST" "none"}} {{len (ls "/")}}\n', keys);
    const r = await runBeacon(['render', '--store', etcd.url, '--confdir', dir, '--onetime'], { DEMO_HOST: 'h1' });
    assert.equal(r.code, 0, `${JSON.stringify(keys)}: ${r.stderr}`);
    assert.equal(readFileSync(dest, 'utf8'), 'host h1 0\n');
  }
  const { dir, dest } = confdir('host {{getenv "DEMO_HOST" "none"}}\n', 'keys = []\n');
  const render = startBeacon(['render', '--store', etcd.url, '--confdir', dir, '--wait', '50ms:200ms'], { DEMO_HOST: 'h2' });
  t.after(() => render.stop('SIGKILL'));
  await waitFor('rendered while watching', () => existsSync(dest) && readFileSync(dest, 'utf8') === 'host h2\n', 15_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${render.output()}`);
  });
  assert.equal((await render.stop('SIGTERM', 10_000)).code, 0);
});
