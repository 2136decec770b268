import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { EtcdStore } from '../../dist/store/etcd.js';
import { EtcdCluster } from '../harness/etcd.ts';
import { sleep, waitFor } from '../harness/wait.ts';

/**
 * etcd3 resumes a watch from the revision in its last response header (the store's current
 * revision), so a stream that drops right after reconnecting, before the catch-up events arrive,
 * used to skip them for good. A link that flaps exactly like that must lose nothing.
 */
test('etcd watch: no event lost when the link drops again right after each reconnect', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  let up = true;
  let cutAfterFirstData = -1;
  const sockets = new Set<Socket>();
  const link = createServer((client) => {
    if (!up) return client.destroy();
    const upstream = connect(etcd.members[0]!.clientPort, '127.0.0.1');
    let first = true;
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.on('data', (d: Buffer) => {
      client.write(d);
      if (first && cutAfterFirstData >= 0) {
        first = false;
        const ms = cutAfterFirstData;
        cutAfterFirstData = -1;
        setTimeout(end, ms);
      }
    });
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => link.listen(0, '127.0.0.1', resolve));
  t.after(() => link.close());
  const port = (link.address() as { port: number }).port;

  const writer = new EtcdStore({ endpoints: etcd.endpoints.split(',') });
  const store = new EtcdStore({ endpoints: [`127.0.0.1:${port}`], callTimeoutMs: 1000 });
  t.after(() => Promise.all([writer.close(), store.close()]));
  const snap = await store.read(['/r/']);
  const view = new Set<string>();
  const watch = await store.watch(['/r/'], snap.revision, {
    onChanges: (events) => {
      for (const e of events) {
        if (e.type === 'put') view.add(e.kv.key);
        else view.delete(e.key);
      }
    },
    onReset: (s) => {
      view.clear();
      for (const kv of s.kvs) view.add(kv.key);
    },
  });
  t.after(() => watch.cancel());

  const written: string[] = [];
  for (let i = 0; i < 12; i++) {
    up = false;
    for (const s of sockets) s.destroy();
    await sleep(100);
    for (let j = 0; j < 3; j++) {
      const key = `/r/k${i}-${j}`;
      await writer.put(key, 'v');
      written.push(key);
    }
    cutAfterFirstData = (i * 37) % 120;
    up = true;
    await sleep(1200);
  }
  await waitFor('every key seen', () => written.every((k) => view.has(k)), 20_000, 100).catch(() => undefined);
  const missing = written.filter((k) => !view.has(k));
  assert.deepEqual(missing, [], `${missing.length} of ${written.length} keys never reached the view`);
});
