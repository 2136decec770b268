// Where the ACME lock and account key live (beside --acme-prefix, outside the token prefix), and
// reading a stored account value: plain, sealed, or an error - never a silent new account.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountKeyName, accountValue, parseAccountValue } from '../../../dist/proxy/acme/account.js';
import { lockKeyName } from '../../../dist/proxy/acme/lock.js';
import { sealKeyFrom } from '../../../dist/proxy/tls/seal.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';
const seal = sealKeyFrom(Buffer.from('one secret'));
const other = sealKeyFrom(Buffer.from('another secret'));

describe('key names', () => {
  it('the lock and the account beside the token prefix, not under it', () => {
    assert.equal(lockKeyName('/beacon/acme'), '/beacon/acme-lock');
    assert.equal(lockKeyName('/beacon/acme/'), '/beacon/acme-lock');
    const name = accountKeyName('/beacon/acme', 'https://acme-v02.api.letsencrypt.org/directory');
    assert.match(name, /^\/beacon\/acme-account\/[0-9a-f]{16}$/);
    assert.equal(accountKeyName('/beacon/acme/', 'https://acme-v02.api.letsencrypt.org/directory'), name);
    assert.notEqual(accountKeyName('/beacon/acme', 'https://acme-staging-v02.api.letsencrypt.org/directory'), name, 'one account per directory');
  });
});

describe('parseAccountValue', () => {
  const table: [string, string, Buffer | undefined, string | RegExp][] = [
    ['plain', accountValue('https://ca/dir', KEY, undefined), undefined, KEY],
    ['plain, a seal key set', accountValue('https://ca/dir', KEY, undefined), seal, KEY],
    ['sealed', accountValue('https://ca/dir', KEY, seal), seal, KEY],
    ['sealed, no seal key', accountValue('https://ca/dir', KEY, seal), undefined, /sealed and no --tls-seal-key/],
    ['sealed, another seal key', accountValue('https://ca/dir', KEY, seal), other, /does not open/],
    ['not JSON', 'key', undefined, /not JSON/],
    ['no key', '{"directory":"x"}', undefined, /neither "key" nor "sealedKey"/],
  ];
  for (const [name, value, key, expected] of table) {
    it(name, () => {
      if (typeof expected === 'string') assert.equal(parseAccountValue(value, key), expected);
      else assert.throws(() => parseAccountValue(value, key), expected);
    });
  }
  it('a sealed value holds no key in the clear', () => {
    assert.ok(!accountValue('https://ca/dir', KEY, seal).includes('PRIVATE KEY'));
  });
});
