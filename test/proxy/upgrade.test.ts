// beacon proxy and the Upgrade header: only WebSocket handshakes are tunnelled; everything else
// (h2c, TLS/1.0) is an ordinary request; a tunnel that fails after the 101 is just closed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { EtcdCluster } from '../harness/etcd.ts';
import { converse, encodeFrame, openWebSocket, send, startProxy, startUpstream, untilReply, type ProxyUnderTest, type Upstream } from './fixtures.ts';

let etcd: EtcdCluster;
let proxy: ProxyUnderTest;
let web: Upstream;
let resetPort = 0;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  web = await startUpstream('web');
  cleanup.push(() => web.close());
  // accepts the WebSocket handshake, sends one text frame, then resets the connection
  const reset = createServer((s: Socket) => {
    s.on('error', () => undefined);
    let head = '';
    s.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      s.write(encodeFrame(Buffer.from('hello'), false));
      setTimeout(() => s.resetAndDestroy(), 200);
    });
  });
  await new Promise<void>((resolve) => reset.listen(0, '127.0.0.1', resolve));
  resetPort = (reset.address() as AddressInfo).port;
  cleanup.push(() => new Promise((resolve) => reset.close(resolve)));
  await etcd.put(`/services/web/w1`, `127.0.0.1:${web.port}`);
  await etcd.put(`/services/resetter/r1`, `127.0.0.1:${resetPort}`);
  proxy = await startProxy(etcd.url, ['--domain', 'svc.test']);
  cleanup.push(() => proxy.beacon.stop());
  await untilReply(proxy.port, { host: 'web.svc.test' }, (r) => r.status === 200, 10_000);
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

test('a request with Upgrade: h2c (curl --http2) is proxied as a normal request', { timeout: 30_000 }, async () => {
  const reply = await send(proxy.port, {
    host: 'web.svc.test',
    path: '/h2c',
    headers: { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQCAAAAAAIAAAAA' },
  });
  assert.equal(reply.status, 200);
  assert.equal(reply.text, 'web');
  assert.equal(web.lastHeaders?.upgrade, undefined, 'the hop-by-hop Upgrade is not passed on');
  // a POST with an Upgrade header also takes the normal path
  const post = await send(proxy.port, { host: 'web.svc.test', method: 'POST', path: '/hash', headers: { connection: 'Upgrade', upgrade: 'websocket' }, body: Buffer.from('abc') });
  assert.equal(post.status, 200);
  assert.equal(JSON.parse(post.text).size, 3);
  // WebSocket still works
  const ws = await openWebSocket(proxy.port, 'web.svc.test');
  assert.match(ws.response, /^HTTP\/1\.1 101/);
  assert.equal(await ws.echo('hi'), 'web:hi');
  ws.close();
});

test('a WebSocket handshake with a body (Content-Length or chunked) gets 400 and a close, never a hang', { timeout: 30_000 }, async () => {
  const key = Buffer.from('0123456789abcdef').toString('base64');
  const handshake = `GET /chat HTTP/1.1\r\nHost: web.svc.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
  const hits = web.hits;
  for (const framing of ['Content-Length: 5\r\n\r\nhello', 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n']) {
    const { text } = await converse(proxy.port, [`${handshake}${framing}`], 0, 5000);
    assert.match(text, /^HTTP\/1\.1 400 [^\r]*\r\n(?:[^\r]+\r\n)*connection: close\r\n/i, framing);
    assert.match(text, /carries no body/);
  }
  assert.equal(web.hits, hits, 'nothing reached the upstream');
});

test('an upstream that resets an open WebSocket: the client sees the frame, then a close, never an HTTP 502', { timeout: 30_000 }, async () => {
  const socket = connect(proxy.port, '127.0.0.1');
  socket.on('error', () => undefined);
  let received = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (received = Buffer.concat([received, c])));
  socket.write(`GET /ws HTTP/1.1\r\nHost: resetter.svc.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    socket.on('close', () => resolve());
    setTimeout(() => reject(new Error(`socket not closed; got ${JSON.stringify(received.toString('latin1'))}`)), 10_000).unref();
  });
  const text = received.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 101/);
  const afterHandshake = received.subarray(text.indexOf('\r\n\r\n') + 4);
  assert.deepEqual(afterHandshake.subarray(0, 7), encodeFrame(Buffer.from('hello'), false));
  assert.doesNotMatch(afterHandshake.toString('latin1'), /HTTP\/1\.1 502/);
});

test('frames a client sends right after its handshake, before the upstream answers 101, all arrive in order', { timeout: 30_000 }, async () => {
  // Before: the socket flowed with no listener until http-proxy-3 piped it after the 101, and
  // those bytes were emitted to nobody.
  const early = ['same-packet', 'fifty-ms-later', 'hundred-ms-later'].map((t) => encodeFrame(Buffer.from(t), true));
  const ws = await openWebSocket(proxy.port, 'web.svc.test', { path: '/chat?delay=400', early });
  try {
    assert.match(ws.response, /^HTTP\/1\.1 101 /);
    assert.deepEqual([await ws.receive(), await ws.receive(), await ws.receive()], ['web:same-packet', 'web:fifty-ms-later', 'web:hundred-ms-later']);
    assert.equal(await ws.echo('after'), 'web:after');
  } finally {
    ws.close();
  }
});
