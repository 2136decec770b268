// The pure latency window hedging reads: the p99 of the last samples, and the hedge delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEDGE_FACTOR, hedgeDelay, LatencyWindow, WINDOW } from '../../dist/proxy/latency.js';

test('p99: nearest rank over the samples held; 0 when empty', () => {
  const w = new LatencyWindow();
  assert.equal(w.p99(), 0);
  w.record(5);
  assert.equal(w.p99(), 5);
  for (let i = 1; i <= 100; i++) w.record(i);
  // 101 samples: rank ceil(101 * 0.99) = 100 -> the 100th smallest
  assert.equal(w.p99(), 99);
  // cached until a sample arrives; then sorted again (not lexically: 1000 > 99)
  w.record(1000);
  assert.equal(w.p99(), 100);
});

test('only the last WINDOW samples count: an old spike ages out', () => {
  const w = new LatencyWindow();
  for (let i = 0; i < 10; i++) w.record(5000);
  assert.equal(w.p99(), 5000);
  for (let i = 0; i < WINDOW; i++) w.record(2);
  assert.equal(w.size, WINDOW);
  assert.equal(w.p99(), 2);
});

test('hedge delay: the minimum, or HEDGE_FACTOR x p99 when larger; 0 = off', () => {
  assert.equal(HEDGE_FACTOR, 3);
  const table: [number, number, number][] = [
    [1000, 0, 1000],
    [1000, 5, 1000],
    [1000, 400, 1200],
    [1000, 1500, 4500],
    [0, 1500, 0],
    [250, 10, 250],
  ];
  for (const [min, p99, want] of table) assert.equal(hedgeDelay(min, p99), want, `min ${min}, p99 ${p99}`);
});
