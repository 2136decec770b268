// Watch events change the index in place (no rebuild per change); a store reset rebuilds it while
// the previous index keeps answering: an in-process DnsServer over an in-memory store whose watch
// events the test emits, queried over UDP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Registry } from 'prom-client';
import { DnsServer } from '../../dist/dns/server.js';
import { createLogger } from '../../dist/log.js';
import { decodeMessage, encodeQuery, rdataText, TYPE } from '../../dist/dns/wire.js';
import { MemoryStore } from '../harness/memory-store.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

async function query(port: number, name: string): Promise<string[]> {
  const socket = createSocket('udp4');
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 3000);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(decodeMessage(msg).answer.map((rr) => rdataText(rr)));
      });
      socket.send(encodeQuery(1, name, TYPE.A, { ednsSize: 4096 }), port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function startServer(t: { after(fn: () => unknown): void }, store: MemoryStore): Promise<{ server: DnsServer; port: number }> {
  const port = await freePort(true);
  const server = new DnsServer({
    listen: { host: '127.0.0.1', port },
    explicit: {},
    prefix: '/skydns',
    store,
    log: createLogger('silent'),
    metrics: new Registry(),
    udpWorkers: 0,
    resolvConf: '/nonexistent',
  });
  await server.start();
  t.after(() => server.stop());
  return { server, port };
}

interface IndexStatus {
  indexRebuilds: number;
  indexUpdates: number;
  records: number;
}

test('watch events change the index in place: no rebuild, every change visible at once, cached answers of other names kept', { timeout: 60_000 }, async (t) => {
  const store = new MemoryStore();
  await store.put('/skydns/local/skydns/base', '{"host":"10.1.0.1"}');
  const { server, port } = await startServer(t, store);
  const status = (): IndexStatus => server.status() as IndexStatus;
  assert.deepEqual(await query(port, 'base.skydns.local.'), ['10.1.0.1']);
  assert.equal(status().indexRebuilds, 1, 'the first sync builds the index');

  // 500 puts: some in one go, most a turn of the event loop apart
  for (let i = 0; i < 500; i++) {
    await store.put(`/skydns/local/skydns/burst/i${i}`, JSON.stringify({ host: `10.2.${i >> 8}.${i & 255}` }));
    if (i % 5 === 0) await new Promise((r) => setImmediate(r));
  }
  await store.put('/skydns/local/skydns/burst/i0', '{"host":"10.3.0.1"}');
  await store.delete('/skydns/local/skydns/burst/i1');
  // applied synchronously with each watch event: no waiting
  assert.equal(status().records, 500);
  assert.equal(status().indexRebuilds, 1, 'no rebuild for watch events');
  assert.equal(status().indexUpdates, 502);
  assert.deepEqual(await query(port, 'i0.burst.skydns.local.'), ['10.3.0.1']);
  assert.deepEqual(await query(port, 'i1.burst.skydns.local.'), []);
  assert.deepEqual(await query(port, 'i499.burst.skydns.local.'), ['10.2.1.243']);

  // a cached answer stays cached when another name changes, and is dropped when its own does
  // (an answer is cached from its second ask)
  const hits = (): number => (server.status() as { cacheHits: number }).cacheHits;
  assert.deepEqual(await query(port, 'base.skydns.local.'), ['10.1.0.1']);
  assert.deepEqual(await query(port, 'base.skydns.local.'), ['10.1.0.1']);
  const before = hits();
  await store.put('/skydns/local/skydns/lone', '{"host":"10.4.0.1"}');
  assert.deepEqual(await query(port, 'lone.skydns.local.'), ['10.4.0.1']);
  assert.deepEqual(await query(port, 'base.skydns.local.'), ['10.1.0.1']);
  assert.equal(hits(), before + 1, 'base answered from the cache after an unrelated change');
  await store.put('/skydns/local/skydns/base', '{"host":"10.1.0.2"}');
  assert.deepEqual(await query(port, 'base.skydns.local.'), ['10.1.0.2']);
  // a name above a change (its subtree listing) is dropped too
  await store.put('/skydns/local/skydns/small/a', '{"host":"10.8.0.1"}');
  await store.put('/skydns/local/skydns/small/b', '{"host":"10.8.0.2"}');
  assert.deepEqual((await query(port, 'small.skydns.local.')).sort(), ['10.8.0.1', '10.8.0.2']);
  assert.deepEqual((await query(port, 'small.skydns.local.')).sort(), ['10.8.0.1', '10.8.0.2']);
  const cachedBefore = hits();
  assert.deepEqual((await query(port, 'small.skydns.local.')).sort(), ['10.8.0.1', '10.8.0.2']);
  assert.equal(hits(), cachedBefore + 1, 'the subtree listing is cached before the change');
  await store.delete('/skydns/local/skydns/small/b');
  assert.deepEqual(await query(port, 'small.skydns.local.'), ['10.8.0.1']);
});

test('a store reset rebuilds the index while the previous one keeps answering, then swaps with the changes made meanwhile', { timeout: 60_000 }, async (t) => {
  const store = new MemoryStore();
  for (let i = 0; i < 20_000; i++) store.kvs.set(`/skydns/local/skydns/old/i${i}`, { key: `/skydns/local/skydns/old/i${i}`, value: JSON.stringify({ host: `10.5.${i >> 8 & 255}.${i & 255}` }), modRevision: 1 });
  const { server, port } = await startServer(t, store);
  const status = (): IndexStatus => server.status() as IndexStatus;
  assert.equal(status().records, 20_000);
  assert.deepEqual(await query(port, 'i7.old.skydns.local.'), ['10.5.0.7']);

  // the reset's view: the old names gone, 20,000 new ones
  const kvs = Array.from({ length: 20_000 }, (_, i) => ({ key: `/skydns/local/skydns/new/i${i}`, value: JSON.stringify({ host: `10.6.${i >> 8 & 255}.${i & 255}` }), modRevision: 2 }));
  store.handlers!.onReset({ revision: 2, kvs });
  assert.equal(status().indexRebuilds, 2);
  // not built in one go: the old index answers meanwhile
  assert.equal(status().records, 20_000);
  const during = await query(port, 'i7.old.skydns.local.');
  // a change during the build lands in the new index
  store.kvs.clear();
  for (const kv of kvs) store.kvs.set(kv.key, kv);
  await store.put('/skydns/local/skydns/new/late', '{"host":"10.7.0.1"}');
  await waitFor('the new index swapped in', async () => (await query(port, 'i7.new.skydns.local.')).length === 1, 10_000, 5);
  t.diagnostic(`during the rebuild: ${JSON.stringify(during)}`);
  assert.deepEqual(during, ['10.5.0.7'], 'answered from the previous index during the rebuild');
  assert.deepEqual(await query(port, 'i7.old.skydns.local.'), []);
  assert.deepEqual(await query(port, 'late.new.skydns.local.'), ['10.7.0.1']);
  assert.equal(status().records, 20_001);
});
