// The access log's destination stays bounded when stdout does not keep up: lines are dropped
// and counted instead of buffered without limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { accessLogDestination } from '../../dist/proxy/access-log.js';
import { ProxyMetrics } from '../../dist/proxy/metrics.js';

test('a stdout that never reads: the backlog stays under the bound and drops are counted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-accesslog-'));
  const fifo = join(dir, 'stdout');
  execFileSync('mkfifo', [fifo]);
  // a reader that never reads: the pipe fills after 64 KiB
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry);
  let dropped = 0;
  const maxBytes = 256 * 1024;
  const destination = accessLogDestination(fd, (lines) => {
    dropped += lines;
    metrics.accessLogDropped(lines);
  }, maxBytes);
  t.after(() => {
    closeSync(reader);
    rmSync(dir, { recursive: true, force: true });
  });
  const log = pino({ base: null, timestamp: false }, destination);
  const lines = 20_000;
  for (let i = 0; i < lines; i++) log.info({ path: `/${'x'.repeat(150)}`, i }, 'request');
  await sleep(50);
  const backlog = (destination as unknown as { _len: number })._len;
  assert.ok(backlog <= maxBytes, `backlog ${backlog} bytes`);
  assert.ok(dropped > lines / 2, `dropped ${dropped} of ${lines}`);
  assert.match(await registry.metrics(), new RegExp(`^beacon_proxy_access_log_dropped_total ${dropped}$`, 'm'));
  // now read: what was kept gets written, then the destination closes cleanly
  const buf = Buffer.alloc(65536);
  const deadline = Date.now() + 20_000;
  while ((destination as unknown as { _len: number })._len > 0 && Date.now() < deadline) {
    try {
      readSync(reader, buf);
    } catch {
      /* EAGAIN: nothing in the pipe yet */
    }
    await sleep(5);
  }
  const closed = new Promise((resolve) => destination.once('close', resolve));
  destination.end();
  await closed;
});
