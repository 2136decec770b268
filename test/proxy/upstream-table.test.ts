// The routing table keeps balancing state across catalog updates without stranding a peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../dist/log.js';
import { peerState, pickUpstream, reportFailure, reportSuccess } from '../../dist/proxy/balancer.js';
import { DirectWriter } from '../../dist/proxy/fast/direct-write.js';
import { UpstreamTable } from '../../dist/proxy/upstreams.js';
import { UpstreamPool } from '../../dist/proxy/fast/pool.js';

const policy = { maxFails: 1, failTimeoutMs: 1000 };
const inst = (id: string, port: number, weight?: number) => ({ service: 'app', id, key: `/services/app/${id}`, host: '127.0.0.1', port, ...(weight === undefined ? {} : { weight }) });

test('an update while a probe is in flight does not leave the peer stuck probing', async (t) => {
  const options = { connectTimeoutMs: 1000, keepAliveTimeoutMs: 1000, connections: 0, maxHeaderSize: 16384, readBuffer: Buffer.alloc(1024), writer: new DirectWriter() };
  const table = new UpstreamTable((id: string, host: string, port: number) => new UpstreamPool(id, host, port, options), createLogger('silent'));
  t.after(() => table.close(100));
  table.update('app', [inst('a', 1), inst('b', 2)]);
  const a = table.get('app')!.peers.find((p) => p.host === '127.0.0.1' && p.port === 1)!;
  assert.equal(reportFailure(a, 0, policy), true, 'a is ejected');
  // the cool-down is over: a goes out as the half-open probe
  let probe;
  for (let i = 0; i < 4 && probe === undefined; i++) {
    const p = pickUpstream(table.get('app')!.peers, 2000);
    if (p === a) probe = p;
  }
  assert.equal(probe, a);
  assert.equal(a.probing, true);
  // the catalog changes a's weight: a new peer object replaces it while the probe is in flight
  table.update('app', [inst('a', 1, 3), inst('b', 2)]);
  const a2 = table.get('app')!.peers.find((p) => p.port === 1)!;
  assert.notEqual(a2, a);
  // the probe succeeds, reported on the object it was sent with
  reportSuccess(a);
  // the new peer must become eligible again (as a probe or up), not stay excluded for good
  const picked = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const p = pickUpstream(table.get('app')!.peers, 3000)!;
    picked.add(p.id);
    reportSuccess(p);
  }
  assert.equal(picked.has(a2.id), true, `a is picked again (state ${peerState(a2, 3000)})`);
  assert.equal(peerState(a2, 3000), 'up');
});
