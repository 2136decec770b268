import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil } from '../../dist/wait.js';

test('pollUntil: returns true once the condition holds, false at the deadline', { timeout: 5_000 }, async () => {
  let n = 0;
  assert.equal(await pollUntil(() => ++n >= 3, Date.now() + 2_000, 5), true);
  assert.equal(n, 3);
  const t0 = Date.now();
  assert.equal(await pollUntil(() => false, t0 + 100, 10), false);
  const waited = Date.now() - t0;
  assert.ok(waited >= 100 && waited < 1_000, `waited ${waited} ms`);
  // already true: no wait at all, even past the deadline
  assert.equal(await pollUntil(() => true, 0), true);
});
