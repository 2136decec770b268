import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToggleApp } from '../harness/app.ts';
import { startBeacon } from '../harness/beacon.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { sleep, waitFor } from '../harness/wait.ts';

test('three-member etcd: killing the leader loses no registration; a full outage is survived', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start({ members: 3 });
  t.after(() => etcd.stop());
  const apps = await Promise.all([1, 2, 3].map((i) => ToggleApp.start(`app${i}`)));
  t.after(() => Promise.all(apps.map((a) => a.close())));
  const sidecars = apps.map((app, i) =>
    startBeacon([
      'announce', '--store', etcd.url, '--service', 'web', '--id', `web${i + 1}`, '--host', '127.0.0.1', '--port', String(app.port),
      '--interval', '200ms', '--timeout', '150ms', '--rise', '1', '--ttl', '3s',
    ]),
  );
  t.after(() => Promise.all(sidecars.map((s) => s.stop('SIGKILL'))));
  const registered = async (): Promise<number> => (await etcd.getPrefix('/services/web/')).size;
  await waitFor('all three registered', async () => (await registered()) === 3, 15_000);

  const leader = await etcd.leader();
  await etcd.stopMember(leader, 'SIGKILL');
  // Longer than the lease TTL: keepalives must have moved to the surviving members.
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    assert.equal(await registered(), 3, 'no registration lost while the leader is down');
    await sleep(250);
  }
  await etcd.restartMember(leader);
  assert.equal(await registered(), 3);

  // The whole cluster down for longer than the TTL: leases expire; every sidecar registers again.
  await Promise.all(etcd.members.map((m) => etcd.stopMember(m, 'SIGKILL')));
  await sleep(6000);
  await Promise.all(etcd.members.map((m) => etcd.startMember(m)));
  await etcd.waitHealthy(30_000);
  const back = Date.now();
  await waitFor('every instance registered again', async () => (await registered()) === 3, 20_000, 100);
  assert.ok(Date.now() - back < 20_000);
  for (const s of sidecars) assert.equal(s.child.exitCode, null, 'sidecars kept running');
});
