import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNameserver, resolveSettings, resolvConfNameservers } from '../../dist/dns/settings.js';
import { Forwarder } from '../../dist/dns/forward.js';
import { createSocket } from 'node:dgram';
import { cacheKey } from '../../dist/dns/responder.js';
import { encodeQuery, TYPE } from '../../dist/dns/wire.js';

const RESOLV = [{ host: '10.255.255.53', port: 53 }];

const CASES: { name: string; explicit: Record<string, unknown>; config: unknown; want: Record<string, unknown>; ignored?: string[] }[] = [
  { name: 'defaults and resolv.conf', explicit: {}, config: undefined, want: { domain: 'skydns.local', ttl: 30, minTtl: 60, noRecursion: false, nameservers: RESOLV, forwardTimeoutMs: 2000, staleTtl: 5, allowRecursion: ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '::1/128', 'fc00::/7'] } },
  {
    name: '/skydns/config applies when no flag is given',
    explicit: {},
    config: { domain: 'Cluster.Local.', ttl: 99, min_ttl: 5, nameservers: ['8.8.8.8:53', '1.1.1.1'], no_rec: true, read_timeout: '500ms' },
    want: { domain: 'cluster.local', ttl: 99, minTtl: 5, noRecursion: true, nameservers: [{ host: '8.8.8.8', port: 53 }, { host: '1.1.1.1', port: 53 }], forwardTimeoutMs: 500 },
  },
  {
    name: 'explicit flags win over /skydns/config',
    explicit: { domain: 'local', ttl: 10, minTtl: 3, noRecursion: false, forward: ['127.0.0.1:5353'], forwardTimeoutMs: 300 },
    config: { domain: 'other.example', ttl: 99, min_ttl: 5, nameservers: ['8.8.8.8:53'], no_rec: true },
    want: { domain: 'local', ttl: 10, minTtl: 3, noRecursion: false, nameservers: [{ host: '127.0.0.1', port: 5353 }], forwardTimeoutMs: 300 },
  },
  {
    name: 'fields of the wrong type are ignored and reported',
    explicit: {},
    config: { domain: 'bad domain!', ttl: 'soon', nameservers: ['not-an-ip'], no_rec: 'yes' },
    want: { domain: 'skydns.local', ttl: 30, noRecursion: false, nameservers: RESOLV },
    ignored: ['domain', 'ttl', 'nameservers "not-an-ip"', 'no_rec'],
  },
  {
    // SkyDNS's config struct: ReadTimeout time.Duration `json:"read_timeout"`, so JSON numbers are nanoseconds
    name: 'read_timeout as a number is nanoseconds (SkyDNS time.Duration)',
    explicit: {},
    config: { read_timeout: 2000000000 },
    want: { forwardTimeoutMs: 2000 },
  },
  { name: 'read_timeout of 250 ms in nanoseconds', explicit: {}, config: { read_timeout: 250_000_000 }, want: { forwardTimeoutMs: 250 } },
  { name: 'read_timeout as a duration string', explicit: {}, config: { read_timeout: '2s' }, want: { forwardTimeoutMs: 2000 } },
  { name: 'read_timeout 0 is unset', explicit: {}, config: { read_timeout: 0 }, want: { forwardTimeoutMs: 2000 } },
  { name: 'read_timeout is clamped to 60 s', explicit: {}, config: { read_timeout: 3_600_000_000_000 }, want: { forwardTimeoutMs: 60_000 } },
  { name: 'read_timeout is clamped to 50 ms', explicit: {}, config: { read_timeout: 1000 }, want: { forwardTimeoutMs: 50 } },
  { name: 'read_timeout of the wrong type is ignored and reported', explicit: {}, config: { read_timeout: 'soon' }, want: { forwardTimeoutMs: 2000 }, ignored: ['read_timeout'] },
  {
    name: 'ttl 0 and min_ttl 0 are unset, as in SkyDNS: the defaults apply',
    explicit: {},
    config: { ttl: 0, min_ttl: 0 },
    want: { ttl: 30, minTtl: 60 },
  },
  { name: 'ttl 0 in /skydns/config does not hide an explicit --ttl', explicit: { ttl: 12 }, config: { ttl: 0, min_ttl: 0 }, want: { ttl: 12, minTtl: 60 } },
];

for (const c of CASES) {
  test(`resolveSettings: ${c.name}`, () => {
    const { settings, ignored } = resolveSettings(c.explicit, c.config, RESOLV);
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual((settings as unknown as Record<string, unknown>)[k], v, k);
    assert.deepEqual(ignored, c.ignored ?? []);
  });
}

test('parseNameserver and resolv.conf', () => {
  assert.deepEqual(parseNameserver('10.0.0.1'), { host: '10.0.0.1', port: 53 });
  assert.deepEqual(parseNameserver('10.0.0.1:5353'), { host: '10.0.0.1', port: 5353 });
  assert.deepEqual(parseNameserver('[2001:db8::1]:53'), { host: '2001:db8::1', port: 53 });
  assert.deepEqual(parseNameserver('2001:db8::1'), { host: '2001:db8::1', port: 53 });
  assert.equal(parseNameserver('dns.google:53'), undefined);
  assert.equal(parseNameserver('10.0.0.1:99999'), undefined);
  const dir = mkdtempSync(join(tmpdir(), 'beacon-resolv-'));
  writeFileSync(join(dir, 'resolv.conf'), '# comment\nsearch example\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\noptions ndots:2\n');
  assert.deepEqual(resolvConfNameservers(join(dir, 'resolv.conf')), [{ host: '10.0.0.2', port: 53 }, { host: 'fe80::1', port: 53 }]);
  assert.deepEqual(resolvConfNameservers(join(dir, 'missing')), []);
});

test('cacheKey: question bytes (case included), budget and flags; odd messages are not cached', () => {
  const k = (q: Buffer, tcp = false) => cacheKey(q, tcp);
  const a = encodeQuery(1, 'app.skydns.local.', TYPE.A, { ednsSize: 1232 });
  const b = encodeQuery(2, 'app.skydns.local.', TYPE.A, { ednsSize: 1232 });
  assert.ok(k(a));
  assert.equal(k(a), k(b), 'the id is not part of the key');
  assert.notEqual(k(a), k(encodeQuery(1, 'App.skydns.local.', TYPE.A, { ednsSize: 1232 })), 'case is');
  assert.notEqual(k(a), k(encodeQuery(1, 'app.skydns.local.', TYPE.AAAA, { ednsSize: 1232 })));
  assert.notEqual(k(a), k(encodeQuery(1, 'app.skydns.local.', TYPE.A)), 'EDNS is');
  assert.notEqual(k(a), k(encodeQuery(1, 'app.skydns.local.', TYPE.A, { ednsSize: 4096 })), 'the budget is');
  assert.notEqual(k(a), k(a, true), 'the transport is');
  assert.notEqual(k(a), k(encodeQuery(1, 'app.skydns.local.', TYPE.A, { ednsSize: 1232, rd: false })), 'RD is');
  assert.equal(k(encodeQuery(1, 'app.skydns.local.', TYPE.A, { ednsSize: 100 })), k(encodeQuery(1, 'app.skydns.local.', TYPE.A, { ednsSize: 512 })), 'sizes below 512 are 512');
  const response = Buffer.from(a);
  response[2]! |= 0x80;
  assert.equal(k(response), undefined);
  const badVersion = Buffer.from(a);
  badVersion[badVersion.length - 5] = 1; // OPT version
  assert.equal(k(badVersion), undefined);
  assert.equal(k(Buffer.concat([a, Buffer.from([0])])), undefined, 'trailing bytes');
  assert.equal(k(a.subarray(0, 20)), undefined, 'truncated');
});

test('Forwarder: a timeout too large for a Node timer is clamped, not turned into 1 ms', async () => {
  // a nameserver that answers after 100 ms
  const server = createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    const reply = Buffer.from(msg);
    reply[2]! |= 0x80;
    setTimeout(() => server.send(reply, rinfo.port, rinfo.address), 100);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', () => resolve()));
  const port = server.address().port;
  const outcomes: string[] = [];
  const forwarder = new Forwarder({ nameservers: () => [{ host: '127.0.0.1', port }], timeoutMs: () => 2e12, onAttempt: (_ns, o) => outcomes.push(o) });
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  try {
    const reply = await forwarder.relay(encodeQuery(7, 'www.example.test.', TYPE.A), 'udp');
    assert.ok(reply, `answered (${outcomes})`);
    assert.deepEqual(outcomes, ['ok']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings.map((w) => w.name).filter((n) => n === 'TimeoutOverflowWarning'), []);
  } finally {
    process.off('warning', onWarning);
    server.close();
  }
});

test('resolveSettings: /skydns/config local (a DNS name; anything else ignored and reported)', () => {
  assert.equal(resolveSettings({}, { local: 'E2016.dns.skydns.local' }, []).settings.local, 'e2016.dns.skydns.local.');
  assert.equal(resolveSettings({}, {}, []).settings.local, undefined);
  const bad = resolveSettings({}, { local: 42 }, []);
  assert.equal(bad.settings.local, undefined);
  assert.deepEqual(bad.ignored, ['local']);
  assert.deepEqual(resolveSettings({}, { local: 'not a name' }, []).ignored, ['local']);
});
