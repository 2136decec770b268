// proxy TCP in front of real MariaDB servers (Debian mariadb-server), instances in a real etcd,
// the real `mariadb` client through `beacon proxy --tcp`. The client is libmariadb, a complete
// MySQL-protocol client (server greeting first, auth, queries, result streaming with --quick),
// so no Node driver is added for these checks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { spawnTracked } from '../harness/procs.ts';
import { waitFor, sleep } from '../harness/wait.ts';
import { startProxy, type ProxyUnderTest } from './fixtures.ts';
import { query, queryProcess, startMariaDb, type MariaDb } from './tcp-mariadb.ts';

let etcd: EtcdCluster;
let db1: MariaDb;
let db2: MariaDb;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  // one after the other, each registered for cleanup at once: a failed start leaks no server
  db1 = await startMariaDb();
  cleanup.push(() => db1.stop());
  db2 = await startMariaDb();
  cleanup.push(() => db2.stop());
  // instance ids sort db-a < db-b: `first` means db1
  await etcd.put('/services/db/db-a', `127.0.0.1:${db1.port}`);
  await etcd.put('/services/db/db-b', `127.0.0.1:${db2.port}`);
  await etcd.put('/services/one/db-a', `127.0.0.1:${db1.port}`);
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

async function tcpProxy(target: string, extra: string[] = []): Promise<ProxyUnderTest & { tcp: number }> {
  const tcp = await freePort();
  const p = await startProxy(etcd.url, ['--tcp', `127.0.0.1:${tcp}=${target}`, ...extra]);
  cleanup.push(() => p.beacon.stop());
  await p.beacon.waitForLog('tcp listening');
  return { ...p, tcp };
}

type Listener = { open: number; instances: { id: string; open: number; state: string }[] };
async function listener(p: ProxyUnderTest): Promise<Listener> {
  return ((await p.status()).tcp as Listener[])[0]!;
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

test('mariadb client through beacon: greeting, auth and queries; round robin over both servers', { timeout: 90_000 }, async () => {
  const one = await tcpProxy('one');
  await query(one.tcp, 'CREATE DATABASE t; CREATE TABLE t.kv (k INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t.kv VALUES (1, "one"), (2, "two")');
  assert.equal(await query(one.tcp, 'SELECT GROUP_CONCAT(v ORDER BY k) FROM t.kv'), 'one,two');
  assert.equal(await query(db1.port, 'SELECT COUNT(*) FROM t.kv'), '2', 'written on the server itself');
  const p = await tcpProxy('db');
  const ports: string[] = [];
  for (let i = 0; i < 4; i++) ports.push(await query(p.tcp, 'SELECT @@port'));
  assert.deepEqual(ports.sort(), [db1.port, db1.port, db2.port, db2.port].map(String).sort());
  const line = await waitFor('access log line', () => p.beacon.logs().find((l) => l.msg === 'tcp connection' && l.result === 'closed'));
  assert.ok(Number(line.bytesIn) > 0 && Number(line.bytesOut) > 0, JSON.stringify(line));
  assert.equal(line.service, 'db');
});

test('least-conn: short connections go to the server without the long one', { timeout: 90_000 }, async () => {
  const p = await tcpProxy('db:least-conn');
  const long = queryProcess(p.tcp, 'SELECT SLEEP(30)');
  cleanup.push(() => long.stop('SIGKILL'));
  const busy = await waitFor('long connection open', async () => (await listener(p)).instances.find((i) => i.open === 1));
  const other = busy.id === `127.0.0.1:${db1.port}` ? db2 : db1;
  for (let i = 0; i < 5; i++) assert.equal(await query(p.tcp, 'SELECT @@port'), String(other.port), `short connection ${i}`);
  // a second long one goes to the idle server too, then the two are even again
  const long2 = queryProcess(p.tcp, 'SELECT SLEEP(30)');
  cleanup.push(() => long2.stop('SIGKILL'));
  await waitFor('both busy', async () => (await listener(p)).instances.every((i) => i.open === 1));
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(await query(p.tcp, 'SELECT @@port'));
  assert.equal(seen.size, 2, 'even load: shared again');
  await long.stop('SIGKILL');
  await long2.stop('SIGKILL');
});

test('a large result through a slow reader: beacon holds it back instead of buffering it', { timeout: 120_000 }, async () => {
  const p = await tcpProxy('one');
  const pid = p.beacon.child.pid!;
  await query(p.tcp, 'SELECT 1'); // warm: buffers and code paths allocated once
  const baseline = rssKiB(pid);
  const rows = 128;
  const rowBytes = 1024 * 1024;
  // --quick: the client streams rows to stdout as they come; stdout is a pipe nobody reads yet
  const reader = spawn('mariadb', ['--no-defaults', '--protocol=TCP', '-h127.0.0.1', `-P${p.tcp}`, '-ubeacon', '-N', '-B', '--quick', '-D', 'mysql', '-e', `SELECT REPEAT('x', ${rowBytes}) FROM seq_1_to_${rows}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(async () => void reader.kill('SIGKILL'));
  reader.stdout.pause();
  const exited = new Promise<number | null>((resolve) => reader.once('exit', resolve));
  let errText = '';
  reader.stderr.on('data', (c: Buffer) => (errText += c.toString()));
  let peak = 0;
  await waitFor('the result flowing', async () => /beacon_proxy_tcp_bytes_total\{[^}]*direction="out"\} [1-9]/.test(await p.metrics()) || errText !== '');
  assert.equal(errText, '');
  for (let i = 0; i < 20; i++) {
    await sleep(200);
    peak = Math.max(peak, rssKiB(pid));
  }
  const metrics = await p.metrics();
  const out = Number(/beacon_proxy_tcp_bytes_total\{[^}]*direction="out"\} (\d+)/.exec(metrics)?.[1] ?? 'NaN');
  assert.ok(out < (rows * rowBytes) / 2, `the reader is stalled, so most of the result is still at the server (forwarded ${out} bytes)`);
  const growthMiB = (peak - baseline) / 1024;
  console.log(`# beacon RSS baseline ${(baseline / 1024).toFixed(1)} MiB, peak while stalled ${(peak / 1024).toFixed(1)} MiB, forwarded ${(out / 1048576).toFixed(1)} MiB of ${rows} MiB`);
  assert.ok(growthMiB < 48, `beacon grew by ${growthMiB.toFixed(1)} MiB while a ${rows} MiB result waited`);
  // now read it all: every byte arrives
  let received = 0;
  reader.stdout.on('data', (c: Buffer) => (received += c.length));
  reader.stdout.resume();
  const code = await exited;
  assert.equal(code, 0, errText);
  await waitFor('stdout drained', () => reader.stdout.readableEnded || received >= rows * (rowBytes + 1));
  assert.equal(received, rows * (rowBytes + 1));
});

test('drain: connections to a removed instance are closed after --tcp-drain-timeout; new ones go to the next', { timeout: 90_000 }, async () => {
  const p = await tcpProxy('db:first', ['--tcp-drain-timeout', '1s']);
  const long = queryProcess(p.tcp, 'SELECT @@port, SLEEP(30)');
  cleanup.push(() => long.stop('SIGKILL'));
  await waitFor('long connection on db-a', async () => (await listener(p)).instances.find((i) => i.id === `127.0.0.1:${db1.port}`)?.open === 1);
  await etcd.del('/services/db/db-a');
  const t0 = performance.now();
  await p.beacon.waitForLog('tcp upstreams changed', { service: 'db' });
  assert.equal(await query(p.tcp, 'SELECT @@port'), String(db2.port));
  const exit = await long.exited;
  const ms = performance.now() - t0;
  assert.notEqual(exit.code, 0, 'the long query was cut');
  assert.match(long.output(), /Lost connection|server has gone away/i);
  assert.ok(ms >= 800 && ms < 10_000, `closed after the drain timeout (${ms.toFixed(0)} ms)`);
  // the access log is written asynchronously
  await waitFor('drained access log line', () => p.beacon.logs().some((l) => l.msg === 'tcp connection' && l.result === 'drained' && l.upstream === `127.0.0.1:${db1.port}`));
  await etcd.put('/services/db/db-a', `127.0.0.1:${db1.port}`);
  await waitFor('db-a first again', async () => (await query(p.tcp, 'SELECT @@port')) === String(db1.port));
});

test('first: every connection to db-a; killing it moves new ones to db-b, the refused connect retried unseen', { timeout: 90_000 }, async () => {
  const p = await tcpProxy('db:first');
  for (let i = 0; i < 4; i++) assert.equal(await query(p.tcp, 'SELECT @@port'), String(db1.port));
  await db1.process.stop('SIGKILL');
  // db-a is still registered: the connect is refused and retried on db-b before the client sees anything
  for (let i = 0; i < 3; i++) assert.equal(await query(p.tcp, 'SELECT @@port'), String(db2.port));
  const metrics = await p.metrics();
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_connect_failures_total\\{[^}]*upstream="127.0.0.1:${db1.port}",kind="refused"\\} [1-9]`));
  assert.doesNotMatch(metrics, /beacon_proxy_tcp_rejected_total\{/, 'no client saw the failure');
});

test('PROXY protocol v1 and v2: MariaDB (proxy-protocol-networks) reports the original client address', { timeout: 120_000 }, async () => {
  // beacon connects from 127.0.0.1, the only network MariaDB takes PROXY headers from; the
  // client reaches beacon from 127.0.0.7 (socat binds it), which MariaDB can only learn from the header
  const db = await startMariaDb({ proxyProtocolNetworks: '127.0.0.1/32' });
  cleanup.push(() => db.stop());
  await etcd.put('/services/pp/db', `127.0.0.1:${db.port}`);
  const sql = 'SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()';
  for (const version of ['off', 'v1', 'v2']) {
    const p = await tcpProxy('pp', ['--tcp-proxy-protocol', version]);
    const relay = await freePort();
    const socat = spawnTracked('socat', [`TCP-LISTEN:${relay},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${p.tcp},bind=127.0.0.7`]);
    cleanup.push(() => socat.stop('SIGKILL'));
    const host = await waitFor(`socat relay ${version}`, () => query(relay, sql).catch(() => ''));
    if (version === 'off') assert.match(host, /^127\.0\.0\.1:\d+$/, 'without the header MariaDB sees beacon');
    else assert.match(host, /^127\.0\.0\.7:\d+$/, `${version}: the client's address`);
    await socat.stop('SIGKILL');
    await p.beacon.stop();
  }
});
