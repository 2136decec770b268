// The pure ACME decisions: which hosts routes want certificates for, which need an order now,
// the retry schedule after failures, and when to look again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acmeHosts, afterOrder, backoffMs, coveredUntil, hostsToOrder, nextCheck, type Coverage, type HostRecord } from '../../../dist/proxy/acme/plan.js';
import { parseRouteValue, plainRoute, type Route } from '../../../dist/routes/route.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 0, 1);
const RENEW = 30 * DAY;

function route(name: string, value: Record<string, unknown>): Route {
  const r = parseRouteValue(name, JSON.stringify(value));
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}

describe('acmeHosts', () => {
  const table: [string, Route[], string[], string[]][] = [
    ['none ask', [route('a', { host: 'a.test', service: 'web' }), plainRoute('f', 'flag', 'b.test', '/', 'web')], [], []],
    ['exact hosts, deduplicated and sorted', [route('b', { host: 'B.test', service: 'web', tls: 'acme' }), route('a', { host: 'a.test', service: 'web', tls: 'acme' }), route('a2', { host: 'a.test', path: '/api', service: 'api', tls: 'acme' })], ['a.test', 'b.test'], []],
    ['a wildcard cannot be issued by HTTP-01', [route('w', { host: '*.example.test', service: 'web', tls: 'acme' })], [], ['w']],
    ['a route without host names nothing', [route('any', { path: '/x', service: 'web', tls: 'acme' })], [], ['any']],
  ];
  for (const [name, routes, hosts, skipped] of table) {
    it(name, () => {
      const got = acmeHosts(routes);
      assert.deepEqual(got.hosts, hosts);
      assert.deepEqual(got.skipped.map((s) => s.route), skipped);
    });
  }
});

describe('coveredUntil', () => {
  const certs: Coverage[] = [
    { hosts: ['www.example.test'], notAfter: NOW + 10 * DAY },
    { hosts: ['*.example.test'], notAfter: NOW + 50 * DAY },
    { hosts: ['other.test', 'www.example.test'], notAfter: NOW + 20 * DAY },
  ];
  const table: [string, number | undefined][] = [
    ['www.example.test', NOW + 50 * DAY], // the wildcard lasts longest
    ['shop.example.test', NOW + 50 * DAY],
    ['a.b.example.test', undefined], // one label only
    ['example.test', undefined],
    ['other.test', NOW + 20 * DAY],
    ['nothing.test', undefined],
  ];
  for (const [host, until] of table) it(host, () => assert.equal(coveredUntil(host, certs), until));
});

describe('hostsToOrder', () => {
  const hosts = ['fresh.test', 'due.test', 'none.test', 'backing-off.test', 'retry-now.test', 'just-issued.test'];
  const certs: Coverage[] = [
    { hosts: ['fresh.test'], notAfter: NOW + 60 * DAY },
    { hosts: ['due.test'], notAfter: NOW + 29 * DAY },
    { hosts: ['backing-off.test'], notAfter: NOW + DAY },
  ];
  const records = new Map<string, HostRecord>([
    ['backing-off.test', { failures: 2, nextTry: NOW + MIN, lastError: 'refused' }],
    ['retry-now.test', { failures: 1, nextTry: NOW, lastError: 'refused' }],
    // stored by this issuer, not yet back through the watch
    ['just-issued.test', { failures: 0, nextTry: 0, issuedNotAfter: NOW + 90 * DAY }],
  ]);
  it('orders what has no certificate or expires within renew-before, unless waiting out a failure', () => {
    assert.deepEqual(hostsToOrder(hosts, certs, records, NOW, RENEW), ['due.test', 'none.test', 'retry-now.test']);
  });
  it('exactly at the renewal point the host is due', () => {
    assert.deepEqual(hostsToOrder(['fresh.test'], certs, new Map(), NOW + 30 * DAY, RENEW), ['fresh.test']);
    assert.deepEqual(hostsToOrder(['fresh.test'], certs, new Map(), NOW + 30 * DAY - 1, RENEW), []);
  });
});

describe('nextCheck', () => {
  it('the earliest renewal or retry ahead, capped by the regular look', () => {
    const certs: Coverage[] = [{ hosts: ['a.test'], notAfter: NOW + RENEW + 10_000 }];
    const records = new Map<string, HostRecord>([['b.test', { failures: 1, nextTry: NOW + 20_000 }]]);
    assert.equal(nextCheck(['a.test', 'b.test'], certs, records, NOW, RENEW, MIN), NOW + 10_000);
    assert.equal(nextCheck(['b.test'], certs, records, NOW, RENEW, MIN), NOW + 20_000);
    assert.equal(nextCheck(['b.test'], certs, records, NOW, RENEW, 5000), NOW + 5000);
    // due now (no certificate): nothing ahead but the regular look
    assert.equal(nextCheck(['c.test'], certs, new Map(), NOW, RENEW, MIN), NOW + MIN);
  });
});

describe('backoff', () => {
  const table: [number, number][] = [
    [0, 0],
    [1, MIN],
    [2, 2 * MIN],
    [3, 4 * MIN],
    [6, 32 * MIN],
    [7, HOUR],
    [50, HOUR],
    [10_000, HOUR],
  ];
  for (const [failures, ms] of table) it(`${failures} failures -> ${ms} ms`, () => assert.equal(backoffMs(failures), ms));

  it('afterOrder: failures count up and schedule the next try; success clears them', () => {
    const one = afterOrder(undefined, NOW, { ok: false, error: 'CA said no' });
    assert.deepEqual(one, { failures: 1, nextTry: NOW + MIN, lastError: 'CA said no' });
    const two = afterOrder(one, NOW + MIN, { ok: false, error: 'again' });
    assert.deepEqual(two, { failures: 2, nextTry: NOW + 3 * MIN, lastError: 'again' });
    assert.deepEqual(afterOrder(two, NOW + 3 * MIN, { ok: true, notAfter: NOW + 90 * DAY }), { failures: 0, nextTry: 0, issuedNotAfter: NOW + 90 * DAY });
  });
});
