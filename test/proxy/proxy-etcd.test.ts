// beacon proxy against a real etcd and real HTTP upstreams on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor, sleep } from '../harness/wait.ts';
import { spawnTracked } from '../harness/procs.ts';
import { fileURLToPath } from 'node:url';
import { createServer, type AddressInfo } from 'node:net';
import { blobChunk, openWebSocket, send, startProxy, startUpstream, untilReply, type ProxyUnderTest, type Upstream } from './fixtures.ts';

let etcd: EtcdCluster;
let proxy: ProxyUnderTest;
const ups: Upstream[] = [];
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  for (const name of ['a', 'b', 'c', 'd', 'blog']) {
    const u = await startUpstream(name);
    ups.push(u);
    cleanup.push(() => u.close());
  }
  for (const u of ups.slice(0, 3)) await etcd.put(`/services/app/${u.name}`, `127.0.0.1:${u.port}`);
  await etcd.put('/services/blog/blog1', `http://127.0.0.1:${ups[4]!.port}`);
  proxy = await startProxy(etcd.url, ['--route', 'www.example.test=blog', '--route', '*.apps.test=app', '--domain', 'svc.test', '--fail-timeout', '1s', '--log-level', 'debug']);
  cleanup.push(() => proxy.beacon.stop());
});

after(async () => {
  for (const fn of cleanup.reverse()) {
    await fn().catch(() => undefined);
  }
});

const up = (name: string): Upstream => ups.find((u) => u.name === name)!;

test('round robin across 3 upstreams: each gets its share', { timeout: 30_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const seen: Record<string, number> = {};
  for (let i = 0; i < 300; i++) {
    const r = await send(proxy.port, { host: 'app.svc.test', agent });
    assert.equal(r.status, 200);
    seen[r.text] = (seen[r.text] ?? 0) + 1;
  }
  agent.destroy();
  assert.deepEqual(seen, { a: 100, b: 100, c: 100 });
});

test('etcdctl put adds a live upstream, del removes it, within a bounded wait', { timeout: 30_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const opts = { host: 'app.svc.test', agent };
  await etcd.put('/services/app/d', `127.0.0.1:${up('d').port}`);
  const addedMs = await untilReply(proxy.port, opts, (r) => r.text === 'd', 2000);
  await proxy.beacon.waitForLog('upstreams changed', { service: 'app' }, 2000);
  console.log(`# put -> first request served by the new instance: ${addedMs.toFixed(1)} ms (after etcdctl returned)`);
  assert.ok(addedMs < 500, `new instance served after ${addedMs} ms`);

  await etcd.del('/services/app/d');
  const t0 = performance.now();
  // The watch event is applied within a few ms; give it the target bound, then no request may reach d.
  await sleep(100);
  const hitsBefore = up('d').hits;
  for (let i = 0; i < 30; i++) assert.notEqual((await send(proxy.port, opts)).text, 'd');
  assert.equal(up('d').hits, hitsBefore, 'a deleted instance got requests');
  assert.ok(performance.now() - t0 < 5000);
  agent.destroy();
});

test('lease expiry removes an upstream', { timeout: 30_000 }, async () => {
  const grantedAt = performance.now();
  const grant = await etcd.etcdctl('lease', 'grant', '2');
  const lease = /lease ([0-9a-f]+) granted/.exec(grant)![1]!;
  await etcd.etcdctl('put', '--lease', lease, '/services/app/d', `127.0.0.1:${up('d').port}`);
  await untilReply(proxy.port, { host: 'app.svc.test' }, (r) => r.text === 'd', 2000);
  const expiresAt = grantedAt + 2000;
  // /status (and the admin page) shows the lease time left of the registration
  const leaseLeft = await waitFor('lease time left in /status', async () => {
    const services = (await proxy.status()).services as Record<string, { instances: string[]; leaseLeftMs?: number }[]>;
    return services.app?.find((u) => u.instances.includes('d'))?.leaseLeftMs;
  }, 1500, 50);
  assert.ok(leaseLeft > 0 && leaseLeft <= 2000, `lease left ${leaseLeft} ms`);
  // After the TTL (plus etcd's expiry granularity), d stops getting requests.
  const goneAfter = await waitFor('lease expiry to remove d', async () => {
    const texts = [];
    for (let i = 0; i < 4; i++) texts.push((await send(proxy.port, { host: 'app.svc.test' })).text);
    return texts.includes('d') ? undefined : performance.now();
  }, 10_000, 50);
  console.log(`# lease removed ${(goneAfter - expiresAt).toFixed(0)} ms after its TTL`);
  const hits = up('d').hits;
  for (let i = 0; i < 20; i++) assert.equal((await send(proxy.port, { host: 'app.svc.test' })).status, 200);
  assert.equal(up('d').hits, hits);
});

test('Host routing: --route exact and wildcard, <service>.<domain>, 404 naming the host, 503 naming the service', { timeout: 30_000 }, async () => {
  assert.equal((await send(proxy.port, { host: 'www.example.test' })).text, 'blog');
  assert.equal((await send(proxy.port, { host: 'WWW.example.test:8080' })).text, 'blog');
  assert.equal((await send(proxy.port, { host: 'blog.svc.test' })).text, 'blog');
  assert.match((await send(proxy.port, { host: 'x.y.apps.test' })).text, /^[abc]$/);

  const miss = await send(proxy.port, { host: 'nowhere.example' });
  assert.equal(miss.status, 404);
  assert.match(miss.text, /nowhere\.example/);

  const none = await send(proxy.port, { host: 'ghost.svc.test' });
  assert.equal(none.status, 503);
  assert.match(none.text, /"ghost"/);
  assert.equal(none.headers['retry-after'], '1');
  // Host-derived names that no flag or store entry knows do not become metric labels
  const metrics = await proxy.metrics();
  assert.doesNotMatch(metrics, /service="ghost"/);
  assert.match(metrics, /beacon_proxy_requests_total\{service="-",status="503"\} [1-9]/);
  assert.match(metrics, /beacon_proxy_requests_total\{service="-",status="404"\} [1-9]/);
});

test('forwarded headers: X-Forwarded-For appended, -Proto, -Host; Host passed through; hop-by-hop dropped', { timeout: 30_000 }, async () => {
  const r = await send(proxy.port, { host: 'blog.svc.test', headers: { 'x-forwarded-for': '203.0.113.9', connection: 'keep-alive, x-hop', 'x-hop': 'secret', te: 'trailers' } });
  assert.equal(r.status, 200);
  const h = up('blog').lastHeaders!;
  assert.equal(h.host, 'blog.svc.test');
  assert.equal(h['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-host'], 'blog.svc.test');
  assert.equal(h['x-hop'], undefined);
  assert.equal(h.te, undefined);
  assert.equal(r.headers['x-upstream'], 'blog');
  // access log: one JSON line per request
  const line = await proxy.beacon.waitForLog('request', { host: 'blog.svc.test', path: '/' }, 5000);
  assert.equal(line.method, 'GET');
  assert.equal(line.status, 200);
  assert.equal(line.service, 'blog');
  assert.equal(line.upstream, `127.0.0.1:${up('blog').port}`);
  assert.equal(typeof line.ms, 'number');
});

test('a POST body of several MB is streamed intact, and so is a large response', { timeout: 60_000 }, async () => {
  const size = 6 * 1024 * 1024 + 123;
  const expected = createHash('sha256');
  for (let off = 0; off < size; off += 65536) expected.update(blobChunk(off, Math.min(65536, size - off)));
  const digest = expected.digest('hex');

  // chunked upload, generated on the fly (never held whole by the client)
  const r = await send(proxy.port, {
    host: 'blog.svc.test',
    method: 'POST',
    path: '/hash',
    body: async function* () {
      for (let off = 0; off < size; off += 65536) yield blobChunk(off, Math.min(65536, size - off));
    },
  });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text), { sha256: digest, size });

  // with content-length
  const whole = Buffer.concat(Array.from({ length: Math.ceil(size / 65536) }, (_, i) => blobChunk(i * 65536, Math.min(65536, size - i * 65536))));
  const r2 = await send(proxy.port, { host: 'blog.svc.test', method: 'PUT', path: '/hash', body: whole });
  assert.deepEqual(JSON.parse(r2.text), { sha256: digest, size });

  const blob = await send(proxy.port, { host: 'blog.svc.test', path: `/blob?bytes=${size}` });
  assert.equal(blob.status, 200);
  assert.equal(blob.body.length, size);
  assert.equal(createHash('sha256').update(blob.body).digest('hex'), digest);
});

test('a streamed response is passed on chunk by chunk, not buffered', { timeout: 30_000 }, async () => {
  const first = await new Promise<{ firstMs: number; body: string; totalMs: number }>((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port: proxy.port, path: '/stream?ms=1500', headers: { host: 'blog.svc.test' }, agent: false }, (res) => {
      let body = '';
      let firstMs = -1;
      res.on('data', (c: Buffer) => {
        if (firstMs < 0) firstMs = performance.now() - started;
        body += c.toString();
      });
      res.on('end', () => resolve({ firstMs, body, totalMs: performance.now() - started }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(first.body, 'data: first\n\ndata: second\n\n');
  assert.ok(first.firstMs < 1000, `first chunk after ${first.firstMs} ms`);
  assert.ok(first.totalMs >= 1400);
});

test('HEAD, a client that leaves mid-response (499, upstream request cancelled), and an upstream speaking garbage (502)', { timeout: 30_000 }, async () => {
  const head = await send(proxy.port, { host: 'blog.svc.test', method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['x-upstream'], 'blog');

  // the client gives up on a slow response
  await new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port: proxy.port, path: '/slow?ms=3000', headers: { host: 'blog.svc.test' }, agent: false });
    req.on('error', () => resolve());
    req.end();
    setTimeout(() => req.destroy(), 300);
  });
  const gone = await proxy.beacon.waitForLog('request', { path: '/slow?ms=3000', status: 499 }, 5000);
  assert.ok((gone.ms as number) < 2000);

  // an instance that answers with nonsense
  const garbage = createServer((socket) => {
    socket.on('data', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => garbage.close(() => resolve())));
  await etcd.put('/services/broken/g1', `127.0.0.1:${(garbage.address() as AddressInfo).port}`);
  const bad = await waitFor('broken service routed', async () => {
    const r = await send(proxy.port, { host: 'broken.svc.test' });
    return r.status === 503 ? undefined : r;
  }, 5000, 20);
  assert.equal(bad.status, 502);
  assert.match(bad.text, /"broken"/);
  assert.equal((await send(proxy.port, { host: 'blog.svc.test' })).status, 200);
  await etcd.del('/services/broken/g1');
});

test('WebSocket echo through the proxy', { timeout: 30_000 }, async () => {
  const ws = await openWebSocket(proxy.port, 'blog.svc.test');
  try {
    assert.match(ws.response, /^HTTP\/1\.1 101/);
    assert.equal(await ws.echo('hello'), 'blog:hello');
    assert.equal(await ws.echo('x'.repeat(1000)), `blog:${'x'.repeat(1000)}`);
    assert.equal(up('blog').lastHeaders!['x-forwarded-host'], 'blog.svc.test');
  } finally {
    ws.close();
  }
  const refused = await openWebSocket(proxy.port, 'ghost.svc.test');
  assert.match(refused.response, /^HTTP\/1\.1 503/);
  refused.close();
});

test('a dead instance in the table: requests are retried elsewhere, it gets ejected, none fail; once it answers, a probe brings it back', { timeout: 30_000 }, async () => {
  const deadPort = await freePort();
  await etcd.put('/services/app/dead', `127.0.0.1:${deadPort}`);
  await waitFor('dead instance in status', async () => JSON.stringify((await proxy.status()).services).includes(`127.0.0.1:${deadPort}`), 5000);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const results = await Promise.all(Array.from({ length: 60 }, () => send(proxy.port, { host: 'app.svc.test', agent })));
  agent.destroy();
  assert.deepEqual(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`), []);
  const status = (await proxy.status()) as { services: Record<string, { id: string; state: string }[]> };
  const dead = status.services.app!.find((p) => p.id === `127.0.0.1:${deadPort}`)!;
  assert.equal(dead.state, 'ejected');
  const metrics = await proxy.metrics();
  assert.match(metrics, /beacon_proxy_retries_total\{service="app"\} [1-9]/);
  assert.match(metrics, /beacon_proxy_ejections_total\{service="app"\} [1-9]/);
  assert.match(metrics, /beacon_proxy_upstream_errors_total\{service="app",kind="connect"\} [1-9]/);
  assert.match(metrics, /beacon_proxy_requests_total\{service="app",status="200"\} \d+/);
  assert.match(metrics, /beacon_proxy_request_duration_seconds_count\{service="app"\} \d+/);

  // It comes back on the same address: after the 1 s cool-down a half-open probe succeeds.
  const revived = await startUpstream('revived', deadPort);
  cleanup.push(() => revived.close());
  await waitFor('revived instance to serve again', async () => (await send(proxy.port, { host: 'app.svc.test' })).text === 'revived', 5000, 20);
  const after = (await proxy.status()) as { services: Record<string, { id: string; state: string }[]> };
  assert.equal(after.services.app!.find((p) => p.id === `127.0.0.1:${deadPort}`)!.state, 'up');
  assert.ok(proxy.beacon.logs().some((l) => l.msg === 'upstream back in rotation'));
  await etcd.del('/services/app/dead');
  await revived.close();
});

test('kill -9 of an upstream under continuous GETs fails no client request', { timeout: 60_000 }, async () => {
  const victims = await Promise.all(
    ['k1', 'k2', 'k3'].map(async (name) => {
      const child = spawnTracked(process.execPath, [fileURLToPath(new URL('./upstream-child.ts', import.meta.url)), name]);
      cleanup.push(() => child.stop('SIGKILL'));
      const port = Number(await waitFor(`upstream ${name}`, () => /listening (\d+)/.exec(child.output())?.[1], 10_000));
      return { name, port, child };
    }),
  );
  for (const v of victims) await etcd.put(`/services/kill/${v.name}`, `127.0.0.1:${v.port}`);
  await untilReply(proxy.port, { host: 'kill.svc.test' }, (r) => r.status === 200, 5000);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const failures: string[] = [];
  const served: Record<string, number> = {};
  let running = true;
  const loops = Array.from({ length: 8 }, async () => {
    while (running) {
      try {
        const r = await send(proxy.port, { host: 'kill.svc.test', agent });
        if (r.status === 200) served[r.text] = (served[r.text] ?? 0) + 1;
        else failures.push(`${r.status} ${r.text}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  await sleep(500);
  await victims[1]!.child.stop('SIGKILL');
  const killedAt = { ...served };
  await sleep(1500);
  running = false;
  await Promise.all(loops);
  agent.destroy();
  const ok = Object.values(served).reduce((a, b) => a + b, 0);
  console.log(`# ${ok} requests while killing an upstream (${JSON.stringify(served)}), ${failures.length} failed`);
  assert.deepEqual(failures, []);
  assert.ok(ok > 100, `only ${ok} requests went through`);
  assert.ok((served.k1 ?? 0) > (killedAt.k1 ?? 0) && (served.k3 ?? 0) > (killedAt.k3 ?? 0), 'the survivors kept serving');
});

test('/status shows the requests in flight on each instance (the admin page reads it)', { timeout: 30_000 }, async () => {
  const slow = send(proxy.port, { host: 'www.example.test', path: '/slow?ms=1500' });
  const seen = await waitFor('the slow request in flight on blog', async () => {
    const services = (await proxy.status()).services as Record<string, { inflight: number }[]>;
    return (services.blog?.[0]?.inflight ?? 0) > 0 ? services.blog![0]!.inflight : undefined;
  }, 1200, 20);
  assert.equal(seen, 1);
  assert.equal((await slow).status, 200);
  const after = (await proxy.status()).services as Record<string, { inflight: number }[]>;
  assert.equal(after.blog?.[0]?.inflight, 0);
});
