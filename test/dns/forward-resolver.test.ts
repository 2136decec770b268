// ForwardResolver with a scripted forwarder and a hand-moved clock: single flight, serve-stale and
// its recheck window, prefetch once, dead entries dropped, size 0. No sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ForwardResolver } from '../../dist/dns/forward-resolver.js';
import { Stats } from '../../dist/dns/metrics.js';
import { CLASS, decodeMessage, encodeQuery, encodeResponse, parseQuery, RCODE, TYPE, type Query } from '../../dist/dns/wire.js';

interface Script {
  /** what the next relays return: a TTL for an A answer, or 'fail' */
  outcome: number | 'fail';
  relays: number;
  /** resolves pending relays */
  release(): void;
  hold: boolean;
}

function setup(size = 100, staleMax = 60) {
  let now = 1_000_000;
  const pending: (() => void)[] = [];
  const script: Script = {
    outcome: 10,
    relays: 0,
    hold: false,
    release: () => pending.splice(0).forEach((f) => f()),
  };
  const forwarder = {
    relay(query: Uint8Array): Promise<Buffer | undefined> {
      script.relays++;
      const p = parseQuery(query);
      assert.ok(p.ok);
      const q = p.query;
      const outcome = script.outcome;
      const reply =
        outcome === 'fail'
          ? undefined
          : encodeResponse({
              id: q.id,
              rcode: RCODE.NOERROR,
              rd: q.rd,
              ra: true,
              question: Buffer.from(query).subarray(12, q.questionEnd),
              answer: [{ name: q.name, type: TYPE.A, class: CLASS.IN, ttl: outcome, data: { kind: 'a', address: `192.0.2.${script.relays}` } }],
              maxSize: 65535,
            });
      if (!script.hold) return Promise.resolve(reply);
      return new Promise((resolve) => pending.push(() => resolve(reply)));
    },
  };
  const stats = new Stats();
  const r = new ForwardResolver({ forwarder: forwarder as never, config: () => ({ size, maxTtl: 3600, staleMax }), stats, now: () => now });
  const ask = async (name = 'www.example.org.', id = 1): Promise<{ address: string; ttl: number; id: number } | undefined> => {
    const msg = encodeQuery(id, name, TYPE.A);
    const p = parseQuery(msg);
    assert.ok(p.ok);
    const out = await r.resolve(p.query as Query, msg, 'udp', 512);
    if (!out) return undefined;
    const m = decodeMessage(out);
    const a = m.answer[0]!;
    return { address: a.data.kind === 'a' ? a.data.address : '', ttl: a.ttl, id: m.id };
  };
  return { r, stats, script, ask, tick: (ms: number) => (now += ms) };
}

test('ForwardResolver: identical queries in flight share one relay; each gets its own id', async () => {
  const { script, ask, stats } = setup();
  script.hold = true;
  const waiting = [ask('www.example.org.', 1), ask('WWW.example.org.', 2), ask('www.example.org.', 3)];
  assert.equal(script.relays, 1);
  script.release();
  const got = await Promise.all(waiting);
  assert.deepEqual(got.map((g) => g?.id), [1, 2, 3]);
  assert.ok(got.every((g) => g?.address === '192.0.2.1'));
  assert.equal(stats.forwardCacheMisses, 3);
  script.hold = false;
  assert.equal((await ask())?.address, '192.0.2.1');
  assert.equal(stats.forwardCacheHits, 1);
});

test('ForwardResolver: expiry, serve-stale with TTL 30, the 30 s recheck window, dead past staleMax', async () => {
  const { script, ask, stats, tick, r } = setup(100, 60);
  assert.equal((await ask())?.ttl, 10);
  tick(4000);
  assert.equal((await ask())?.ttl, 6, 'counted down');
  tick(7000); // expired 1 s ago
  script.outcome = 'fail';
  assert.deepEqual(await ask(), { address: '192.0.2.1', ttl: 30, id: 1 });
  assert.equal(script.relays, 2);
  tick(10_000);
  assert.deepEqual(await ask(), { address: '192.0.2.1', ttl: 30, id: 1 }, 'within the recheck window: stale at once');
  assert.equal(script.relays, 2, 'upstreams not asked again');
  tick(21_000); // recheck window over: asked again, still failing, still stale (expired 32 s ago)
  assert.equal((await ask())?.ttl, 30);
  assert.equal(script.relays, 3);
  assert.equal(stats.forwardStaleServed, 3);
  tick(30_000); // expired 62 s ago: past staleMax
  assert.equal(await ask(), undefined);
  assert.equal(r.entries, 0, 'the dead entry is dropped');
});

test('ForwardResolver: a popular entry is prefetched once near expiry; an unpopular one is not', async () => {
  const { script, ask, stats, tick } = setup();
  await ask('hot.example.org.');
  await ask('cold.example.org.');
  for (let i = 0; i < 3; i++) await ask('hot.example.org.');
  tick(9100); // 0.9 s left of 10: inside the last second
  script.hold = true;
  await ask('hot.example.org.');
  await ask('hot.example.org.');
  await ask('cold.example.org.');
  assert.equal(script.relays, 3, 'one prefetch for hot, none for cold');
  assert.equal(stats.forwardPrefetches, 1);
  script.release();
  await new Promise((r) => setImmediate(r));
  script.hold = false;
  tick(1000); // the old entry would have expired now
  assert.equal((await ask('hot.example.org.'))?.address, '192.0.2.3', 'the refreshed entry answers');
  assert.equal(script.relays, 3);
});

test('ForwardResolver: size 0 keeps nothing but still coalesces', async () => {
  const { script, ask, r, stats } = setup(0);
  script.hold = true;
  const both = [ask(), ask()];
  script.release();
  await Promise.all(both);
  assert.equal(script.relays, 1);
  script.hold = false;
  await ask();
  assert.equal(script.relays, 2);
  assert.equal(r.entries, 0);
  assert.equal(stats.forwardCacheHits + stats.forwardCacheMisses, 0, 'no cache, nothing counted');
});

test('ForwardResolver: a failed prefetch is not tried again on every hit (no prefetch storm)', async () => {
  const { script, ask, stats, tick } = setup();
  await ask('hot.example.org.');
  for (let i = 0; i < 3; i++) await ask('hot.example.org.');
  tick(9100); // inside the prefetch window
  script.outcome = 'fail'; // the upstreams answer SERVFAIL at once
  for (let i = 0; i < 50; i++) assert.equal((await ask('hot.example.org.'))?.address, '192.0.2.1', 'still answered from the entry');
  assert.equal(stats.forwardPrefetches, 1, 'one prefetch per entry');
  assert.equal(script.relays, 2);
});
