// Store.tryLock, the same contract on both backends: one holder at a time (its lease id is the
// value), others are told who holds it, the lock goes with the holder's lease (revoked or expired)
// and the next caller takes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdStore } from '../../dist/store/etcd.js';
import { FileStore } from '../../dist/store/file.js';
import type { Store } from '../../dist/store/store.js';
import { EtcdCluster } from '../harness/etcd.ts';
import { waitFor } from '../harness/wait.ts';

async function contract(a: Store, b: Store): Promise<void> {
  const leaseA = await a.grantLease(2000);
  const leaseB = await b.grantLease(2000);
  // concurrent first tries: exactly one wins, both name the same holder
  const [holderA, holderB] = await Promise.all([a.tryLock('/t/lock', leaseA), b.tryLock('/t/lock', leaseB)]);
  assert.equal(holderA, holderB, 'both see one holder');
  assert.ok(holderA === leaseA.id || holderA === leaseB.id);
  const [winner, winnerLease, loser, loserLease] = holderA === leaseA.id ? [a, leaseA, b, leaseB] : [b, leaseB, a, leaseA];
  // asking again changes nothing, for either
  assert.equal(await winner.tryLock('/t/lock', winnerLease), winnerLease.id);
  assert.equal(await loser.tryLock('/t/lock', loserLease), winnerLease.id);
  // the holder revokes its lease: the lock is free, the other takes it
  await winnerLease.revoke();
  assert.equal(await loser.tryLock('/t/lock', loserLease), loserLease.id);
  // a lease that expires (no keepalive) frees the lock too
  loserLease.release();
  const third = await winner.grantLease(2000);
  assert.equal(await winner.tryLock('/t/lock', third), loserLease.id, 'still held until the lease runs out');
  await waitFor('the expired holder to lose the lock', async () => ((await winner.tryLock('/t/lock', third)) === third.id ? true : undefined), 10_000);
  await third.revoke();
}

test('etcd: one holder, freed by revoke and by expiry', { timeout: 60_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const a = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  const b = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  t.after(() => Promise.all([a.close(), b.close()]));
  await contract(a, b);
});

// The file store's lock is exact within one process (its tries queue); across processes on one
// host it is best effort (write, then read back), so the contract is held within one process.
test('file store: one holder, freed by revoke and by expiry', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  t.after(() => store.close());
  await contract(store, store);
});
