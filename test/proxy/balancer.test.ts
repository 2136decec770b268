import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEDGE_STREAK, newPeer, peerState, pickUpstream, reportFailure, reportHedged, reportNeutral, reportSuccess, type Peer } from '../../dist/proxy/balancer.js';

const policy = { maxFails: 2, failTimeoutMs: 1000 };

function counts(peers: Peer[], n: number, now = 0): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const p = pickUpstream(peers, now)!;
    out[p.id] = (out[p.id] ?? 0) + 1;
    reportSuccess(p);
  }
  return out;
}

test('equal weights: strict round robin, each peer its share', () => {
  const peers = [newPeer('a'), newPeer('b'), newPeer('c')];
  const order = Array.from({ length: 6 }, () => pickUpstream(peers, 0)!.id);
  assert.deepEqual(order, ['a', 'b', 'c', 'a', 'b', 'c']);
  assert.deepEqual(counts(peers, 300), { a: 100, b: 100, c: 100 });
});

test('weights: shares follow weights and are interleaved (smooth WRR)', () => {
  const peers = [newPeer('a', 5), newPeer('b', 1), newPeer('c', 1)];
  const order = Array.from({ length: 7 }, () => pickUpstream(peers, 0)!.id).join('');
  assert.equal(order, 'aabacaa');
  assert.deepEqual(counts(peers, 700), { a: 500, b: 100, c: 100 });
});

test('weight 0 peers are used only when no weighted peer is available', () => {
  const peers = [newPeer('a', 1), newPeer('backup', 0)];
  assert.deepEqual(counts(peers, 10), { a: 10 });
  assert.equal(pickUpstream(peers, 0, [peers[0]!])!.id, 'backup');
});

test('no peers: nothing to pick', () => {
  assert.equal(pickUpstream([], 0), undefined);
});

test('retries skip peers already tried; nothing left -> undefined', () => {
  const peers = [newPeer('a'), newPeer('b')];
  const first = pickUpstream(peers, 0)!;
  const second = pickUpstream(peers, 0, [first])!;
  assert.notEqual(second.id, first.id);
  assert.equal(pickUpstream(peers, 0, [first, second]), undefined);
});

test('ejection after max-fails consecutive failures within fail-timeout; others take the traffic', () => {
  const peers = [newPeer('a'), newPeer('b'), newPeer('c')];
  const a = peers[0]!;
  assert.equal(reportFailure(a, 0, policy), false);
  assert.equal(reportFailure(a, 10, policy), true);
  assert.equal(peerState(a, 10), 'ejected');
  assert.deepEqual(counts(peers, 100, 500), { b: 50, c: 50 });
});

test('failures spread wider than fail-timeout do not eject; a success resets the count', () => {
  const a = newPeer('a');
  assert.equal(reportFailure(a, 0, policy), false);
  assert.equal(reportFailure(a, 1500, policy), false);
  reportSuccess(a);
  assert.equal(reportFailure(a, 1600, policy), false);
  assert.equal(peerState(a, 1600), 'up');
  assert.equal(reportFailure(a, 1700, policy), true);
});

test('max-fails 0 never ejects', () => {
  const a = newPeer('a');
  for (let i = 0; i < 10; i++) assert.equal(reportFailure(a, i, { maxFails: 0, failTimeoutMs: 1000 }), false);
  assert.equal(peerState(a, 10), 'up');
});

test('half-open: after the cool-down one probe goes out; success restores, failure ejects again', () => {
  const peers = [newPeer('a'), newPeer('b')];
  const a = peers[0]!;
  reportFailure(a, 0, policy);
  reportFailure(a, 0, policy);
  // cool-down over at 1000: the next pick probes a, and only one probe at a time
  const picks = [pickUpstream(peers, 1000)!, pickUpstream(peers, 1000)!, pickUpstream(peers, 1000)!].map((p) => p.id);
  assert.equal(picks.filter((id) => id === 'a').length, 1);
  assert.equal(peerState(a, 1000), 'probing');
  // the probe fails: ejected for another fail-timeout
  reportFailure(a, 1001, policy);
  assert.equal(peerState(a, 1500), 'ejected');
  assert.deepEqual(counts(peers, 10, 1500), { b: 10 });
  // next probe (within one round) succeeds: back in rotation
  assert.ok([pickUpstream(peers, 2001)!.id, pickUpstream(peers, 2001)!.id].includes('a'));
  assert.equal(reportSuccess(a), true);
  assert.equal(peerState(a, 2001), 'up');
  assert.deepEqual(counts(peers, 10, 2002), { a: 5, b: 5 });
});

test('a neutral outcome releases the probe slot without deciding', () => {
  const a = newPeer('a');
  const peers = [a, newPeer('b')];
  reportFailure(a, 0, policy);
  reportFailure(a, 0, policy);
  const round = () => [pickUpstream(peers, 1000)!.id, pickUpstream(peers, 1000)!.id];
  assert.deepEqual(round().sort(), ['a', 'b']);
  // probe in flight: a is not handed out again
  assert.deepEqual(round(), ['b', 'b']);
  reportNeutral(a);
  assert.equal(peerState(a, 1000), 'probing');
  assert.ok(round().includes('a'));
});

test('every peer ejected: traffic still flows to them rather than failing everything', () => {
  const peers = [newPeer('a'), newPeer('b')];
  for (const p of peers) {
    reportFailure(p, 0, policy);
    reportFailure(p, 0, policy);
  }
  const picked = pickUpstream(peers, 10);
  assert.ok(picked);
});

test('hedged requests in a row eject a peer; a response in between starts the count again; a probe that needs a hedge sits out again', () => {
  assert.equal(HEDGE_STREAK, 3);
  const peer = newPeer('slow');
  assert.equal(reportHedged(peer, 0, policy), false);
  assert.equal(reportHedged(peer, 10, policy), false);
  reportSuccess(peer);
  assert.equal(reportHedged(peer, 20, policy), false);
  assert.equal(reportHedged(peer, 30, policy), false);
  assert.equal(peerState(peer, 30), 'up');
  assert.equal(reportHedged(peer, 40, policy), true, 'the third in a row ejects');
  assert.equal(peerState(peer, 41), 'ejected');
  assert.equal(peerState(peer, 1040), 'probing', 'after the fail timeout a probe may go');
  const probe = pickUpstream([peer], 1040)!;
  assert.equal(probe, peer);
  assert.equal(reportHedged(peer, 1500, policy), false, 'not a new ejection...');
  assert.equal(peerState(peer, 1501), 'ejected', '...but another cool-down');
  assert.equal(peerState(peer, 2501), 'probing');
  pickUpstream([peer], 2501);
  assert.equal(reportSuccess(peer), true, 'a probe answered in time: back');
  assert.equal(peerState(peer, 2502), 'up');
  const never = newPeer('x');
  for (let i = 0; i < 10; i++) assert.equal(reportHedged(never, i, { maxFails: 0, failTimeoutMs: 1000 }), false, '--max-fails 0: never ejected');
});
