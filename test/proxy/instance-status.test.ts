// Lease time left per upstream in /status: the smallest of the instances at an address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addLeaseTimes } from '../../dist/proxy/instance-status.js';
import type { UpstreamStatus } from '../../dist/proxy/upstreams.js';

const inst = (id: string, lease?: string) => ({ service: 'app', id, key: `/services/app/${id}`, host: '10.0.0.1', port: 80, ...(lease ? { lease } : {}) });
const up = (instances: string[]): UpstreamStatus => ({ id: '10.0.0.1:80', instances, weight: 1, state: 'up', fails: 0, inflight: 0 });

test('addLeaseTimes: known leases in ms, the smallest per address, unknown and lease-less left out', () => {
  const status = { app: [up(['a', 'b']), up(['c']), up(['d'])], gone: [up(['x'])] };
  const services = new Map([['app', [inst('a', 'L1'), inst('b', 'L2'), inst('c'), inst('d', 'L9')]]]);
  const seconds: Record<string, number> = { L1: 12, L2: 3 };
  const inUse = addLeaseTimes(status, services, (id) => seconds[id]);
  assert.deepEqual([...inUse].sort(), ['L1', 'L2', 'L9']);
  assert.equal(status.app[0]!.leaseLeftMs, 3000);
  assert.equal('leaseLeftMs' in status.app[1]!, false, 'no lease');
  assert.equal('leaseLeftMs' in status.app[2]!, false, 'lease not read yet');
  assert.equal('leaseLeftMs' in status.gone[0]!, false);
});
