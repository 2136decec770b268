// `beacon proxy --workers N` hands each worker its config over the IPC channel: the etcd password
// is in no worker's environment (/proc/<pid>/environ), yet the workers authenticate to an etcd
// with auth enabled and serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startBeacon } from '../harness/beacon.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { send, startUpstream } from './fixtures.ts';

const SECRET = 'pw-9f2c41-not-in-env';

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
}

test('--workers 2: the etcd password reaches the workers over IPC, not through their environment', { timeout: 90_000 }, async (t) => {
  const app = await startUpstream('app1');
  t.after(() => app.close());
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  await etcd.put('/services/web/app1', `127.0.0.1:${app.port}`);
  await etcd.etcdctl('user', 'add', 'root:rootpw');
  await etcd.etcdctl('user', 'add', `beacon:${SECRET}`);
  await etcd.etcdctl('role', 'add', 'reader');
  await etcd.etcdctl('role', 'grant-permission', 'reader', '--prefix=true', 'read', '/services/');
  // the proxy watches its routes too (issue 14)
  await etcd.etcdctl('role', 'grant-permission', 'reader', '--prefix=true', 'read', '/beacon/routes/');
  await etcd.etcdctl('user', 'grant-role', 'beacon', 'reader');
  await etcd.etcdctl('auth', 'enable');

  const port = await freePort();
  const admin = await freePort();
  const proxy = startBeacon(
    ['proxy', '--workers', '2', '--store', etcd.url, '--etcd-user', 'beacon', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--default-service', 'web', '--no-access-log'],
    { BEACON_ETCD_PASSWORD: SECRET },
  );
  t.after(() => proxy.stop('SIGKILL'));
  await proxy.waitForLog('proxy workers listening');

  // the primary was given the secret in its environment: that is what a worker would inherit
  assert.ok(environ(proxy.child.pid!).includes(`BEACON_ETCD_PASSWORD=${SECRET}`));
  const status = (await waitFor('both workers ready', async () => {
    const s = JSON.parse((await send(admin, { path: '/status' })).text) as { ready: boolean; workers: { pid: number }[] };
    return s.ready ? s : undefined;
  }, 20_000)) as { workers: { pid: number }[] };
  assert.equal(status.workers.length, 2);
  for (const { pid } of status.workers) {
    const env = environ(pid);
    assert.ok(env.some((v) => v.startsWith('NODE_UNIQUE_ID=')), `pid ${pid} is a cluster worker`);
    const leaks = env.filter((v) => v.includes(SECRET) || v.startsWith('BEACON_ETCD_PASSWORD=') || v.startsWith('BEACON_PROXY_WORKER_CONFIG='));
    assert.deepEqual(leaks, [], `worker ${pid}'s environment`);
  }

  // the workers read /services as user beacon (auth on): the password did reach them
  for (let i = 0; i < 6; i++) {
    const r = await send(port, { path: '/', headers: { connection: 'close' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'app1');
  }
});
