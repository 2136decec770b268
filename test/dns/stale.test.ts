// etcd fully down: beacon dns keeps answering in-zone names from the last view with short TTLs
// and /readyz 503; once etcd is back, normal TTLs and /readyz 200. Real etcd, real dig.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster } from '../harness/etcd.ts';
import { startBeacon } from '../harness/beacon.ts';
import { httpGet } from '../harness/http.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { dig } from './helpers.ts';

test('etcd down: stale answers with --stale-ttl TTLs and /readyz 503; normal again after', { timeout: 120_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  await etcd.put('/skydns/local/skydns/app/a', '{"host":"10.0.0.1","port":80}');
  await etcd.put('/skydns/local/skydns/app/b', '{"host":"10.0.0.2","port":80,"ttl":3}');
  await etcd.put('/skydns/local/skydns/db', '{"host":"10.0.0.9","ttl":120}');

  const port = await freePort(true);
  const admin = await freePort();
  // one UDP worker: the stale state must reach it too
  const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--store', etcd.url, '--admin', `127.0.0.1:${admin}`, '--udp-workers', '1', '--stale-ttl', '5s', '--ttl', '30']);
  t.after(() => dns.stop());
  await dns.waitForLog('dns index ready');
  const ready = async (): Promise<number> => (await httpGet(admin, '127.0.0.1', '/readyz')).status;

  // many UDP queries, so both sockets (main thread and worker) are hit with good probability
  const answers = async (name: string, tries = 6): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < tries; i++) {
      for (const transport of [[], ['+tcp']]) {
        const r = await dig(port, name, 'A', ...transport);
        assert.equal(r.status, 'NOERROR', r.raw);
        out.push(...r.answer);
      }
    }
    return [...new Set(out)].sort();
  };

  await waitFor('ready', async () => (await ready()) === 200, 10_000);
  assert.deepEqual(await answers('a.app.skydns.local'), ['a.app.skydns.local. 30 A 10.0.0.1']);
  assert.deepEqual(await answers('db.skydns.local'), ['db.skydns.local. 120 A 10.0.0.9']);
  assert.deepEqual(await answers('b.app.skydns.local'), ['b.app.skydns.local. 3 A 10.0.0.2']);

  await etcd.stopMember(etcd.members[0]!);
  await waitFor('/readyz 503 with etcd down', async () => (await ready()) === 503, 20_000, 100);
  assert.deepEqual(await answers('a.app.skydns.local'), ['a.app.skydns.local. 5 A 10.0.0.1'], 'stale: capped at 5');
  assert.deepEqual(await answers('db.skydns.local'), ['db.skydns.local. 5 A 10.0.0.9']);
  assert.deepEqual(await answers('b.app.skydns.local'), ['b.app.skydns.local. 3 A 10.0.0.2'], 'lower TTLs stay');
  const nx = await dig(port, 'nope.skydns.local', 'A');
  assert.equal(nx.status, 'NXDOMAIN');
  assert.equal(nx.authority[0]?.split(' ')[1], '5', 'negative answers are short too');
  const status = JSON.parse((await httpGet(admin, '127.0.0.1', '/status')).body) as { stale: boolean };
  assert.equal(status.stale, true);

  await etcd.restartMember(etcd.members[0]!);
  await waitFor('/readyz 200 with etcd back', async () => (await ready()) === 200, 30_000, 100);
  assert.deepEqual(await answers('a.app.skydns.local'), ['a.app.skydns.local. 30 A 10.0.0.1'], 'normal TTLs again');
  assert.deepEqual(await answers('db.skydns.local'), ['db.skydns.local. 120 A 10.0.0.9']);
  const nx2 = await dig(port, 'nope.skydns.local', 'A');
  assert.equal(nx2.authority[0]?.split(' ')[1], '60');
  // and the watch is live again
  await etcd.put('/skydns/local/skydns/app/c', '{"host":"10.0.0.3","port":80}');
  await waitFor('new record visible', async () => (await dig(port, 'c.app.skydns.local', 'A')).answer.length === 1, 10_000);
});
