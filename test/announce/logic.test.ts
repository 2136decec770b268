import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INITIAL_HEALTH, nextHealth, type Health } from '../../dist/announce/health.js';
import { parseCheckSpec } from '../../dist/announce/checks.js';
import { registrationPairs } from '../../dist/announce/records.js';
import { defaultHostAddress } from '../../dist/announce/host.js';
import { UsageError } from '../../dist/errors.js';

function replay(results: string, rise: number, fall: number): string {
  let h: Health = INITIAL_HEALTH;
  let out = '';
  for (const r of results) {
    h = nextHealth(h, r === '+', rise, fall);
    out += h.healthy ? 'U' : 'd';
  }
  return out;
}

test('rise/fall: starts unhealthy, needs rise passes up and fall failures down', () => {
  const cases: [string, number, number, string][] = [
    ['++++', 2, 3, 'dUUU'],
    ['+-+-+', 2, 3, 'ddddd'],
    ['++---', 2, 3, 'dUUUd'],
    ['++--+---', 2, 3, 'dUUUUUUd'],
    ['+', 1, 1, 'U'],
    ['+-', 1, 1, 'Ud'],
    ['---++', 2, 3, 'ddddU'],
  ];
  for (const [results, rise, fall, expected] of cases) assert.equal(replay(results, rise, fall), expected, `${results} rise=${rise} fall=${fall}`);
});

test('check specs', () => {
  assert.deepEqual(parseCheckSpec(undefined, '10.0.0.5', 8080), { kind: 'tcp', host: '10.0.0.5', port: 8080 });
  assert.deepEqual(parseCheckSpec('http://127.0.0.1:8080/health', 'h', 1), { kind: 'http', url: 'http://127.0.0.1:8080/health' });
  assert.deepEqual(parseCheckSpec('tcp://db:5432', 'h', 1), { kind: 'tcp', host: 'db', port: 5432 });
  assert.deepEqual(parseCheckSpec('tcp://[::1]:5432', 'h', 1), { kind: 'tcp', host: '::1', port: 5432 });
  assert.deepEqual(parseCheckSpec('cmd: pg_isready -q', 'h', 1), { kind: 'cmd', command: 'pg_isready -q' });
  for (const bad of ['ftp://x', 'tcp://x', 'tcp://x:0', 'cmd:', 'http://']) {
    assert.throws(() => parseCheckSpec(bad, 'h', 1), (e: unknown) => e instanceof UsageError && e.field === '--check', bad);
  }
});

test('registration writes the sidekick value and the SkyDNS record', () => {
  const pairs = registrationPairs({
    service: 'app', id: 'web1-8080', host: '10.0.0.5', port: 8080, domain: 'skydns.local', priority: 10, weight: 100,
    ttlMs: 15_000, servicesPrefix: '/services', skydnsPrefix: '/skydns',
  });
  assert.deepEqual(pairs, [
    ['/services/app/web1-8080', '10.0.0.5:8080'],
    ['/skydns/local/skydns/app/web1-8080', '{"host":"10.0.0.5","port":8080,"priority":10,"weight":100,"ttl":15}'],
  ]);
  const v6 = registrationPairs({
    service: 'db', id: 'x', host: 'fd00::5', port: 5432, domain: 'example.com.', priority: 0, weight: 5,
    ttlMs: 1500, servicesPrefix: '/svc/', skydnsPrefix: '/dns',
  });
  assert.deepEqual(v6[0], ['/svc/db/x', '[fd00::5]:5432']);
  assert.equal(v6[1]![0], '/dns/com/example/db/x');
  assert.equal(JSON.parse(v6[1]![1]).ttl, 2);
});

test('default host is the first non-internal IPv4', () => {
  const ifaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: 'fe80::1', family: 'IPv6', internal: false }, { address: '10.1.2.3', family: 'IPv4', internal: false }],
    eth1: [{ address: '192.168.0.9', family: 'IPv4', internal: false }],
  } as unknown as Parameters<typeof defaultHostAddress>[0];
  assert.equal(defaultHostAddress(ifaces), '10.1.2.3');
  assert.equal(defaultHostAddress({ lo: [{ address: "127.0.0.1", family: "IPv4", internal: true }] } as unknown as Parameters<typeof defaultHostAddress>[0]), "127.0.0.1");
});
