// The one host:port parser: listen/admin addresses (host optional) and etcd endpoints (host required).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint, parseHostPort } from '../../dist/config/address.js';
import { parseStoreUrl } from '../../dist/store/open.js';

test('parseHostPort: host:port, :port, [v6]:port', () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    ['127.0.0.1:53', { host: '127.0.0.1', port: 53 }],
    [':80', { host: '0.0.0.0', port: 80 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    [' 127.0.0.1:0 ', { host: '127.0.0.1', port: 0 }],
    ['localhost', undefined],
    ['a:99999', undefined],
    ['a:123456', undefined],
    ['::1:80', undefined],
    ['[::1]', undefined],
    ['host:', undefined],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseHostPort(text), expected, text);
  assert.deepEqual(parseHostPort(':9100', '127.0.0.1'), { host: '127.0.0.1', port: 9100 });
});

test('parseEndpoint: a server to dial needs a host of name or IP characters', () => {
  const cases: [string, { host: string; port: number } | undefined][] = [
    ['127.0.0.1:2379', { host: '127.0.0.1', port: 2379 }],
    ['etcd-1.example.com:2379', { host: 'etcd-1.example.com', port: 2379 }],
    ['[::1]:2379', { host: '::1', port: 2379 }],
    [':2379', undefined],
    ['a b:2379', undefined],
    ['host_name:2379', undefined],
    ['[fe80::1%eth0]:2379', undefined],
    ['h:65536', undefined],
    ['h', undefined],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseEndpoint(text), expected, text);
});

test('the store URL takes its etcd endpoints through parseEndpoint', () => {
  assert.deepEqual(parseStoreUrl('etcd://127.0.0.1:2379,[::1]:2379/'), { kind: 'etcd', endpoints: ['127.0.0.1:2379', '[::1]:2379'] });
  for (const bad of ['etcd://:2379', 'etcd://h:65536', 'etcd://h', 'etcd://a b:1']) {
    assert.throws(() => parseStoreUrl(bad), { name: 'UsageError', field: '--store' }, bad);
  }
});
