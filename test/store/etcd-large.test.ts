import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../dist/store/etcd.js';
import { EtcdCluster } from '../harness/etcd.ts';

test('etcd store reads a view larger than gRPC\'s default 4 MiB message limit', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const store = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  t.after(() => store.close());
  const value = JSON.stringify({ host: '10.0.0.1', port: 80, text: 'x'.repeat(1000) });
  const N = 5000;
  for (let i = 0; i < N; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, N - i) }, (_, j) => store.put(`/skydns/local/big/i${i + j}`, value)));
  }
  const snapshot = await store.read(['/skydns/']);
  assert.equal(snapshot.kvs.length, N);
  assert.ok(snapshot.kvs.reduce((n, kv) => n + kv.value.length, 0) > 4 * 1024 * 1024);
});
