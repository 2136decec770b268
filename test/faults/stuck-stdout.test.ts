import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { FileStore } from '../../dist/store/file.js';
import { CLI } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';
import { httpGet } from '../harness/http.ts';
import { waitFor } from '../harness/wait.ts';

test('proxy: SIGTERM exits promptly even when the reader of its access log stopped reading', { timeout: 60_000 }, async (t) => {
  const up = createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  t.after(() => { up.closeAllConnections(); up.close(); });
  const dir = mkdtempSync(join(tmpdir(), 'stuck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/a', `127.0.0.1:${(up.address() as { port: number }).port}`);
  await store.close();
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'proxy', '--store', `file://${dir}`, '--listen', `127.0.0.1:${port}`, '--default-service', 'web'], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout!.pause();
  t.after(() => child.kill('SIGKILL'));
  await waitFor('up', async () => (await httpGet(port, 'x')).status === 200, 15_000, 100);
  // Far more access-log lines than a pipe holds (64 KiB), nobody reading them.
  for (let i = 0; i < 2000; i++) await httpGet(port, 'x'.repeat(200));
  const since = Date.now();
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0);
  assert.ok(Date.now() - since < 10_000, `took ${Date.now() - since}ms`);
});
