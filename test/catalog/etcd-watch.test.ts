import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Catalog } from '../../dist/catalog/catalog.js';
import { EtcdStore } from '../../dist/store/etcd.js';
import { EtcdCluster } from '../harness/etcd.ts';
import { Partition } from '../harness/partition.ts';
import { waitFor } from '../harness/wait.ts';

test('catalog over etcd: a partition with changes and a compaction meanwhile converges after the link heals', { timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const link = await Partition.start(etcd.members[0]!.clientPort);
  t.after(() => link.close());
  await etcd.put('/services/web/a', '10.0.0.1:80');
  await etcd.put('/services/web/b', '10.0.0.2:80');
  const store = new EtcdStore({ endpoints: [`127.0.0.1:${link.port}`], callTimeoutMs: 1000 });
  const catalog = new Catalog({ store, log: pino({ level: 'silent' }), services: { prefix: '/services' } });
  t.after(async () => {
    await catalog.stop();
    await store.close();
  });
  const readiness: boolean[] = [];
  catalog.on('ready', (r) => readiness.push(r));
  await catalog.start();
  const ids = (): string[] => catalog.instances('web').map((i) => i.id);
  assert.deepEqual(ids(), ['a', 'b']);

  // Live changes arrive quickly.
  const t0 = Date.now();
  await etcd.put('/services/web/c', '10.0.0.3:80');
  await waitFor('c', () => ids().includes('c'), 2000, 5);
  assert.ok(Date.now() - t0 < 1000);

  link.disconnect();
  await waitFor('not ready while partitioned', () => !catalog.ready, 10_000);
  // While beacon cannot see etcd: an instance leaves, one arrives, and history is compacted
  // past the revision the watch would resume from.
  await etcd.del('/services/web/a');
  await etcd.put('/services/web/d', '10.0.0.4:80');
  await etcd.put('/services/unrelated/x', '10.9.9.9:80');
  await etcd.compact();
  assert.deepEqual(ids(), ['a', 'b', 'c'], 'the last known view is kept during the partition');

  link.reconnect();
  await waitFor('converged after the partition', () => ids().join() === 'b,c,d' && catalog.ready, 30_000, 50);
  assert.ok(readiness.includes(false) && readiness.at(-1) === true);
  await etcd.put('/services/web/e', '10.0.0.5:80');
  await waitFor('watch live again after the reset', () => ids().includes('e'), 5000);
});
