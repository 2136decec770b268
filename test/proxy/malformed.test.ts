// Malformed request bodies, garbage after a request, HTTP versions the proxy does not speak and
// host-less HTTP/1.0, on the wire, with nginx answering the same bytes beside beacon: every
// malformed input gets its error status and a close (never a silent close), and what came
// before it is answered first.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../dist/store/file.js';
import { Nginx } from '../render/nginx.ts';
import { converse, startProxy, startUpstream, type ProxyUnderTest, type Upstream } from './fixtures.ts';

let web: Upstream;
let proxy: ProxyUnderTest;
let nginx: Nginx;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  web = await startUpstream('web');
  cleanup.push(() => web.close());
  const dir = mkdtempSync(join(tmpdir(), 'beacon-malformed-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const store = new FileStore(dir);
  await store.put('/services/web/a', `127.0.0.1:${web.port}`);
  await store.close();
  proxy = await startProxy(`file://${dir}`, ['--default-service', 'web', '--no-access-log']);
  cleanup.push(() => proxy.beacon.stop());
  nginx = await Nginx.create('app');
  mkdirSync(join(nginx.root, 'conf.d'), { recursive: true });
  writeFileSync(join(nginx.root, 'conf.d', 'app.conf'), `upstream app { server 127.0.0.1:${web.port}; }\n`);
  await nginx.start();
  cleanup.push(() => nginx.stop());
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

/** The status codes of the responses on one connection, in order, and that it was closed. */
async function statuses(port: number, bytes: string): Promise<number[]> {
  // converse rejects when the server does not close within the time limit
  const { text } = await converse(port, [bytes], 0, 5000);
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

const chunkedPost = (body: string): string => `POST /hash HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;

/**
 * Each case: the bytes, what beacon answers (then closes), and what nginx answers to the same
 * bytes when it also closes (undefined: nginx 1.22 reads them leniently and keeps the
 * connection; llhttp is strict there, on purpose, as node:http is).
 */
const CASES: { name: string; bytes: string; beacon: number[]; nginx: number[] | undefined }[] = [
  { name: 'a chunk size that is no hex number', bytes: chunkedPost('zz\r\nabc\r\n0\r\n\r\n'), beacon: [400], nginx: [400] },
  { name: 'a chunk size that overflows', bytes: chunkedPost('ffffffffffffffffff\r\nabc\r\n0\r\n\r\n'), beacon: [400], nginx: [400] },
  { name: 'a bare CR ending a chunk line', bytes: chunkedPost('3\rabc\r\n0\r\n\r\n'), beacon: [400], nginx: [400] },
  { name: 'a bare LF ending a chunk line', bytes: chunkedPost('3\nabc\r\n0\r\n\r\n'), beacon: [400], nginx: undefined },
  { name: 'a trailer that is no header', bytes: chunkedPost('3\r\nabc\r\n0\r\nbad trailer\r\n\r\n'), beacon: [400], nginx: undefined },
  { name: 'a 20 KB chunk extension', bytes: chunkedPost(`3;${'a'.repeat(20_000)}\r\nabc\r\n0\r\n\r\n`), beacon: [400], nginx: undefined },
  { name: 'a valid body in pieces, then a bad chunk', bytes: chunkedPost('3\r\nabc\r\nxyz\r\n'), beacon: [400], nginx: [400] },
  { name: 'garbage after a GET, in the same read', bytes: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n\x01\x02garbage\r\n\r\n', beacon: [200, 400], nginx: [200, 400] },
  { name: 'garbage after a slow GET', bytes: 'GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE GARBAGE\r\n\r\n', beacon: [200, 400], nginx: [200, 400] },
  { name: 'garbage after two pipelined GETs', bytes: 'GET /slow?ms=100 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x00\r\n\r\n', beacon: [200, 200, 400], nginx: [200, 200, 400] },
  { name: 'garbage after a complete chunked POST', bytes: chunkedPost('3\r\nabc\r\n0\r\n\r\n@@@ garbage\r\n\r\n'), beacon: [200, 400], nginx: [200, 400] },
  { name: 'HTTP/2.0 on the request line', bytes: 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', beacon: [505], nginx: [505] },
  { name: 'HTTP/3.0 on the request line', bytes: 'GET / HTTP/3.0\r\nHost: x\r\n\r\n', beacon: [505], nginx: [505] },
  { name: 'HTTP/2.0 after a good request', bytes: 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/2.0\r\nHost: x\r\n\r\n', beacon: [200, 505], nginx: [200, 505] },
];

for (const c of CASES) {
  test(`${c.name}: beacon answers ${c.beacon.join(', ')} and closes${c.nginx ? ', as nginx does' : ''}`, { timeout: 30_000 }, async () => {
    assert.deepEqual(await statuses(proxy.port, c.bytes), c.beacon, 'beacon');
    if (c.nginx !== undefined) assert.deepEqual(await statuses(nginx.port, c.bytes), c.nginx, 'nginx, the same bytes');
  });
}

test('a malformed body is not passed on: the upstream never answers for it, and the next client is served', { timeout: 30_000 }, async () => {
  const before = web.hits;
  assert.deepEqual(await statuses(proxy.port, chunkedPost('3\r\nabc\r\nzz\r\n')), [400]);
  assert.deepEqual(await statuses(proxy.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), [200]);
  assert.ok(web.hits <= before + 2, 'at most the cut POST and the GET reached the upstream');
  assert.match(await proxy.metrics(), /beacon_proxy_client_errors_total\{reason="bad-request"\} [1-9]/);
});

test('HTTP/1.0 without Host is forwarded with the instance address as Host (as nginx sends its proxy_pass host)', { timeout: 30_000 }, async () => {
  const { text } = await converse(proxy.port, ['GET /plain HTTP/1.0\r\n\r\n'], 0, 5000);
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.equal(web.lastHeaders?.host, `127.0.0.1:${web.port}`);
  assert.equal(web.lastHeaders?.['x-forwarded-host'], undefined, 'no X-Forwarded-Host for a request that had no Host');
  const viaNginx = await converse(nginx.port, ['GET /plain HTTP/1.0\r\n\r\n'], 0, 5000);
  assert.match(viaNginx.text, /^HTTP\/1\.1 200 /);
  assert.equal(web.lastHeaders?.host, 'app', 'nginx sends the proxy_pass host');
});
