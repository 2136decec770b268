// The proxy's timeouts and connection limits, each against a hand-written upstream: a body that
// stalls, a client that stalls mid-body, idle clients, the per-upstream connection cap, and
// idle upstream connections aged out.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../dist/store/file.js';
import { waitFor } from '../harness/wait.ts';
import { converse, send, startProxy, type ProxyUnderTest } from './fixtures.ts';

let upstream: Server;
let proxy: ProxyUnderTest;
let storeDir: string;
const stats = { opened: 0, closed: 0, open: 0, maxOpen: 0 };
const BIG = 32 * 1024 * 1024;

before(async () => {
  upstream = createServer((socket) => {
    stats.opened++;
    stats.maxOpen = Math.max(stats.maxOpen, ++stats.open);
    socket.on('close', () => {
      stats.closed++;
      stats.open--;
    });
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      // a request is answered once its whole body is in
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const path = buf.slice(0, end).split(' ')[1] ?? '';
      buf = buf.slice(end + 4 + length);
      if (path === '/stall') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      else if (path === '/slow') setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 300);
      else if (path === '/hang') return;
      else if (path === '/big') {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`);
        socket.write(Buffer.alloc(BIG, 0x61));
      } else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${3 + path.length}\r\n\r\nok ${path}`);
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  storeDir = mkdtempSync(join(tmpdir(), 'beacon-timeouts-'));
  const store = new FileStore(storeDir);
  await store.put('/services/t/t1', `127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  await store.close();
  proxy = await startProxy(`file://${storeDir}`, [
    '--default-service', 't', '--no-access-log',
    '--upstream-body-timeout', '300ms', '--client-header-timeout', '400ms', '--client-request-timeout', '800ms',
    '--idle-timeout', '300ms', '--upstream-connections', '1', '--upstream-keepalive', '500ms', '--upstream-header-timeout', '700ms',
  ]);
});

after(async () => {
  await proxy?.beacon.stop();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  rmSync(storeDir, { recursive: true, force: true });
});

/** Writes `data` on a fresh connection; resolves with what came back and when the proxy closed it. */
const hold = (data: string): Promise<{ text: string; ms: number }> => converse(proxy.port, [data]);

test('--upstream-body-timeout: a body that stalls is cut, and the client sees a short response, not a hang', { timeout: 15_000 }, async () => {
  const r = await hold('GET /stall HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nabc$/);
  assert.ok(r.ms >= 250 && r.ms < 2500, `cut after ${r.ms} ms`);
  assert.match(await proxy.metrics(), /beacon_proxy_upstream_errors_total\{[^}]*kind="timeout"[^}]*\} 1/);
});

test('--client-request-timeout: a client that stops mid-body gets 408', { timeout: 15_000 }, async () => {
  const r = await hold('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n123');
  assert.match(r.text, /^HTTP\/1\.1 408/);
  assert.ok(r.ms >= 700 && r.ms < 3000, `408 after ${r.ms} ms`);
});

test('--idle-timeout: an idle keep-alive connection is closed', { timeout: 15_000 }, async () => {
  const r = await hold('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok \/$/);
  assert.ok(r.ms >= 250 && r.ms < 2500, `closed after ${r.ms} ms`);
});

test('--upstream-connections 1: concurrent requests queue for the one connection; --upstream-keepalive ages it out', { timeout: 15_000 }, async () => {
  await waitFor('earlier upstream connections aged out', () => stats.open === 0, 5000, 20);
  const before = stats.opened;
  stats.maxOpen = 0;
  const replies = await Promise.all([1, 2, 3].map(() => send(proxy.port, { path: '/slow' })));
  assert.deepEqual(replies.map((r) => `${r.status} ${r.text}`), ['200 slow', '200 slow', '200 slow']);
  assert.equal(stats.maxOpen, 1, 'never more than one connection to the upstream');
  assert.equal(stats.opened - before, 1, 'the three requests shared one connection');
  // idle for longer than --upstream-keepalive: beacon closes it
  await waitFor('idle upstream connection closed', () => stats.open === 0, 3000, 20);
});

test('--upstream-body-timeout does not cut a client that reads slowly, nor count it against the upstream', { timeout: 20_000 }, async () => {
  const timeoutsBefore = /kind="timeout"[^}]*\} (\d+)/.exec(await proxy.metrics())?.[1] ?? '0';
  const received = await new Promise<number>((resolve, reject) => {
    const socket = connect(proxy.port, '127.0.0.1', () => socket.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let bytes = 0;
    socket.pause();
    // four body timeouts of not reading: the proxy must wait for this client, not give up on it
    setTimeout(() => socket.resume(), 1200);
    socket.on('data', (c: Buffer) => (bytes += c.length));
    socket.on('error', reject);
    socket.on('close', () => resolve(bytes));
  });
  assert.ok(received > BIG, `got ${received} bytes of a ${BIG}-byte body`);
  assert.equal(/kind="timeout"[^}]*\} (\d+)/.exec(await proxy.metrics())?.[1] ?? '0', timeoutsBefore);
});

test('a request queued for the one upstream connection waits at most --upstream-header-timeout (503)', { timeout: 15_000 }, async () => {
  await waitFor('earlier upstream connections aged out', () => stats.open === 0, 5000, 20);
  // a client that does not read holds the only connection (no body timeout while it is the slow side)
  const holder = connect(proxy.port, '127.0.0.1', () => holder.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'));
  holder.on('error', () => undefined);
  holder.pause();
  try {
    await waitFor('the holder has the connection', () => stats.open === 1, 5000, 10);
    const started = performance.now();
    const queued = await send(proxy.port, { path: '/hang' });
    assert.equal(queued.status, 503, queued.text);
    assert.match(queued.text, /no connection to service "t" came free within 700 ms/);
    const ms = performance.now() - started;
    assert.ok(ms >= 650 && ms < 2500, `answered after ${ms} ms`);
  } finally {
    holder.destroy();
  }
});

test('pipelined requests stay whole when a queued body lets the connection read again', { timeout: 15_000 }, async () => {
  await waitFor('earlier upstream connections aged out', () => stats.open === 0, 5000, 20);
  // another client holds the only upstream connection for 300 ms
  const holder = send(proxy.port, { path: '/slow' });
  await new Promise((r) => setTimeout(r, 30));
  const text = (await converse(proxy.port, [
    'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n',
    'hello',
    'GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ], 200)).text;
  assert.equal((await holder).text, 'slow');
  assert.deepEqual([...text.matchAll(/ok (\/[a-z])/g)].map((m) => m[1]), ['/p', '/b', '/c'], text);
});
