import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runShell } from '../../dist/shell.js';
import { runCheck } from '../../dist/announce/checks.js';

test('runShell: exit codes, output, and a timeout that kills the whole pipeline', { timeout: 10_000 }, async () => {
  assert.deepEqual(await runShell('echo out; echo err >&2; exit 3', 2000), { ok: false, code: 3, signal: null, timedOut: false, output: 'out\nerr' });
  assert.equal((await runShell('true', 2000)).ok, true);
  const started = Date.now();
  const slow = await runShell('sleep 5 | sleep 5', 200);
  assert.equal(slow.timedOut, true);
  assert.equal(slow.ok, false);
  assert.ok(Date.now() - started < 2000);
});

test('cmd: checks pass on exit 0 and fail with the reason', { timeout: 10_000 }, async () => {
  assert.deepEqual(await runCheck({ kind: 'cmd', command: 'exit 0' }, 1000), { ok: true, detail: 'exit 0' });
  assert.deepEqual(await runCheck({ kind: 'cmd', command: 'echo down >&2; exit 1' }, 1000), { ok: false, detail: 'exit 1: down' });
  assert.deepEqual(await runCheck({ kind: 'cmd', command: 'sleep 3' }, 100), { ok: false, detail: 'timed out after 100ms' });
});
