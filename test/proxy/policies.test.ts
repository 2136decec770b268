// Balancing policies per route: least-conn, ip-hash (rendezvous hashing), sticky cookies. Pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPeer, reportFailure, type Peer } from '../../dist/proxy/balancer.js';
import { cookieValue, hash32, pickHashed, pickLeastConn, pickSticky, stickyId } from '../../dist/proxy/policies.js';

const NOW = 1_000_000;
const peers = (n: number, weight = 1): Peer[] => Array.from({ length: n }, (_, i) => newPeer(`10.0.0.${i + 1}:80`, weight));
const clients = (n: number): string[] => Array.from({ length: n }, (_, i) => `192.168.${(i >> 8) & 255}.${i & 255}`);

test('least-conn: the peer with the fewest attempts in flight; equals share by round robin', () => {
  const ps = peers(3);
  ps[0]!.active = 5;
  ps[1]!.active = 1;
  ps[2]!.active = 3;
  assert.equal(pickLeastConn(ps, NOW), ps[1]);
  // hand out 30 with counts kept: the in-flight counts even out
  const fresh = peers(3);
  for (let i = 0; i < 30; i++) pickLeastConn(fresh, NOW)!.active++;
  assert.deepEqual(fresh.map((p) => p.active), [10, 10, 10]);
});

test('least-conn respects weights: in flight per unit of weight', () => {
  const ps = [newPeer('a:1', 3), newPeer('b:1', 1)];
  for (let i = 0; i < 40; i++) pickLeastConn(ps, NOW)!.active++;
  assert.deepEqual(ps.map((p) => p.active), [30, 10]);
});

test('least-conn skips tried and ejected peers like round robin', () => {
  const ps = peers(3);
  ps[0]!.active = 0;
  ps[1]!.active = 2;
  ps[2]!.active = 2;
  reportFailure(ps[0]!, NOW, { maxFails: 1, failTimeoutMs: 10_000 });
  assert.notEqual(pickLeastConn(ps, NOW), ps[0]);
  assert.equal(pickLeastConn(ps, NOW, [ps[1]!]), ps[2]);
  // every untried peer ejected: one of them still (a blip is not an outage)
  assert.equal(pickLeastConn([ps[0]!], NOW), ps[0]);
});

test('ip-hash: the same client always gets the same peer', () => {
  const ps = peers(4);
  for (const c of clients(200)) {
    const first = pickHashed(ps, NOW, c);
    for (let i = 0; i < 3; i++) assert.equal(pickHashed(ps, NOW, c), first);
  }
});

test('ip-hash spreads clients evenly and respects weights', () => {
  const ps = peers(4);
  const counts = new Map<Peer, number>();
  for (const c of clients(8000)) counts.set(pickHashed(ps, NOW, c)!, (counts.get(pickHashed(ps, NOW, c)!) ?? 0) + 1);
  for (const p of ps) assert.ok(Math.abs(counts.get(p)! - 2000) < 250, `${p.id}: ${counts.get(p)}`);
  const weighted = [newPeer('a:1', 3), newPeer('b:1', 1)];
  let a = 0;
  for (const c of clients(8000)) if (pickHashed(weighted, NOW, c) === weighted[0]) a++;
  assert.ok(Math.abs(a - 6000) < 300, `weight 3 of 4 got ${a} of 8000`);
});

test('ip-hash: adding a fifth peer moves about 1/5 of clients, all of them to the new peer', () => {
  const four = peers(4);
  const five = [...four, newPeer('10.0.0.99:80')];
  let moved = 0;
  const all = clients(10_000);
  for (const c of all) {
    const before = pickHashed(four, NOW, c);
    const after = pickHashed(five, NOW, c);
    if (before !== after) {
      moved++;
      assert.equal(after, five[4], 'a client moved between old peers');
    }
  }
  const share = moved / all.length;
  assert.ok(share > 0.17 && share < 0.23, `moved ${(share * 100).toFixed(1)} %`);
});

test('ip-hash: an ejected or tried peer sends its clients to their second choice, the rest stay', () => {
  const ps = peers(3);
  const all = clients(600);
  const before = all.map((c) => pickHashed(ps, NOW, c));
  reportFailure(ps[1]!, NOW, { maxFails: 1, failTimeoutMs: 10_000 });
  all.forEach((c, i) => {
    const now = pickHashed(ps, NOW, c);
    assert.notEqual(now, ps[1]);
    if (before[i] !== ps[1]) assert.equal(now, before[i]);
  });
  assert.notEqual(pickHashed(ps, NOW, all[0]!, [before[0]!]), before[0]);
});

test('sticky: the cookie names a live peer, or nothing (round robin decides and the cookie is reissued)', () => {
  const ps = peers(3);
  const ids = new Map(ps.map((p, i) => [p, stickyId('app', [`web${i}`])]));
  const idOf = (p: Peer): string => ids.get(p)!;
  assert.equal(pickSticky(ps, NOW, idOf(ps[2]!), idOf), ps[2]);
  assert.equal(pickSticky(ps, NOW, '', idOf), undefined);
  assert.equal(pickSticky(ps, NOW, 'nobody', idOf), undefined);
  reportFailure(ps[2]!, NOW, { maxFails: 1, failTimeoutMs: 10_000 });
  assert.equal(pickSticky(ps, NOW, idOf(ps[2]!), idOf), undefined, 'an ejected instance is not stuck to');
  assert.equal(pickSticky(ps, NOW, idOf(ps[0]!), idOf, [ps[0]!]), undefined, 'nor a tried one');
});

test('sticky ids are opaque, stable, and differ per instance', () => {
  assert.equal(stickyId('app', ['web1-8080']), stickyId('app', ['web1-8080']));
  assert.notEqual(stickyId('app', ['web1-8080']), stickyId('app', ['web2-8080']));
  assert.doesNotMatch(stickyId('app', ['web1-8080']), /web1|8080/);
  assert.match(stickyId('app', ['x']), /^[A-Za-z0-9_-]{16}$/);
});

test('cookie values from header lists and header lines', () => {
  assert.equal(cookieValue(['Cookie', 'a=1; beacon_sticky=abc; b=2'], 'beacon_sticky'), 'abc');
  assert.equal(cookieValue(['cookie', 'a=1', 'COOKIE', 'beacon_sticky="q"'], 'beacon_sticky'), 'q');
  assert.equal(cookieValue(['cookie', 'xbeacon_sticky=1'], 'beacon_sticky'), '');
  assert.equal(cookieValue('host: a\r\nCookie: s=1; beacon_sticky=zz\r\n', 'beacon_sticky'), 'zz');
  assert.equal(cookieValue('host: a\r\nx-cookie: beacon_sticky=no\r\n', 'beacon_sticky'), '');
});

test('hash32 is well mixed (no two of 10k keys collide in the top 20 bits more than chance)', () => {
  const seen = new Set<number>();
  for (const c of clients(10_000)) seen.add(hash32(c) >>> 12);
  assert.ok(seen.size > 9_900, `${seen.size}`);
});
