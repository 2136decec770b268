import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToggleApp } from '../harness/app.ts';
import { startBeacon } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';

test('admin endpoint: healthz, readyz, metrics, status', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const port = await freePort();
  const beacon = startBeacon([
    'announce', '--store', `file://${dir}`, '--service', 'app', '--port', String(app.port), '--host', '127.0.0.1',
    '--interval', '100ms', '--timeout', '90ms', '--admin', `:${port}`,
  ]);
  t.after(() => beacon.stop('SIGKILL'));
  await beacon.waitForLog('registered');
  // A bare :PORT binds loopback: admin endpoints are not exposed unless an address says so.
  assert.equal((await beacon.waitForLog('admin endpoint listening')).admin, `127.0.0.1:${port}`);
  const base = `http://127.0.0.1:${port}`;
  const healthz = await fetch(`${base}/healthz`);
  assert.equal(healthz.status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
  assert.equal(status.mode, 'announce');
  assert.equal(status.registered, true);
  assert.equal(status.healthy, true);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^beacon_announce_checks_total\{result="pass"\} [1-9]/m);
  assert.match(metrics, /^beacon_announce_registrations_total 1$/m);
  assert.match(metrics, /^beacon_announce_registered 1$/m);
  assert.match(metrics, /^process_resident_memory_bytes /m);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/healthz`, { method: 'POST' })).status, 405);
  // One log line per state change, not per check.
  await new Promise((r) => setTimeout(r, 500));
  const lines = beacon.logs().filter((l) => l.msg === 'healthy' || l.msg === 'registered');
  assert.equal(lines.length, 2);
  assert.equal((await beacon.stop('SIGTERM')).code, 0);
});
