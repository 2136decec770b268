import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToggleApp } from '../harness/app.ts';
import { startBeacon } from '../harness/beacon.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { httpGet } from '../harness/http.ts';
import { Partition } from '../harness/partition.ts';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';

test('split brain: an instance removed while the proxy was cut off gets no traffic after the link heals', { timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const link = await Partition.start(etcd.members[0]!.clientPort);
  t.after(() => link.close());
  const apps = await Promise.all(['a', 'b'].map((n) => ToggleApp.start(n)));
  t.after(() => Promise.all(apps.map((a) => a.close())));
  await etcd.put('/services/web/a', `127.0.0.1:${apps[0]!.port}`);
  await etcd.put('/services/web/b', `127.0.0.1:${apps[1]!.port}`);
  const port = await freePort();
  const proxy = startBeacon(['proxy', '--store', `etcd://127.0.0.1:${link.port}`, '--listen', `127.0.0.1:${port}`, '--default-service', 'web', '--no-access-log']);
  t.after(() => proxy.stop('SIGKILL'));
  const hits = async (n: number): Promise<Map<string, number>> => {
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const res = await httpGet(port, 'anything');
      counts.set(res.body.trim(), (counts.get(res.body.trim()) ?? 0) + 1);
    }
    return counts;
  };
  await waitFor('both instances serve', async () => (await hits(4)).size === 2, 15_000, 100);

  link.disconnect();
  await etcd.del('/services/web/a');
  await etcd.put('/services/web/c', `127.0.0.1:${apps[1]!.port}`);
  // History of the removal compacted away too: resuming the watch is not enough, a re-read is.
  await etcd.compact();
  await sleep(500);
  const during = await hits(6);
  assert.equal(during.get('a'), 3, 'while cut off, the proxy keeps its last view (a and b)');

  link.reconnect();
  await waitFor('a dropped after the link heals', async () => !(await hits(6)).has('a'), 20_000, 200);
  const after = await hits(20);
  assert.deepEqual([...after.keys()], ['b']);
});
