// proxy TCP connect timeouts: one FIFO and one timer for every attempt of a listener (a clock
// passed in; the timer itself is checked with real time at the end).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectDeadlines } from '../../dist/proxy/tcp/deadlines.js';
import { sleep, waitFor } from '../harness/wait.ts';

function queue(timeoutMs: number): { q: ConnectDeadlines<string>; expired: string[]; at: (t: number) => void } {
  let now = 1000;
  const expired: string[] = [];
  const q = new ConnectDeadlines<string>(timeoutMs, (item) => expired.push(item), () => now);
  return { q, expired, at: (t) => (now = t) };
}

test('deadlines: expired in the order added, at timeout after each add; cancelled ones never', () => {
  // the real timer is armed for 60 s and unref'd: only sweep() runs here
  const { q, expired, at } = queue(60_000);
  const a = q.add('a'); // deadline 61000
  at(1010);
  const b = q.add('b'); // 61010
  at(1020);
  q.add('c'); // 61020
  q.cancel(b);
  const table: [number, string[]][] = [
    [60_999, []],
    [61_000, ['a']],
    [61_015, ['a']], // b was cancelled
    [61_020, ['a', 'c']],
    [70_000, ['a', 'c']],
  ];
  for (const [t, want] of table) {
    at(t);
    q.sweep();
    assert.deepEqual(expired, want, `at ${t}`);
  }
  assert.equal(q.pending, 0);
  q.cancel(a); // a ticket already swept: no effect
  q.clear();
});

test('deadlines: tickets stay valid across the queue compacting; clear forgets everything', () => {
  const { q, expired, at } = queue(60_000);
  const tickets: number[] = [];
  for (let i = 0; i < 5000; i++) tickets.push(q.add(`x${i}`));
  for (let i = 0; i < 4999; i++) q.cancel(tickets[i]!);
  at(1000 + 60_000);
  assert.equal(q.sweep(), 1);
  assert.deepEqual(expired, ['x4999']);
  const late = q.add('late'); // after compaction
  const later = q.add('later');
  q.cancel(late);
  assert.equal(q.pending, 1);
  at(1000 + 120_000);
  q.sweep();
  assert.deepEqual(expired, ['x4999', 'later']);
  q.add('dropped');
  q.clear();
  assert.equal(q.pending, 0);
  at(1000 + 200_000);
  q.sweep();
  assert.deepEqual(expired, ['x4999', 'later']);
});

test('deadlines: the one timer fires at the deadline by itself and re-arms for the next', async () => {
  const expired: string[] = [];
  const q = new ConnectDeadlines<string>(40, (item) => expired.push(item));
  q.add('a');
  const b = q.add('b');
  q.cancel(b);
  await sleep(20);
  q.add('c');
  await waitFor('both deadlines passed', () => expired.length === 2, 5000, 10);
  assert.deepEqual(expired, ['a', 'c']);
  assert.equal(q.pending, 0);
  q.clear();
});
