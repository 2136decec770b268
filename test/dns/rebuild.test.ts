// Watch events are coalesced into few index rebuilds: an in-process DnsServer over an in-memory
// store whose watch events the test emits, queried over UDP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Registry } from 'prom-client';
import { DnsServer } from '../../dist/dns/server.js';
import { createLogger } from '../../dist/log.js';
import { decodeMessage, encodeQuery, rdataText, TYPE } from '../../dist/dns/wire.js';
import type { KeyValue, Store, WatchHandlers } from '../../dist/store/store.js';
import { freePort } from '../harness/ports.ts';
import { sleep, waitFor } from '../harness/wait.ts';

/** An in-memory store: every put is one watch event batch, delivered synchronously. */
class MemoryStore implements Store {
  readonly description = 'memory://';
  readonly kvs = new Map<string, KeyValue>();
  revision = 1;
  handlers: WatchHandlers | undefined;
  read(prefixes: readonly string[]) {
    return Promise.resolve({ revision: this.revision, kvs: [...this.kvs.values()].filter((kv) => prefixes.some((p) => kv.key.startsWith(p))) });
  }
  watch(_prefixes: readonly string[], _after: number, handlers: WatchHandlers) {
    this.handlers = handlers;
    return Promise.resolve({ cancel: () => Promise.resolve() });
  }
  grantLease(): never {
    throw new Error('no leases here');
  }
  leaseRemaining() {
    return Promise.resolve(undefined);
  }
  put(key: string, value: string) {
    const kv = { key, value, modRevision: ++this.revision };
    this.kvs.set(key, kv);
    this.handlers?.onChanges([{ type: 'put', kv }], this.revision);
    return Promise.resolve();
  }
  delete(key: string) {
    this.kvs.delete(key);
    this.handlers?.onChanges([{ type: 'delete', key, modRevision: ++this.revision }], ++this.revision);
    return Promise.resolve();
  }
  close() {
    return Promise.resolve();
  }
}

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

test('a burst of watch events makes few index rebuilds; the final answers are right; a lone change is visible at once', { timeout: 60_000 }, async (t) => {
  const store = new MemoryStore();
  await store.put('/skydns/local/skydns/base', '{"host":"10.1.0.1"}');
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
  const rebuilds = (): number => (server.status() as { indexRebuilds: number }).indexRebuilds;
  assert.deepEqual(await query(port, 'base.skydns.local.'), ['10.1.0.1']);

  const before = rebuilds();
  // 500 puts: some in one go, most a turn of the event loop apart
  for (let i = 0; i < 500; i++) {
    await store.put(`/skydns/local/skydns/burst/i${i}`, JSON.stringify({ host: `10.2.${i >> 8}.${i & 255}` }));
    if (i % 5 === 0) await new Promise((r) => setImmediate(r));
  }
  await store.put('/skydns/local/skydns/burst/i0', '{"host":"10.3.0.1"}');
  await store.delete('/skydns/local/skydns/burst/i1');
  const records = (): number => (server.status() as { records: number }).records;
  await waitFor('the whole burst in the index', () => records() === 500, 5000, 5);
  const made = rebuilds() - before;
  t.diagnostic(`502 watch events -> ${made} rebuilds`);
  assert.ok(made >= 1 && made < 50, `${made} rebuilds`);
  assert.deepEqual(await query(port, 'i0.burst.skydns.local.'), ['10.3.0.1']);
  assert.deepEqual(await query(port, 'i1.burst.skydns.local.'), []);
  assert.deepEqual(await query(port, 'i499.burst.skydns.local.'), ['10.2.1.243']);

  // after a quiet spell one change is rebuilt at once, not after a timer
  await sleep(200);
  const quiet = rebuilds();
  await store.put('/skydns/local/skydns/lone', '{"host":"10.4.0.1"}');
  assert.equal(rebuilds(), quiet + 1, 'rebuilt synchronously');
  assert.deepEqual(await query(port, 'lone.skydns.local.'), ['10.4.0.1']);
  // and a second one right after it is coalesced, yet visible within the 100 ms of the contract
  const t0 = Date.now();
  await store.put('/skydns/local/skydns/lone2', '{"host":"10.4.0.2"}');
  await waitFor('second change visible', async () => (await query(port, 'lone2.skydns.local.')).length === 1, 2000, 2);
  t.diagnostic(`second change visible after ${Date.now() - t0} ms`);
  assert.ok(Date.now() - t0 < 500, `visible after ${Date.now() - t0} ms`);
});
