import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster } from '../harness/etcd.ts';
import { EtcdStore } from '../../dist/store/etcd.js';

test('etcd store reads prefixes at one revision and watches changes', { timeout: 60_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  await etcd.put('/services/app/a', '10.0.0.1:80');
  const store = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  t.after(() => store.close());
  const snap = await store.read(['/services/', '/skydns/']);
  assert.equal(snap.kvs.length, 1);
  const seen: string[] = [];
  const w = await store.watch(['/services/'], snap.revision, { onChanges: (evs) => evs.forEach((e) => seen.push(e.type)), onReset: () => {} });
  await etcd.put('/services/app/b', '10.0.0.2:80');
  await etcd.del('/services/app/a');
  const start = Date.now();
  while (seen.length < 2 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, ['put', 'delete']);
  await w.cancel();
});
