// proxy TCP, pure parts: --tcp parsing, first/least-conn, PROXY protocol headers (tables).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPeer, reportFailure, type Peer } from '../../dist/proxy/balancer.js';
import { pickFirst, pickLeastConn, pickTcp, type LoadedPeer } from '../../dist/proxy/tcp/balance.js';
import { encodeProxyV1, encodeProxyV2, ipv6Bytes } from '../../dist/proxy/tcp/proxy-protocol.js';
import { parseTcpSpec, parseTcpSpecs } from '../../dist/proxy/tcp/spec.js';
import { mergeTcpStatus } from '../../dist/proxy/tcp/status.js';
import { runBeacon } from '../harness/beacon.ts';

test('--tcp values: parsed, or the problem named', () => {
  const ok: [string, object][] = [
    ['0.0.0.0:3306=galera:first', { host: '0.0.0.0', port: 3306, service: 'galera', balance: 'first' }],
    ['127.0.0.1:27017=mongo', { host: '127.0.0.1', port: 27017, service: 'mongo', balance: 'round-robin' }],
    [':5432=pg:least-conn', { host: '0.0.0.0', port: 5432, service: 'pg', balance: 'least-conn' }],
    ['[::1]:3306=db:round-robin', { host: '::1', port: 3306, service: 'db', balance: 'round-robin' }],
  ];
  for (const [text, want] of ok) {
    const r = parseTcpSpec(text);
    assert.ok('spec' in r, `${text}: ${JSON.stringify(r)}`);
    assert.deepEqual({ host: r.spec.host, port: r.spec.port, service: r.spec.service, balance: r.spec.balance }, want, text);
  }
  const bad: [string, RegExp][] = [
    ['galera', /missing "="/],
    ['3306=galera', /listen address "3306"/],
    ['127.0.0.1:0=galera', /listen address/],
    ['127.0.0.1:99999=galera', /listen address/],
    ['127.0.0.1:3306=', /service ""/],
    ['127.0.0.1:3306=Galera', /service "Galera"/],
    ['127.0.0.1:3306=galera:fastest', /balance "fastest"/],
    ['127.0.0.1:3306=galera:', /balance ""/],
  ];
  for (const [text, want] of bad) {
    const r = parseTcpSpec(text);
    assert.ok('problem' in r, text);
    assert.match(r.problem, want, text);
    assert.ok(r.problem.includes(JSON.stringify(text)), `names the value: ${r.problem}`);
  }
  const twice = parseTcpSpecs(['127.0.0.1:3306=a', '127.0.0.1:3306=b']);
  assert.ok('problem' in twice && /given twice/.test(twice.problem));
});

test('a malformed --tcp exits 2 naming the flag and the value', { timeout: 30_000 }, async () => {
  for (const value of ['127.0.0.1:3306', '127.0.0.1:3306=db:sticky', '127.0.0.1:70000=db']) {
    const r = await runBeacon(['proxy', '--store', 'etcd://127.0.0.1:1', '--listen', '127.0.0.1:0', '--tcp', value]);
    assert.equal(r.code, 2, `${value}: ${r.stderr}`);
    assert.match(r.stderr, /--tcp/);
    assert.ok(r.stderr.includes(JSON.stringify(value)), r.stderr);
  }
  const env = await runBeacon(['proxy', '--store', 'etcd://127.0.0.1:1', '--listen', '127.0.0.1:0'], { BEACON_TCP: '127.0.0.1:1=db:nope' });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /BEACON_TCP/);
  const pp = await runBeacon(['proxy', '--store', 'etcd://127.0.0.1:1', '--listen', '127.0.0.1:0', '--tcp-proxy-protocol', 'v3']);
  assert.equal(pp.code, 2);
  assert.match(pp.stderr, /--tcp-proxy-protocol/);
});

const policy = { maxFails: 1, failTimeoutMs: 1000 };
function loaded(id: string, active = 0, weight = 1): LoadedPeer {
  return Object.assign(newPeer(id, weight), { active });
}
const ids = (picks: (Peer | undefined)[]) => picks.map((p) => p?.id ?? '-').join('');

test('first: the first available peer in order; ejected and tried ones skipped; all ejected -> first untried', () => {
  const rows: { name: string; peers: () => LoadedPeer[]; eject?: string[]; tried?: string[]; now?: number; want: string }[] = [
    { name: 'always the first', peers: () => [loaded('a'), loaded('b'), loaded('c')], want: 'aaaa' },
    { name: 'first ejected -> second', peers: () => [loaded('a'), loaded('b'), loaded('c')], eject: ['a'], want: 'bbbb' },
    { name: 'tried skipped (connect retry)', peers: () => [loaded('a'), loaded('b')], tried: ['a'], want: 'bbbb' },
    { name: 'all ejected -> first untried anyway', peers: () => [loaded('a'), loaded('b')], eject: ['a', 'b'], tried: ['a'], want: 'bbbb' },
    { name: 'weight 0 only after weighted ones', peers: () => [loaded('a', 0, 0), loaded('b')], want: 'bbbb' },
    { name: 'weight 0 when nothing else', peers: () => [loaded('a', 0, 0), loaded('b')], tried: ['b'], want: 'aaaa' },
    { name: 'nothing', peers: () => [], want: '----' },
    { name: 'cool-down over: one probe to the first, then the next while it is out', peers: () => [loaded('a'), loaded('b')], eject: ['a'], now: 5000, want: 'abbb' },
  ];
  for (const row of rows) {
    const peers = row.peers();
    for (const id of row.eject ?? []) reportFailure(peers.find((p) => p.id === id)!, 0, policy);
    const tried = peers.filter((p) => row.tried?.includes(p.id));
    const now = row.now ?? 10;
    assert.equal(ids([0, 1, 2, 3].map(() => pickFirst(peers, now, tried))), row.want, row.name);
  }
});

test('least-conn: fewest open connections per weight; ties round robin; ejected skipped', () => {
  const rows: { name: string; peers: () => LoadedPeer[]; eject?: string[]; tried?: string[]; want: string }[] = [
    { name: 'idle peers share (round robin on ties)', peers: () => [loaded('a'), loaded('b'), loaded('c')], want: 'abcabc' },
    { name: 'the one with fewer connections', peers: () => [loaded('a', 3), loaded('b', 1), loaded('c', 2)], want: 'bbbbbb' },
    { name: 'ties among the least loaded only', peers: () => [loaded('a', 5), loaded('b', 1), loaded('c', 1)], want: 'bcbcbc' },
    { name: 'per weight: 4 on weight 4 beats 2 on weight 1', peers: () => [loaded('a', 4, 4), loaded('b', 2, 1)], want: 'aaaaaa' },
    { name: 'ejected skipped', peers: () => [loaded('a', 0), loaded('b', 9)], eject: ['a'], want: 'bbbbbb' },
    { name: 'tried skipped', peers: () => [loaded('a', 0), loaded('b', 9)], tried: ['a'], want: 'bbbbbb' },
    { name: 'all ejected: least loaded anyway', peers: () => [loaded('a', 2), loaded('b', 1)], eject: ['a', 'b'], want: 'bbbbbb' },
  ];
  for (const row of rows) {
    const peers = row.peers();
    for (const id of row.eject ?? []) reportFailure(peers.find((p) => p.id === id)!, 0, policy);
    const tried = peers.filter((p) => row.tried?.includes(p.id));
    assert.equal(ids([0, 1, 2, 3, 4, 5].map(() => pickLeastConn(peers, 10, tried))), row.want, row.name);
  }
  // connections opening as they are picked spread the load
  const peers = [loaded('a', 2), loaded('b'), loaded('c')];
  const picks = Array.from({ length: 10 }, () => {
    const p = pickLeastConn(peers, 0)!;
    p.active++;
    return p;
  });
  assert.deepEqual(peers.map((p) => p.active), [4, 4, 4], ids(picks));
});

test('pickTcp dispatches on the balance', () => {
  const peers = [loaded('a', 1), loaded('b', 0)];
  assert.equal(ids([0, 1, 2, 3].map(() => pickTcp('first', peers, 0))), 'aaaa');
  assert.equal(ids([0, 1, 2, 3].map(() => pickTcp('least-conn', peers, 0))), 'bbbb');
  assert.equal(ids([0, 1, 2, 3].map(() => pickTcp('round-robin', peers, 0))), 'abab');
});

const hex = (b: Buffer) => b.toString('hex');
const SIG = '0d0a0d0a000d0a515549540a';

test('PROXY v1 (proxy-protocol.txt 2.1): TCP4, TCP6, v4-mapped, mixed, unknown', () => {
  const rows: [object, string][] = [
    [{ sourceAddress: '192.168.0.1', sourcePort: 56324, destinationAddress: '192.168.0.11', destinationPort: 443 }, 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'],
    [{ sourceAddress: '::ffff:10.0.0.5', sourcePort: 1, destinationAddress: '::ffff:10.0.0.6', destinationPort: 3306 }, 'PROXY TCP4 10.0.0.5 10.0.0.6 1 3306\r\n'],
    [{ sourceAddress: '2001:db8::1', sourcePort: 40000, destinationAddress: '::1', destinationPort: 3306 }, 'PROXY TCP6 2001:db8::1 ::1 40000 3306\r\n'],
    [{ sourceAddress: '10.0.0.5', sourcePort: 2, destinationAddress: '::1', destinationPort: 3306 }, 'PROXY TCP6 ::ffff:10.0.0.5 ::1 2 3306\r\n'],
    [{ sourceAddress: undefined, sourcePort: undefined, destinationAddress: '10.0.0.6', destinationPort: 3306 }, 'PROXY UNKNOWN\r\n'],
  ];
  for (const [conn, want] of rows) {
    const got = encodeProxyV1(conn as never).toString('latin1');
    assert.equal(got, want);
    assert.ok(got.length <= 107, 'spec: at most 107 bytes');
  }
});

test('PROXY v2 (proxy-protocol.txt 2.2): signature, 0x21, family, length, addresses, ports', () => {
  const rows: [object, string][] = [
    [{ sourceAddress: '127.0.0.7', sourcePort: 0x1234, destinationAddress: '127.0.0.1', destinationPort: 3306 }, `${SIG}2111000c7f0000077f00000112340cea`],
    [
      { sourceAddress: '2001:db8::1', sourcePort: 1, destinationAddress: '::1', destinationPort: 2 },
      `${SIG}21210024` + '20010db8000000000000000000000001' + '00000000000000000000000000000001' + '00010002',
    ],
    [{ sourceAddress: undefined, sourcePort: undefined, destinationAddress: undefined, destinationPort: undefined }, `${SIG}20000000`],
  ];
  for (const [conn, want] of rows) assert.equal(hex(encodeProxyV2(conn as never)), want);
});

test('IPv6 text to bytes: compression, IPv4 tail, zone id', () => {
  const rows: [string, string][] = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['fe80::1%eth0', 'fe800000000000000000000000000001'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['::ffff:10.1.2.3', '00000000000000000000ffff0a010203'],
    ['1::', '00010000000000000000000000000000'],
  ];
  for (const [text, want] of rows) assert.equal(hex(ipv6Bytes(text)), want, text);
});

test('worker statuses merge: counts summed, states per worker', () => {
  const one = (open: number, state: string) => [{ listen: '127.0.0.1:1', service: 'db', balance: 'first' as const, open, total: open * 2, instances: [{ id: 'x:1', instances: ['x'], weight: 1, state: state as 'up', open }] }];
  const merged = mergeTcpStatus([one(1, 'up'), undefined, one(2, 'ejected')]);
  assert.equal(merged.length, 1);
  assert.equal(merged[0]!.open, 3);
  assert.equal(merged[0]!.total, 6);
  assert.deepEqual(merged[0]!.instances[0]!.workerStates, ['up', 'ejected']);
  assert.equal(merged[0]!.instances[0]!.state, 'partly-ejected');
  assert.equal(merged[0]!.instances[0]!.open, 3);
});
