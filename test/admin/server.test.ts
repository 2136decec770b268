// The admin server against raw HTTP requests it must survive: request targets Node's parser lets
// through but `new URL` rejects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { AdminServer } from '../../dist/admin/server.js';

/** one raw request on its own connection; the status line of the reply */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('no reply within 5 s')));
    socket.on('data', (chunk) => {
      data += String(chunk);
      if (data.includes('\r\n')) {
        socket.destroy();
        resolve(data.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
  });
}

test('a request target that is not a valid URL gets 400 and the server keeps serving', { timeout: 30_000 }, async () => {
  const admin = new AdminServer('127.0.0.1:0', { ready: () => true, status: () => ({}) }, new Registry(), 'dns');
  const { port } = await admin.start();
  try {
    for (const target of ['http://[', '//[', 'http://a:99999/', 'http://[::1/status']) {
      assert.equal(await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`), 'HTTP/1.1 400 Bad Request', target);
    }
    assert.equal(await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP/1.1 200 OK');
  } finally {
    await admin.stop();
  }
});

test('a change in the first second after start is noticed (the first sample is taken at start)', { timeout: 30_000 }, async () => {
  let status: unknown = { registered: true, healthy: true, lease: 'abc' };
  const admin = new AdminServer('127.0.0.1:0', { ready: () => true, status: () => status }, new Registry(), 'announce');
  const { port } = await admin.start();
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = { registered: false, healthy: false, lastCheck: { detail: 'HTTP 503' } };
    // the next sample (one tick later) compares against the one taken at start
    let page = '';
    for (let i = 0; i < 50 && !page.includes('deregistered'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    }
    assert.match(page, /<li class="ev-registration"><time>[\d:]+<\/time> deregistered<\/li>/);
  } finally {
    await admin.stop();
  }
});

test('a page opened shows the status as it is when the request arrives, however recent the last sample', { timeout: 30_000 }, async () => {
  let records = 0;
  const admin = new AdminServer('127.0.0.1:0', { ready: () => true, status: () => ({ mode: 'dns', ready: records > 0, zone: 'skydns.local', records }) }, new Registry(), 'dns');
  const { port } = await admin.start();
  try {
    // the start-up sample has just been taken (records 0); the mode becomes ready right after
    await new Promise((resolve) => setTimeout(resolve, 20));
    records = 3;
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.match(page, /records<\/[^>]+>\s*<[^>]+>3</);
    // two pages opened together: both see the change made before they asked
    records = 5;
    const [a, b] = await Promise.all([fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()), fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())]);
    for (const p of [a, b]) assert.match(p, /records<\/[^>]+>\s*<[^>]+>5</);
  } finally {
    await admin.stop();
  }
});
