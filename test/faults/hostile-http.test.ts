import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBeacon } from '../harness/beacon.ts';
import { FileStore } from '../../dist/store/file.js';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';

/** Sends raw bytes, returns everything the server sent back until it closed or `ms` passed. */
function raw(port: number, payload: string | Buffer, ms = 1500, closeAfterWrite = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, ms);
    socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(payload, () => {
      if (closeAfterWrite) socket.destroy();
    });
  });
}

function openSockets(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}

test('hostile HTTP: smuggling, absurd Host headers, mid-body disconnects; no leak, others keep being served', { timeout: 60_000 }, async (t) => {
  const seen: { method: string; url: string; body: string; aborted: boolean }[] = [];
  const upstream = createServer((req: IncomingMessage, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', body: '', aborted: false };
    seen.push(entry);
    req.on('data', (c: Buffer) => (entry.body += c.toString()));
    req.on('aborted', () => (entry.aborted = true));
    req.on('error', () => (entry.aborted = true));
    req.on('end', () => res.end('ok\n'));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    upstream.closeAllConnections();
    upstream.close();
  });
  const upstreamPort = (upstream.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'beacon-hostile-http-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/a', `127.0.0.1:${upstreamPort}`);
  await store.close();
  const port = await freePort();
  const proxy = startBeacon(['proxy', '--store', `file://${dir}`, '--listen', `127.0.0.1:${port}`, '--default-service', 'web', '--no-access-log', '--client-header-timeout', '1s']);
  t.after(() => proxy.stop('SIGKILL'));
  await waitFor('proxy serving', async () => (await httpGet(port, 'x')).status === 200, 15_000, 100);
  seen.length = 0;
  await sleep(300);
  const baseline = openSockets(proxy.child.pid!);

  // Request smuggling: both Content-Length and Transfer-Encoding, or two lengths that disagree.
  const smuggle = [
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n',
  ];
  for (const payload of smuggle) {
    const reply = await raw(port, payload);
    assert.match(reply, /^HTTP\/1\.1 400 /, `rejected: ${JSON.stringify(payload.slice(0, 60))}`);
  }
  assert.equal(seen.filter((s) => s.url === '/smuggled').length, 0, 'no smuggled request reached the upstream');

  // Absurd Host headers: huge, control characters, several, none.
  const hosts: [string, number][] = [
    [`Host: ${'a'.repeat(8000)}`, 200],
    [`Host: ${'a'.repeat(20_000)}`, 431],
    ['Host: a\x01b', 400],
    ['Host: a\r\nHost: b', 400],
    ['', 400],
    ['Host: [::1', 400],
    ['Host: a b', 400],
    ['Host: x/../y', 400],
    ['Host: ..', 200],
  ];
  for (const [host, status] of hosts) {
    const reply = await raw(port, `GET / HTTP/1.1\r\n${host}${host ? '\r\n' : ''}\r\n`);
    assert.match(reply, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(host.slice(0, 40))} -> ${reply.slice(0, 40)}`);
  }

  // A client that disconnects mid-body: the upstream request is aborted, nothing hangs.
  const before = seen.length;
  await raw(port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial body', 300, true);
  await waitFor('upstream saw the aborted upload', () => seen.length > before && seen.at(-1)!.aborted, 5000);

  // Slowloris: headers trickled byte by byte are cut after --client-header-timeout.
  const started = Date.now();
  const slow = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    const head = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let i = 0;
    const drip = setInterval(() => socket.write(i < head.length ? head[i++]! : 'a'), 100);
    socket.on('data', (c: Buffer) => (out += c.toString()));
    socket.on('close', () => {
      clearInterval(drip);
      resolve(out);
    });
    socket.on('error', () => undefined);
    setTimeout(() => socket.destroy(), 8000);
  });
  assert.ok(Date.now() - started < 5000, 'cut within a few seconds');
  assert.match(slow, /^HTTP\/1\.1 408 |^$/);

  // Others are still served, and every socket the attacks opened is closed again.
  assert.equal((await httpGet(port, 'x')).status, 200);
  await waitFor('no leaked sockets', () => openSockets(proxy.child.pid!) <= baseline + 1, 10_000, 200);
  assert.equal(proxy.child.exitCode, null);
});
