// proxy TCP against a real etcd, with small Node upstreams that speak first and answer a
// half-close: byte flow, retries, rejections, limits, timeouts, graceful stop, status, metrics,
// access log, --workers. (The MariaDB checks are in tcp-mariadb.test.ts.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { spawnTracked } from '../harness/procs.ts';
import { waitFor, sleep } from '../harness/wait.ts';
import { startProxy, type ProxyUnderTest } from './fixtures.ts';

let etcd: EtcdCluster;
const cleanup: (() => Promise<unknown>)[] = [];

interface Greeter {
  name: string;
  port: number;
  server: Server;
  accepted: number;
}

/** Says `hello NAME\n`, echoes, and on the client's FIN answers `bye N\n` (bytes it got) and ends. */
async function startGreeter(name: string): Promise<Greeter> {
  const port = await freePort();
  const g: Greeter = { name, port, server: createServer({ allowHalfOpen: true }), accepted: 0 };
  g.server.on('connection', (s: Socket) => {
    g.accepted++;
    let got = 0;
    s.on('error', () => undefined);
    s.write(`hello ${name}\n`);
    s.on('data', (c: Buffer) => {
      got += c.length;
      s.write(c);
    });
    s.on('end', () => s.end(`bye ${got}\n`));
  });
  await new Promise<void>((resolve) => g.server.listen(port, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => g.server.close(resolve)));
  return g;
}

/** A client that collects everything until the proxy closes. */
function client(port: number): { socket: Socket; text: () => string; closed: Promise<void>; until: (re: RegExp) => Promise<void> } {
  const socket = connect({ port, host: '127.0.0.1' });
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, text: () => text, closed, until: (re) => waitFor(`client sees ${re}`, () => re.test(text), 5000, 10).then(() => undefined) };
}

/**
 * A loopback port whose connects hang: a process listens with a backlog of 1 and never accepts
 * (its event loop is blocked), and two connections fill its accept queue, so the kernel drops
 * every later SYN.
 */
async function startBlackhole(): Promise<number> {
  const port = await freePort();
  const hole = spawnTracked(process.execPath, [
    '-e',
    `require('net').createServer().listen({ port: ${port}, host: '127.0.0.1', backlog: 1 }, () => { console.log('listening'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); })`,
  ]);
  cleanup.push(() => hole.stop('SIGKILL'));
  await waitFor('blackhole listening', () => hole.output().includes('listening'));
  let filled = 0;
  for (let i = 0; i < 3; i++) {
    const s = connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    s.on('connect', () => filled++);
    cleanup.push(async () => s.destroy());
  }
  await waitFor('accept queue full', () => filled >= 2);
  return port;
}

async function tcpProxy(listeners: string[], extra: string[] = []): Promise<ProxyUnderTest & { tcpPorts: number[] }> {
  const tcpPorts: number[] = [];
  const args: string[] = [];
  for (const l of listeners) {
    const port = await freePort();
    tcpPorts.push(port);
    args.push('--tcp', `127.0.0.1:${port}=${l}`);
  }
  const proxy = await startProxy(etcd.url, [...args, ...extra]);
  cleanup.push(() => proxy.beacon.stop());
  if (!extra.includes('--workers')) await proxy.beacon.waitForLog('tcp listening');
  return { ...proxy, tcpPorts };
}

let a: Greeter;
let b: Greeter;
let deadPort: number;

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  a = await startGreeter('a');
  b = await startGreeter('b');
  deadPort = await freePort();
  await etcd.put('/services/greet/a', `127.0.0.1:${a.port}`);
  await etcd.put('/services/greet/b', `127.0.0.1:${b.port}`);
  // "a-dead" sorts before "b": first tries it, is refused, and goes on to b
  await etcd.put('/services/flaky/a-dead', `127.0.0.1:${deadPort}`);
  await etcd.put('/services/flaky/b', `127.0.0.1:${b.port}`);
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

test('server speaks first, bytes both ways, half-close passed on; round robin; status, metrics and access log', { timeout: 60_000 }, async () => {
  const p = await tcpProxy(['greet', 'greet:first']);
  const [rr, first] = p.tcpPorts as [number, number];
  const c = client(rr);
  await c.until(/^hello [ab]\n$/);
  c.socket.write('ping');
  await c.until(/ping$/);
  // our FIN reaches the upstream, which still answers on its open half
  c.socket.end();
  await c.until(/bye 4\n$/);
  await c.closed;
  const greeted = [c.text().slice(6, 7)];
  for (let i = 0; i < 3; i++) {
    const d = client(rr);
    await d.until(/^hello [ab]\n$/);
    greeted.push(d.text().slice(6, 7));
    d.socket.end();
    await d.closed;
  }
  assert.deepEqual(greeted.sort(), ['a', 'a', 'b', 'b'], 'round robin');
  for (let i = 0; i < 3; i++) {
    const d = client(first);
    await d.until(/^hello a\n$/);
    d.socket.end();
    await d.closed;
  }
  const status = await p.status();
  const tcp = status.tcp as { listen: string; service: string; balance: string; total: number; instances: { id: string; instances: string[]; state: string }[] }[];
  assert.equal(tcp.length, 2);
  assert.equal(tcp[1]!.listen, `127.0.0.1:${first}`);
  assert.equal(tcp[1]!.balance, 'first');
  assert.equal(tcp[1]!.total, 3);
  assert.deepEqual(tcp[1]!.instances.map((i) => i.instances[0]), ['a', 'b']);
  const metrics = await p.metrics();
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_connections_total\\{listener="127.0.0.1:${first}",service="greet",upstream="127.0.0.1:${a.port}"\\} 3`));
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_bytes_total\\{listener="127.0.0.1:${rr}",service="greet",upstream="[^"]+",direction="in"\\} 4`));
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_connections_open\\{listener="127.0.0.1:${rr}",service="greet",upstream="[^"]+"\\} 0`));
  const line = await waitFor('access log line', () => p.beacon.logs().find((l) => l.msg === 'tcp connection' && l.bytesIn === 4));
  assert.equal(line.listener, `127.0.0.1:${rr}`);
  assert.equal(line.service, 'greet');
  assert.match(String(line.client), /^127\.0\.0\.1:\d+$/);
  assert.match(String(line.upstream), /^127\.0\.0\.1:\d+$/);
  assert.equal(line.bytesOut, 'hello a\nping'.length + 'bye 4\n'.length);
  assert.equal(typeof line.ms, 'number');
  assert.equal(line.result, 'closed');
});

test('16 MiB each way through a client that reads in bursts arrive intact and in order', { timeout: 60_000 }, async () => {
  const p = await tcpProxy(['greet:first']);
  const payload = randomBytes(16 * 1024 * 1024);
  const socket = connect({ port: p.tcpPorts[0]!, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  let got = 0;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    got += c.length;
    // a reader that stalls now and then: beacon's buffers fill and it must hold, not overwrite
    if (chunks.length % 16 === 0) {
      socket.pause();
      setTimeout(() => socket.resume(), 5);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (let off = 0; off < payload.length; off += 1024 * 1024) {
    if (!socket.write(payload.subarray(off, off + 1024 * 1024))) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
  await closed;
  const all = Buffer.concat(chunks, got);
  const head = Buffer.from('hello a\n');
  const tail = Buffer.from(`bye ${payload.length}\n`);
  assert.equal(all.length, head.length + payload.length + tail.length);
  assert.ok(all.subarray(0, head.length).equals(head));
  assert.ok(all.subarray(head.length, head.length + payload.length).equals(payload), 'payload intact');
  assert.ok(all.subarray(head.length + payload.length).equals(tail));
});

test('an upstream that stops reading: beacon stops reading the client instead of buffering', { timeout: 60_000 }, async () => {
  const sinkPort = await freePort();
  const held: Socket[] = [];
  const sink = createServer((s) => {
    s.pause(); // reads nothing: only the kernel buffers fill
    held.push(s);
  });
  await new Promise<void>((resolve) => sink.listen(sinkPort, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => {
    for (const s of held) s.destroy();
    sink.close(resolve);
  }));
  await etcd.put('/services/sink/s1', `127.0.0.1:${sinkPort}`);
  const p = await tcpProxy(['sink']);
  const pid = p.beacon.child.pid!;
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  const baseline = rss();
  const socket = connect({ port: p.tcpPorts[0]!, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  // 128 MiB offered at once, backpressure ignored on our side: it queues in this process
  const mib = Buffer.alloc(1024 * 1024, 'y');
  for (let i = 0; i < 128; i++) socket.write(mib);
  let peak = 0;
  for (let i = 0; i < 15; i++) {
    await sleep(200);
    peak = Math.max(peak, rss());
  }
  console.log(`# beacon RSS baseline ${baseline.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB; still queued in the client ${(socket.writableLength / 1048576).toFixed(1)} MiB`);
  assert.ok(socket.writableLength > 64 * 1024 * 1024, 'most of it never left the client');
  assert.ok(peak - baseline < 32, `beacon grew by ${(peak - baseline).toFixed(1)} MiB`);
  socket.destroy();
});

test('a refused instance is retried on the next before the client sees anything, and counted', { timeout: 60_000 }, async () => {
  const p = await tcpProxy(['flaky:first'], ['--max-fails', '1', '--fail-timeout', '30s']);
  const before = b.accepted;
  // the first connection meets the dead instance: bytes and FIN sent at once, while beacon is
  // still connecting and retrying, all reach the instance it ends up on
  const eager = client(p.tcpPorts[0]!);
  eager.socket.end('early bytes');
  await eager.closed;
  assert.equal(eager.text(), 'hello b\nearly bytesbye 11\n');
  for (let i = 0; i < 3; i++) {
    const c = client(p.tcpPorts[0]!);
    await c.until(/^hello b\n$/);
    c.socket.end();
    await c.closed;
  }
  assert.equal(b.accepted - before, 4);
  const metrics = await p.metrics();
  // one refusal ejected it (--max-fails 1); later connections skip it without trying
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_connect_failures_total\\{listener="[^"]+",service="flaky",upstream="127.0.0.1:${deadPort}",kind="refused"\\} 1`));
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_ejections_total\\{listener="[^"]+",service="flaky",upstream="127.0.0.1:${deadPort}"\\} 1`));
  const status = await p.status();
  const inst = (status.tcp as { instances: { id: string; state: string }[] }[])[0]!.instances;
  assert.equal(inst.find((i) => i.id === `127.0.0.1:${deadPort}`)!.state, 'ejected');
});

test('an instance whose connect hangs is given up after --connect-timeout and the next one used, unseen; counted as timeout', { timeout: 60_000 }, async () => {
  const holePort = await startBlackhole();
  // "a-hole" sorts before "b": first tries it, waits out the connect timeout, goes on to b
  await etcd.put('/services/hang/a-hole', `127.0.0.1:${holePort}`);
  await etcd.put('/services/hang/b', `127.0.0.1:${b.port}`);
  const p = await tcpProxy(['hang:first'], ['--connect-timeout', '300ms', '--max-fails', '1', '--fail-timeout', '30s']);
  const before = b.accepted;
  const c = client(p.tcpPorts[0]!);
  c.socket.end('sent while connecting');
  await c.closed;
  assert.equal(c.text(), 'hello b\nsent while connectingbye 21\n');
  assert.equal(b.accepted - before, 1);
  const metrics = await p.metrics();
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_connect_failures_total\\{listener="[^"]+",service="hang",upstream="127.0.0.1:${holePort}",kind="timeout"\\} 1`));
  assert.ok(p.beacon.logs().some((l) => l.msg === 'tcp upstream connect failed' && l.kind === 'timeout' && l.upstream === `127.0.0.1:${holePort}`));
});

test('no live instance: new connections closed at once and counted; --tcp-max-connections; --tcp-idle-timeout', { timeout: 60_000 }, async () => {
  const p = await tcpProxy(['nobody', 'greet'], ['--tcp-max-connections', '2', '--tcp-idle-timeout', '400ms']);
  const [none, greet] = p.tcpPorts as [number, number];
  const t0 = performance.now();
  const c = client(none);
  await c.closed;
  assert.equal(c.text(), '');
  assert.ok(performance.now() - t0 < 3000, 'closed at once, not held');
  const held = [client(greet), client(greet)];
  for (const h of held) await h.until(/^hello/);
  const third = client(greet);
  await third.closed;
  assert.equal(third.text(), '', 'over the limit: closed without reaching an upstream');
  // the two held connections are silent: the idle timeout closes them
  for (const h of held) await h.closed;
  const metrics = await p.metrics();
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_rejected_total\\{listener="127.0.0.1:${none}",reason="no-instance"\\} 1`));
  assert.match(metrics, new RegExp(`beacon_proxy_tcp_rejected_total\\{listener="127.0.0.1:${greet}",reason="max-connections"\\} 1`));
  await waitFor('idle-timeout log lines', () => p.beacon.logs().filter((l) => l.msg === 'tcp connection' && l.result === 'idle-timeout').length === 2);
  // a connection that keeps talking is not idle
  const talker = client(greet);
  await talker.until(/^hello/);
  for (let i = 0; i < 8; i++) {
    talker.socket.write('x');
    await sleep(150);
  }
  assert.equal(talker.socket.destroyed, false);
  await talker.until(/x{8}$/);
  talker.socket.destroy();
});

test('SIGTERM: stop accepting, open connections keep working until --shutdown-timeout, then closed; exit 0', { timeout: 60_000 }, async () => {
  const p = await tcpProxy(['greet'], ['--shutdown-timeout', '3s']);
  const port = p.tcpPorts[0]!;
  const c = client(port);
  await c.until(/^hello/);
  p.beacon.child.kill('SIGTERM');
  await p.beacon.waitForLog('shutting down');
  c.socket.write('still here');
  await c.until(/still here$/);
  await waitFor('listener closed', async () => {
    const probe = client(port);
    probe.socket.end(); // if it was still accepted, the greeter says bye and closes
    await probe.closed;
    return probe.text() === '';
  });
  const t0 = performance.now();
  await c.closed;
  const waited = performance.now() - t0;
  const exit = await p.beacon.exited;
  assert.equal(exit.code, 0);
  assert.ok(waited < 5000, `cut at the deadline (${waited} ms)`);
  assert.ok(p.beacon.logs().some((l) => l.msg === 'shutdown deadline passed; cut TCP connections still open' && l.unfinished === 1));
});

/** LISTEN sockets on 127.0.0.1:port, from /proc/net/tcp (what `ss -ltn` reads). */
function listenSockets(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === local && f[3] === '0A';
    }).length;
}

test('--workers 2: every worker accepts on a socket of its own (SO_REUSEPORT) and serves; /status merges them', { timeout: 60_000 }, async () => {
  const p = await tcpProxy(['greet:first'], ['--workers', '2']);
  await waitFor('workers ready', async () => (await p.status()).ready === true, 20_000);
  // not node:cluster's default (the primary accepts and hands each connection over IPC)
  assert.equal(listenSockets(p.tcpPorts[0]!), 2, 'one listening socket per worker');
  for (let i = 0; i < 16; i++) {
    const c = client(p.tcpPorts[0]!);
    await c.until(/^hello a\n$/);
    c.socket.end();
    await c.closed;
  }
  const workers = new Set(p.beacon.logs().filter((l) => l.msg === 'tcp listening').map((l) => l.worker));
  assert.equal(workers.size, 2, 'both workers listen');
  // the kernel spreads connections by address hash: 16 all on one worker is a 1 in 32768 chance
  const served = await waitFor('access log lines', () => {
    const lines = p.beacon.logs().filter((l) => l.msg === 'tcp connection');
    return lines.length === 16 ? new Set(lines.map((l) => l.pid)) : undefined;
  });
  assert.equal(served.size, 2, 'both workers served connections');
  await waitFor('merged status', async () => {
    const tcp = (await p.status()).tcp as { total: number; instances: { workerStates: string[] }[] }[] | undefined;
    return tcp?.[0]?.total === 16 && tcp[0].instances[0]!.workerStates.length === 2;
  });
  // the primary sums the workers' counters, asked over IPC at each scrape
  await waitFor('metrics summed across the workers', async () => /beacon_proxy_tcp_connections_total\{listener="[^"]+",service="greet",upstream="[^"]+"\} 16\n/.test(await p.metrics()) || undefined, 10_000);
});
