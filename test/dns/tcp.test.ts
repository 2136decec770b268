// DNS over TCP against a client that pipelines queries and never reads the replies: the server's
// memory stays bounded, other clients are still answered, and the idle timeout closes the
// connection. Real beacon dns process (RSS from /proc), file store, real dig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../dist/store/file.js';
import { encodeQuery, TYPE } from '../../dist/dns/wire.js';
import { startBeacon } from '../harness/beacon.ts';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { dig, values } from './helpers.ts';

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'VmRSS in /proc/<pid>/status');
  return Number(m[1]) / 1024;
}

test('TCP: a client pipelining queries without reading replies costs bounded memory', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-dns-tcp-'));
  const store = new FileStore(dir);
  // 300 records: the apex A answer is ~5 KB
  for (let i = 0; i < 300; i++) await store.put(`/skydns/local/skydns/svc/i${i}`, JSON.stringify({ host: `10.60.${i >> 8}.${i & 255}`, port: 80 }));
  await store.close();

  const port = await freePort(true);
  const admin = await freePort();
  const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--store', `file://${dir}`, '--udp-workers', '0', '--admin', `127.0.0.1:${admin}`]);
  t.after(() => dns.stop());
  await dns.waitForLog('dns index ready');
  const pid = dns.child.pid!;
  assert.equal(values(await dig(port, 'skydns.local', 'A', '+tcp'), 'A').length, 300);
  const before = rssMb(pid);

  // ~1.9 MB of pipelined apex-A queries; the socket is never read
  const frame = (m: Buffer): Buffer => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m]);
  const queries = Buffer.concat(Array.from({ length: 60_000 }, (_, i) => frame(encodeQuery(i & 0xffff, 'skydns.local.', TYPE.A))));
  assert.ok(queries.length > 1_800_000);
  const hog = connect(port, '127.0.0.1');
  hog.pause();
  const closed = new Promise<void>((resolve) => hog.on('close', () => resolve()));
  hog.on('error', () => undefined);
  t.after(() => hog.destroy());
  await new Promise<void>((resolve) => hog.once('connect', () => resolve()));
  hog.write(queries);

  let peak = before;
  for (let i = 0; i < 20; i++) {
    await sleep(200);
    peak = Math.max(peak, rssMb(pid));
  }
  // everyone else is still served, over TCP and UDP
  assert.equal(values(await dig(port, 'i7.svc.skydns.local', 'A', '+tcp'), 'A')[0], '10.60.0.7');
  assert.equal(values(await dig(port, 'i8.svc.skydns.local', 'A'), 'A')[0], '10.60.0.8');
  peak = Math.max(peak, rssMb(pid));
  t.diagnostic(`RSS ${before.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB`);
  assert.ok(peak - before < 100, `RSS grew ${(peak - before).toFixed(0)} MB`);

  // no bytes either way: the idle timeout (10 s) closes the stuck connection
  await waitFor('idle connection closed', async () => {
    const status = JSON.parse((await httpGet(admin, '127.0.0.1', '/status')).body) as { tcpConnections: number };
    return status.tcpConnections === 0;
  }, 30_000, 200);
  await Promise.race([closed, sleep(5000)]);
});
