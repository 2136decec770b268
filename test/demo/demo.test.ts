import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { startBeacon } from '../harness/beacon.ts';
import { spawnTracked } from '../harness/procs.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { EtcdCluster } from '../harness/etcd.ts';

const run = promisify(execFile);

function children(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((s) => Number(s.trim())).filter(Boolean);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('beacon demo: apps behind the proxy and in DNS; Ctrl-C stops every process', { timeout: 90_000 }, async (t) => {
  const dnsPort = await freePort(true);
  const proxyPort = await freePort();
  const demo = startBeacon(['demo', '--dns-listen', `127.0.0.1:${dnsPort}`, '--proxy-listen', `127.0.0.1:${proxyPort}`], { BEACON_STORE: '' });
  t.after(() => demo.stop('SIGKILL'));
  await waitFor('demo ready', () => demo.output().includes('demo ready'), 60_000, 100).catch((err: Error) => {
    throw new Error(`${err.message}\n${demo.output()}`);
  });
  assert.match(demo.output(), /store file:\/\//, 'runs on the embedded file store without etcd');
  const kids = children(demo.child.pid!);
  assert.equal(kids.length, 3 * 2 + 2, 'three apps, three sidecars, dns and proxy');

  const seen = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const res = await fetch(`http://127.0.0.1:${proxyPort}/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    seen.add((await res.text()).split(' ')[2]!);
  }
  assert.deepEqual([...seen].sort(), ['web1', 'web2', 'web3'], 'round robin reaches every app');

  const srv = await run('dig', ['+short', '+time=2', '+tries=1', '-p', String(dnsPort), '@127.0.0.1', 'web.skydns.local', 'SRV'], { timeout: 10_000 });
  const targets = srv.stdout.trim().split('\n').map((l) => l.split(' ')[3]).sort();
  assert.deepEqual(targets, ['web1.web.skydns.local.', 'web2.web.skydns.local.', 'web3.web.skydns.local.']);
  const a = await run('dig', ['+short', '+time=2', '+tries=1', '-p', String(dnsPort), '@127.0.0.1', 'web.skydns.local', 'A'], { timeout: 10_000 });
  assert.equal(a.stdout.trim(), '127.0.0.1');

  // The printed `services --watch` command works from the user's shell, whose PATH has no
  // node_modules/.bin: `node` there may be an older system Node (20 here, which crashes in undici).
  const line = demo.output().split('\n').find((l) => / services --store /.test(l));
  assert.ok(line, demo.output());
  const command = line.replace(/#.*$/, '').trim();
  const userPath = (process.env.PATH ?? '').split(':').filter((d) => !d.includes('node_modules')).join(':');
  const services = spawnTracked('sh', ['-c', `exec ${command}`], { env: { ...process.env, PATH: userPath } });
  t.after(() => services.stop('SIGKILL'));
  await waitFor('the printed services command lists the apps', () => /web3/.test(services.output()), 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n$ ${command}\n${services.output().slice(-2000)}`);
  });
  assert.match(services.output(), /web1 .*web2 .*web3|web1[\s\S]*web2[\s\S]*web3/);
  assert.equal(services.child.exitCode, null, 'still watching');
  await services.stop('SIGTERM');

  const exit = await demo.stop('SIGINT', 20_000);
  assert.equal(exit.code, 0);
  assert.match(demo.output(), /demo stopped/);
  await waitFor('every child gone', () => kids.every((pid) => !alive(pid)), 5000);
});

test('beacon demo: a service name that is not a DNS label is refused at once', { timeout: 30_000 }, async () => {
  const demo = startBeacon(['demo', '--service', 'Bad_Name']);
  assert.equal((await demo.exited).code, 2);
  assert.match(demo.output(), /--service: must be a short DNS label/);
});

test('beacon demo: a taken port fails fast with a clear message', { timeout: 30_000 }, async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const taken = (blocker.address() as { port: number }).port;
  const demo = startBeacon(['demo', '--dns-listen', `127.0.0.1:${await freePort(true)}`, '--proxy-listen', `127.0.0.1:${taken}`]);
  const exit = await demo.exited;
  assert.equal(exit.code, 2);
  assert.match(demo.output(), new RegExp(`--proxy-listen: proxy address 127\\.0\\.0\\.1:${taken} is taken`));
  assert.deepEqual(children(demo.child.pid!), []);
});

test('beacon demo with BEACON_STORE=etcd://... registers in etcd', { timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  // Store settings reach every child: here a non-default prefix.
  const demo = startBeacon(['demo', '--apps', '2', '--services-prefix', '/svc', '--dns-listen', `127.0.0.1:${await freePort(true)}`, '--proxy-listen', `127.0.0.1:${await freePort()}`], { BEACON_STORE: etcd.url });
  t.after(() => demo.stop('SIGKILL'));
  await waitFor('demo ready', () => demo.output().includes('demo ready'), 60_000, 100);
  assert.match(demo.output(), new RegExp(`store ${etcd.url.replace(/[.]/g, '\\.')}`));
  assert.deepEqual([...(await etcd.getPrefix('/svc/web/')).keys()].sort(), ['/svc/web/web1', '/svc/web/web2']);
  assert.equal((await demo.stop('SIGINT', 20_000)).code, 0);
  assert.equal((await etcd.getPrefix('/svc/web/')).size, 0, 'sidecars deregistered on the way out');
});
