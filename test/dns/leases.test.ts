// leaseClock against a store that counts its lease look-ups: new leases are asked at once, known
// ones every refresh period (not every tick), short ones sooner; in between the time runs down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseClock } from '../../dist/catalog/leases.js';
import { createLogger } from '../../dist/log.js';
import type { Store } from '../../dist/store/store.js';
import { sleep } from '../harness/wait.ts';

function countingStore(remainingMs: Record<string, number>): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const store = {
    leaseRemaining(id: string) {
      calls.set(id, (calls.get(id) ?? 0) + 1);
      return Promise.resolve(remainingMs[id]);
    },
  } as unknown as Store;
  return { store, calls };
}

test('LeaseClock: a new lease is read at once; known ones every refresh period, not every tick', { timeout: 30_000 }, async () => {
  // 15 s leases, ticks every 20 ms, readings trusted for 200 ms
  const { store, calls } = countingStore({ '1': 15_000, '2': 15_000, short: 300 });
  const clock = new LeaseClock(store, createLogger('silent'), 20, 200);
  let updates = 0;
  clock.onUpdate(() => updates++);
  await clock.track(new Set(['1', '2']));
  assert.equal(calls.get('1'), 1, 'read when tracked');
  assert.ok(updates >= 1);
  const now = Date.now();
  assert.equal(clock.seconds('1', now), 15);
  // the remaining time runs down locally between readings
  assert.equal(clock.seconds('1', now + 3000), 12);
  assert.equal(clock.seconds('1', now + 20_000), 0);
  assert.equal(clock.seconds('unknown', now), undefined);

  clock.start();
  await clock.track(new Set(['1', '2', 'short']));
  assert.equal(calls.get('short'), 1, 'a lease new to the index is read at once');
  await sleep(1000);
  clock.stop();
  // 1 s of 20 ms ticks: every tick would be ~50 readings per lease; every 200 ms is ~5
  const long = calls.get('1')!;
  const short = calls.get('short')!;
  assert.ok(long >= 2 && long <= 12, `15 s lease read ${long} times in 1 s`);
  // a 300 ms lease is trusted for half of that
  assert.ok(short >= long && short <= 20, `300 ms lease read ${short} times in 1 s (the long one ${long})`);
  assert.equal(clock.entries().length, 3);
  // leases no longer in use are forgotten
  await clock.track(new Set(['2']));
  assert.equal(clock.size, 1);
  assert.equal(clock.seconds('1', Date.now()), undefined);
});

test('LeaseClock: a gone lease reads as expired and is asked again every tick', { timeout: 30_000 }, async () => {
  const { store, calls } = countingStore({});
  const clock = new LeaseClock(store, createLogger('silent'), 20, 200);
  await clock.track(new Set(['9']));
  assert.equal(clock.seconds('9', Date.now()), 0);
  clock.start();
  await sleep(500);
  clock.stop();
  assert.ok(calls.get('9')! >= 10, `asked ${calls.get('9')} times`);
});
