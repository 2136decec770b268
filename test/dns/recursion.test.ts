// --allow-recursion end to end: real beacon dns, real etcd, real dig from 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster } from '../harness/etcd.ts';
import { runBeacon, startBeacon } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';
import { dig, startUpstream, values } from './helpers.ts';

test('--allow-recursion: forwarding only for allowed clients, in-zone names for everyone', { timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  await etcd.put('/skydns/local/skydns/app/a', '{"host":"10.0.0.1","port":80}');
  const upstreamPort = await freePort(true);
  const upstream = await startUpstream(upstreamPort);
  t.after(() => upstream.close());

  const start = async (extra: string[], env: Record<string, string> = {}): Promise<number> => {
    const port = await freePort(true);
    const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--store', etcd.url, '--forward', `127.0.0.1:${upstreamPort}`, '--udp-workers', '0', ...extra], env);
    t.after(() => dns.stop());
    await dns.waitForLog('dns index ready');
    return port;
  };
  const [open, closed, viaEnv] = await Promise.all([
    start([]),
    start(['--allow-recursion', '10.0.0.0/8,fc00::/7']),
    start([], { BEACON_ALLOW_RECURSION: '192.168.0.0/16' }),
  ]);

  await t.test('the default (loopback and private ranges) forwards for 127.0.0.1', async () => {
    for (const transport of [[], ['+tcp']]) {
      const r = await dig(open, 'www.example.test', 'A', ...transport);
      assert.equal(r.status, 'NOERROR', r.raw);
      assert.deepEqual(values(r, 'A'), ['192.0.2.7']);
    }
  });

  await t.test('--allow-recursion 10.0.0.0/8: 127.0.0.1 gets REFUSED for names outside the domain, answers inside it', async () => {
    const before = upstream.queries.length;
    for (const transport of [[], ['+tcp']]) {
      const r = await dig(closed, 'www.example.test', 'A', ...transport);
      assert.equal(r.status, 'REFUSED', r.raw);
      assert.deepEqual(r.answer, []);
      const inZone = await dig(closed, 'a.app.skydns.local', 'A', ...transport);
      assert.equal(inZone.status, 'NOERROR', inZone.raw);
      assert.deepEqual(inZone.answer, ['a.app.skydns.local. 30 A 10.0.0.1']);
      const missing = await dig(closed, 'nope.skydns.local', 'A', ...transport);
      assert.equal(missing.status, 'NXDOMAIN');
    }
    const env = await dig(viaEnv, 'www.example.test', 'A');
    assert.equal(env.status, 'REFUSED', 'BEACON_ALLOW_RECURSION applies too');
    assert.equal(upstream.queries.length, before, 'nothing reached the upstream');
  });

  await t.test('a bad CIDR is a usage error naming the flag', async () => {
    const bad = await runBeacon(['dns', '--allow-recursion', '10.0.0.0/33', '--store', etcd.url]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr + bad.stdout, /--allow-recursion.*10\.0\.0\.0\/33/);
    const env = await runBeacon(['dns', '--store', etcd.url], { BEACON_ALLOW_RECURSION: 'nonsense' });
    assert.equal(env.code, 2);
    assert.match(env.stderr + env.stdout, /BEACON_ALLOW_RECURSION/);
  });
});
