// HTTP/2 on --tls-listen (ALPN h2): requests go through the same routing, pools, retries and
// accounting as HTTP/1.1; request bodies with and without a length; curl --http2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { makeSiteCA } from '../harness/site-certs.ts';
import { blobChunk, startProxy, startUpstream, untilReply, type ProxyUnderTest, type Upstream } from './fixtures.ts';
import { run } from './tls/client.ts';

const ca = makeSiteCA();
const caPem = readFileSync(ca.caFile, 'utf8');
let etcd: EtcdCluster;
let web: Upstream;
let proxy: ProxyUnderTest;
let tlsPort = 0;
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  web = await startUpstream('web');
  cleanup.push(() => web.close());
  await etcd.put('/services/web/w1', `127.0.0.1:${web.port}`);
  const site = ca.sign('site', ['web.example.test', '*.example.test']);
  await etcd.put('/beacon/tls/site', JSON.stringify({ cert: site.chain, key: site.key }));
  tlsPort = await freePort();
  proxy = await startProxy(etcd.url, ['--route', 'web.example.test=web', '--route', 'gone.example.test=gone', '--tls-listen', `127.0.0.1:${tlsPort}`, '--hsts', '300']);
  cleanup.push(() => proxy.beacon.stop());
  await untilReply(proxy.port, { host: 'web.example.test' }, (r) => r.status === 200, 10_000);
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  ca.cleanup();
});

function session(servername = 'web.example.test'): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = connect(`https://127.0.0.1:${tlsPort}`, { servername, ca: caPem });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function h2(s: ClientHttp2Session, headers: Record<string, string>, body?: Buffer | Buffer[]): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = s.request({ ':authority': 'web.example.test', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body !== undefined) {
      // written in pieces, without content-length unless the caller set one
      for (const piece of Array.isArray(body) ? body : [body]) stream.write(piece);
      stream.end();
    }
  });
}

test('GET over h2 is routed, forwarded with X-Forwarded-Proto https, and answered', { timeout: 30_000 }, async () => {
  const s = await session();
  try {
    assert.equal(s.alpnProtocol, 'h2');
    const r = await h2(s, { ':path': '/hello', 'x-test': 'one' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'web');
    assert.equal(web.lastHeaders?.['x-forwarded-proto'], 'https');
    assert.equal(web.lastHeaders?.host, 'web.example.test');
    assert.equal(web.lastHeaders?.['x-test'], 'one');
    assert.equal(r.headers.connection, undefined);
    assert.equal(r.headers['strict-transport-security'], 'max-age=300', JSON.stringify(r.headers));
    // HEAD: the head without a body
    const head = await h2(s, { ':path': '/', ':method': 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  } finally {
    s.close();
  }
});

test('request bodies over h2, with and without content-length; a large response', { timeout: 30_000 }, async () => {
  const s = await session();
  try {
    const body = Buffer.alloc(200_000, 3);
    const sha = createHash('sha256').update(body).digest('hex');
    const noLength = await h2(s, { ':path': '/hash', ':method': 'POST' }, [body.subarray(0, 70_000), body.subarray(70_000)]);
    assert.deepEqual(JSON.parse(noLength.body.toString()), { sha256: sha, size: body.length });
    const withLength = await h2(s, { ':path': '/hash', ':method': 'POST', 'content-length': String(body.length) }, body);
    assert.deepEqual(JSON.parse(withLength.body.toString()), { sha256: sha, size: body.length });
    const blob = await h2(s, { ':path': '/blob?bytes=3000000' });
    assert.equal(blob.status, 200);
    assert.ok(blob.body.equals(blobChunk(0, 3_000_000)), 'the streamed body arrives intact');
    // many streams at once on one connection
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => h2(s, { ':path': `/n${i}` })));
    assert.ok(many.every((r) => r.status === 200 && r.body.toString() === 'web'));
  } finally {
    s.close();
  }
});

test('h2 refusals: unknown host 404, service without instances 503', { timeout: 30_000 }, async () => {
  const s = await session();
  try {
    const unknown = await h2(s, { ':path': '/', ':authority': 'nothing.example.test' });
    assert.equal(unknown.status, 404);
    const gone = await h2(s, { ':path': '/', ':authority': 'gone.example.test' });
    assert.equal(gone.status, 503);
    assert.match(gone.body.toString(), /no live instance of service "gone"/);
    assert.match(await proxy.metrics(), /beacon_proxy_requests_total\{service="gone",status="503"\} [1-9]/);
  } finally {
    s.close();
  }
});

test('curl --http2 through the proxy, with a request body', { timeout: 30_000 }, async () => {
  const base = ['-sS', '--http2', '--cacert', ca.caFile, '--resolve', `web.example.test:${tlsPort}:127.0.0.1`];
  const get = await run('curl', [...base, `https://web.example.test:${tlsPort}/`, '-w', '\n%{http_code} %{http_version}']);
  assert.equal(get.stdout, 'web\n200 2', get.stderr);
  const post = await run('curl', [...base, '--data-binary', 'abc', `https://web.example.test:${tlsPort}/hash`, '-w', '\n%{http_version}']);
  assert.equal(post.stdout, `${JSON.stringify({ sha256: createHash('sha256').update('abc').digest('hex'), size: 3 })}\n2`, post.stderr);
  // http/1.1 is still offered by ALPN
  const h1 = await run('curl', [...base.filter((a) => a !== '--http2'), '--http1.1', `https://web.example.test:${tlsPort}/`, '-w', '\n%{http_version}']);
  assert.equal(h1.stdout, 'web\n1.1', h1.stderr);
});
