// /status says how each forwarder stands (the admin page's dns section shows it): a nameserver
// that answers is healthy, one that does not is not, with its last error; counts from the UDP
// worker threads are added in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBeacon } from '../harness/beacon.ts';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { CountingUpstream, rrA } from './counting-upstream.ts';
import { dig } from './helpers.ts';

interface Forwarder { address: string; healthy?: boolean; lastError?: string; ok: number; failed: number }

test('forwarders in /status: the live one healthy, the silent one not, with its last error', { timeout: 60_000 }, async (t) => {
  const up = await CountingUpstream.start(await freePort(true), ({ name }) => ({ answer: [rrA(name, 60, '192.0.2.9')] }));
  t.after(() => up.stop());
  // a port nothing answers on (bound by nobody: the kernel refuses, or the query times out)
  const dead = `127.0.0.1:${await freePort(true)}`;
  const store = mkdtempSync(join(tmpdir(), 'beacon-fwd-health-'));
  t.after(() => rmSync(store, { recursive: true, force: true }));
  const port = await freePort(true);
  const admin = await freePort();
  const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--store', `file://${store}`, '--forward', `${dead},127.0.0.1:${up.port}`, '--forward-timeout', '300ms', '--udp-workers', '1', '--forward-cache-size', '0']);
  t.after(() => dns.stop('SIGKILL'));
  await dns.waitForLog('dns listening');
  for (let i = 0; i < 4; i++) assert.equal((await dig(port, `n${i}.example.test`, 'A')).status, 'NOERROR');
  const forwarders = await waitFor('forwarder health in /status', async () => {
    const status = JSON.parse((await httpGet(admin, '127.0.0.1', '/status')).body) as { forwarders?: Forwarder[] };
    const list = status.forwarders ?? [];
    const live = list.find((f) => f.address === `127.0.0.1:${up.port}`);
    return live !== undefined && live.ok >= 4 ? list : undefined;
  }, 5000, 100);
  assert.deepEqual(forwarders.map((f) => f.address), [dead, `127.0.0.1:${up.port}`], 'configured order');
  const [silent, live] = forwarders;
  assert.equal(live!.healthy, true);
  assert.equal(live!.lastError, undefined);
  assert.equal(silent!.healthy, false);
  assert.match(silent!.lastError ?? '', /^(timeout|error)$/);
  assert.ok(silent!.failed >= 4, `failed ${silent!.failed}`);
});
