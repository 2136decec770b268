// beacon proxy: graceful shutdown, hostile clients, --workers, flags.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { runBeacon } from '../harness/beacon.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { converse, send, startProxy, startUpstream, untilReply, type Upstream } from './fixtures.ts';

let etcd: EtcdCluster;
const ups: Upstream[] = [];
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  for (const name of ['s1', 's2']) {
    const u = await startUpstream(name);
    ups.push(u);
    cleanup.push(() => u.close());
    await etcd.put(`/services/slow/${name}`, `127.0.0.1:${u.port}`);
  }
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

/** Raw bytes to the proxy; resolves with everything it answered before closing. */
const raw = (port: number, data: string): Promise<{ text: string; ms: number }> => converse(port, [data]);

test('SIGTERM: stops accepting, finishes the in-flight slow request, exits 0', { timeout: 30_000 }, async () => {
  const proxy = await startProxy(etcd.url, ['--default-service', 'slow', '--shutdown-timeout', '10s']);
  cleanup.push(() => proxy.beacon.stop('SIGKILL'));
  const slow = send(proxy.port, { path: '/slow?ms=1500' });
  await waitFor('slow request in flight', () => ups.some((u) => u.hits > 0), 5000, 10);
  const t0 = performance.now();
  proxy.beacon.child.kill('SIGTERM');
  await sleep(200);
  // the listener is closed while the slow request is still running
  await assert.rejects(send(proxy.port, { path: '/' }), /ECONNREFUSED|ECONNRESET|socket hang up/);
  const reply = await slow;
  assert.equal(reply.status, 200);
  assert.match(reply.text, /^s[12] slow done$/);
  const exit = await proxy.beacon.exited;
  assert.equal(exit.code, 0);
  assert.ok(performance.now() - t0 >= 1000, 'exited before the request finished');
  assert.ok(proxy.beacon.logs().some((l) => l.msg === 'proxy stopped'));
});

test('SIGTERM with a request slower than --shutdown-timeout: cut at the deadline, still exits 0', { timeout: 30_000 }, async () => {
  const proxy = await startProxy(etcd.url, ['--default-service', 'slow', '--shutdown-timeout', '300ms']);
  cleanup.push(() => proxy.beacon.stop('SIGKILL'));
  const slow = send(proxy.port, { path: '/slow?ms=5000' }).then(
    (r) => `status ${r.status}`,
    (err: Error) => `error ${err.message}`,
  );
  await sleep(300);
  const t0 = performance.now();
  proxy.beacon.child.kill('SIGTERM');
  const exit = await proxy.beacon.exited;
  assert.equal(exit.code, 0);
  assert.ok(performance.now() - t0 < 4000);
  assert.match(await slow, /error|status 502/);
});

test('hostile clients: oversized headers 431, slowloris cut after the header timeout, garbage 400; the proxy keeps serving', { timeout: 30_000 }, async () => {
  const proxy = await startProxy(etcd.url, ['--default-service', 'slow', '--client-header-timeout', '600ms', '--max-header-size', '4096', '--upstream-header-timeout', '400ms', '--no-access-log']);
  cleanup.push(() => proxy.beacon.stop());

  const big = await raw(proxy.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
  assert.match(big.text, /^HTTP\/1\.1 431/);

  // slowloris: a head that never ends
  const slow = new Promise<{ text: string; ms: number }>((resolve) => {
    const started = performance.now();
    const socket = connect(proxy.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    const drip = setInterval(() => socket.writable && socket.write('X-A: b\r\n'), 100);
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      resolve({ text, ms: performance.now() - started });
    });
  });
  const cut = await slow;
  assert.ok(cut.ms < 3000, `slowloris connection lived ${cut.ms} ms`);
  assert.match(cut.text, /^(HTTP\/1\.1 408|$)/);

  const garbage = await raw(proxy.port, 'HELLO\x00\x01 nonsense\r\n\r\n');
  assert.match(garbage.text, /^HTTP\/1\.1 400/);
  const noPath = await raw(proxy.port, 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(noPath.text, /^HTTP\/1\.1 400/);

  assert.equal((await send(proxy.port, { path: '/' })).status, 200);
  assert.match(await proxy.metrics(), /beacon_proxy_client_errors_total\{reason="header-too-large"\} 1/);

  // an upstream slower than --upstream-header-timeout: 502, not retried, not hanging
  const t0 = performance.now();
  const late = await send(proxy.port, { path: '/slow?ms=3000' });
  assert.equal(late.status, 502);
  assert.match(late.text, /timed out/);
  assert.ok(performance.now() - t0 < 2500);
  // no access log lines with --no-access-log
  assert.equal(proxy.beacon.logs().filter((l) => l.msg === 'request').length, 0);
});

test('--workers 2: every worker routes on the live table; admin sums their metrics', { timeout: 60_000 }, async () => {
  const proxy = await startProxy(etcd.url, ['--workers', '2', '--domain', 'w.test', '--no-access-log']);
  cleanup.push(() => proxy.beacon.stop());
  const fresh = await startUpstream('fresh');
  cleanup.push(() => fresh.close());
  assert.equal((await send(proxy.port, { host: 'live.w.test' })).status, 503);
  await etcd.put('/services/live/fresh', `127.0.0.1:${fresh.port}`);
  await untilReply(proxy.port, { host: 'live.w.test' }, (r) => r.status === 200, 3000);
  await sleep(100);
  // New connection per request: cluster hands them to both workers; none may miss the instance.
  const replies = await Promise.all(Array.from({ length: 40 }, () => send(proxy.port, { host: 'live.w.test' })));
  assert.deepEqual([...new Set(replies.map((r) => `${r.status} ${r.text}`))], ['200 fresh']);

  await etcd.del('/services/live/fresh');
  await untilReply(proxy.port, { host: 'live.w.test' }, (r) => r.status === 503, 3000);
  await sleep(100);
  const gone = await Promise.all(Array.from({ length: 40 }, () => send(proxy.port, { host: 'live.w.test' })));
  assert.deepEqual([...new Set(gone.map((r) => r.status))], [503]);

  // Worker status reaches the primary every 500 ms; metrics are gathered on each scrape.
  const { status, counted } = await waitFor('worker status and summed metrics to agree', async () => {
    const s = (await proxy.status()) as { ready: boolean; workers: { pid: number; requests: number }[] };
    const text = await proxy.metrics();
    // 503s for a service with no instances count under "-" (Host-derived names are not labels)
    const n = [...text.matchAll(/beacon_proxy_requests_total\{service="(?:live|-)",status="\d+"\} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    const total = s.workers.reduce((sum, w) => sum + w.requests, 0);
    return s.ready && n === total ? { status: s, counted: n } : undefined;
  }, 5000);
  assert.equal(status.workers.length, 2);
  assert.equal(new Set(status.workers.map((w) => w.pid)).size, 2);
  assert.ok(status.workers.every((w) => w.requests > 0), 'one worker got no requests');
  assert.ok(counted >= 82, `metrics count ${counted}`);
  assert.equal((await send(proxy.adminPort, { path: '/readyz' })).status, 200);

  // a worker killed outright is replaced, and the new one follows the store too
  const victim = status.workers[0]!.pid;
  process.kill(victim, 'SIGKILL');
  await etcd.put('/services/live/fresh', `127.0.0.1:${fresh.port}`);
  const revived = (await waitFor('the killed worker replaced and ready', async () => {
    const s = (await proxy.status()) as { ready: boolean; workers: { pid: number; restarts: number; ready: boolean }[] };
    return s.ready && s.workers.some((w) => w.restarts === 1) && !s.workers.some((w) => w.pid === victim) ? s : undefined;
  }, 10_000)) as { workers: { pid: number }[] };
  assert.equal(revived.workers.length, 2);
  const again = await Promise.all(Array.from({ length: 40 }, () => send(proxy.port, { host: 'live.w.test' })));
  assert.deepEqual([...new Set(again.map((r) => `${r.status} ${r.text}`))], ['200 fresh']);

  proxy.beacon.child.kill('SIGTERM');
  assert.equal((await proxy.beacon.exited).code, 0);
});

test('store down: the proxy still starts (not ready, 503s), keeps the last table through an etcd outage, and follows it again after', { timeout: 60_000 }, async () => {
  const down = await startProxy('etcd://127.0.0.1:1', ['--default-service', 'slow', '--no-access-log']);
  cleanup.push(() => down.beacon.stop());
  assert.equal((await send(down.adminPort, { path: '/readyz' })).status, 503);
  const none = await send(down.port, { path: '/' });
  assert.equal(none.status, 503);
  assert.match(none.text, /"slow"/);
  await down.beacon.stop();

  const proxy = await startProxy(etcd.url, ['--default-service', 'slow', '--domain', 'o.test', '--no-access-log']);
  cleanup.push(() => proxy.beacon.stop());
  assert.equal((await send(proxy.port, { path: '/' })).status, 200);
  const member = etcd.members[0]!;
  await etcd.stopMember(member, 'SIGKILL');
  await waitFor('not ready while etcd is down', async () => (await send(proxy.adminPort, { path: '/readyz' })).status === 503, 15_000, 100);
  for (let i = 0; i < 10; i++) assert.equal((await send(proxy.port, { path: '/' })).status, 200);
  await etcd.restartMember(member);
  await waitFor('ready again', async () => (await send(proxy.adminPort, { path: '/readyz' })).status === 200, 20_000, 100);
  const late = await startUpstream('late');
  cleanup.push(() => late.close());
  await etcd.put('/services/late/l1', `127.0.0.1:${late.port}`);
  await untilReply(proxy.port, { host: 'late.o.test' }, (r) => r.text === 'late', 5000);
});

test('bad flags exit 2 naming the flag', { timeout: 30_000 }, async () => {
  const route = await runBeacon(['proxy', '--route', 'nohost', '--store', etcd.url]);
  assert.equal(route.code, 2);
  assert.match(route.stderr, /--route/);
  const workers = await runBeacon(['proxy', '--workers', '0', '--store', etcd.url]);
  assert.equal(workers.code, 2);
  assert.match(workers.stderr, /--workers/);
  const help = await runBeacon(['proxy', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--listen', '--route', '--domain', '--default-service', '--workers', '--max-tries', '--max-fails', '--fail-timeout', '--connect-timeout', '--access-log', '--admin']) {
    assert.ok(help.stdout.includes(flag), `help lacks ${flag}`);
  }
});

test('SIGTERM with pipelined requests waiting: the response in flight leaves whole, then FIN, no reset', { timeout: 30_000 }, async () => {
  // Before: the paused connection's unread requests made the kernel reset it at close, cutting
  // the response still queued for the client.
  const proxy = await startProxy(etcd.url, ['--default-service', 'slow', '--shutdown-timeout', '10s', '--no-access-log']);
  cleanup.push(() => proxy.beacon.stop('SIGKILL'));
  const bytes = 3_000_000;
  const socket = connect(proxy.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let error: Error | undefined;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', (err) => (error = err));
  const closed = new Promise((resolve) => socket.on('close', resolve));
  await new Promise((resolve) => socket.on('connect', resolve));
  socket.write(`GET /slow?ms=600&bytes=${bytes} HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n`);
  await sleep(20);
  socket.write('GET /three HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(200);
  proxy.beacon.child.kill('SIGTERM');
  await closed;
  assert.equal(error, undefined, `the connection ended with ${error?.message}`);
  const text = Buffer.concat(chunks);
  const end = text.indexOf('\r\n\r\n');
  assert.match(text.subarray(0, end).toString('latin1'), new RegExp(`^HTTP/1\\.1 200 OK\\r\\n[^]*content-length: ${bytes}\\r\\n[^]*connection: close`, 'i'));
  assert.equal(text.length - end - 4, bytes, 'the whole body, nothing after it');
  assert.equal((await proxy.beacon.exited).code, 0);
});
