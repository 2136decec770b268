// A view is read in pages, all at the revision of the first page: writes made between two pages
// are not in it. A real etcd, a page size of 3 keys so that the read takes many round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../dist/store/etcd.js';
import { EtcdCluster } from '../harness/etcd.ts';

test('a paged read returns every key of every prefix at one revision, without writes made between pages', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const writer = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  t.after(() => writer.close());
  const N = 600;
  const key = (i: number): string => `/services/paged/k${String(i).padStart(4, '0')}`;
  for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => writer.put(key(i + j), `10.0.${(i + j) >> 8}.${(i + j) & 255}:80`)));
  for (let i = 0; i < 30; i++) await writer.put(`/skydns/local/paged/i${i}`, '{"host":"10.9.0.1"}');
  // outside both prefixes: never read
  await writer.put('/servicesx/other', '10.0.0.1:80');
  const before = await writer.read(['/services/paged/']);

  const reader = new EtcdStore({ endpoints: etcd.endpoints.split(','), pageSize: 3 });
  t.after(() => reader.close());
  // connected before the read starts, so its first page comes before the writes
  await reader.read(['/nothing/']);
  let readDone = false;
  const reading = reader.read(['/services/', '/skydns/']).finally(() => (readDone = true));
  // let the first page be answered (the read then takes some 200 more round trips)
  await new Promise((r) => setTimeout(r, 20));
  // written while the pages are read: a new key after the last one, the last key changed, one deleted,
  // and a new key under the second prefix
  await writer.put('/services/paged/zzz', '10.1.0.1:80');
  await writer.put(key(N - 1), '10.1.0.2:80');
  await writer.delete(key(N - 2));
  await writer.put('/skydns/local/paged/late', '{"host":"10.9.0.2"}');
  const writtenDuringRead = !readDone;
  const snapshot = await reading;

  assert.ok(writtenDuringRead, 'the writes were made while the read was still paging');
  assert.equal(snapshot.revision, before.revision, 'the revision of the first page');
  const got = new Map(snapshot.kvs.map((kv) => [kv.key, kv.value]));
  assert.equal(snapshot.kvs.length, N + 30, 'every key once');
  assert.equal(got.size, N + 30);
  assert.equal(got.get(key(N - 1)), `10.0.2.${(N - 1) & 255}:80`, 'the value at the revision, not the later write');
  assert.ok(got.has(key(N - 2)), 'a key deleted later is still there');
  assert.ok(!got.has('/services/paged/zzz'));
  assert.ok(!got.has('/skydns/local/paged/late'));
  assert.ok(!got.has('/servicesx/other'));
  assert.ok(snapshot.kvs.every((kv) => kv.modRevision <= snapshot.revision));
  // in key order, as one range read returns them
  const keys = snapshot.kvs.map((kv) => kv.key);
  assert.deepEqual(keys.slice(0, N), [...keys.slice(0, N)].sort());

  // and a read after the writes sees them
  const after = await reader.read(['/services/']);
  assert.equal(after.kvs.length, N);
  assert.ok(after.kvs.some((kv) => kv.key === '/services/paged/zzz'));
});
