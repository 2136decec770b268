import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { collectGarbage } from '../../dist/heap.js';

test('collectGarbage runs a full collection on the pinned Node.js (what dns does once after a large first view)', async () => {
  const ref = ((): WeakRef<object> => new WeakRef({ large: new Array(100_000).fill(1) }))();
  // a WeakRef's target is kept until the job that made it ends
  await tick();
  assert.equal(collectGarbage(), true);
  assert.equal(ref.deref(), undefined, 'the unreachable object was collected');
});
