import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTlsValue, seal, sealKeyFrom, tlsValue, unseal } from '../../../dist/proxy/tls/seal.js';

const key = sealKeyFrom(Buffer.from('the secret file\n'));
const otherKey = sealKeyFrom(Buffer.from('another secret\n'));
const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('seal', () => {
  it('round-trips with the same secret and hides the key', () => {
    const sealed = seal(PEM, key);
    assert.equal(unseal(sealed, key), PEM);
    assert.ok(!Buffer.from(sealed, 'base64').toString('latin1').includes('PRIVATE KEY'));
    assert.notEqual(seal(PEM, key), sealed, 'a fresh IV every time');
  });
  it('is useless with another secret or altered data', () => {
    const sealed = seal(PEM, key);
    assert.throws(() => unseal(sealed, otherKey), /does not open/);
    const raw = Buffer.from(sealed, 'base64');
    raw[20]! ^= 1;
    assert.throws(() => unseal(raw.toString('base64'), key), /does not open/);
    assert.throws(() => unseal('AAAA', key), /too short/);
  });
  it('the key is SHA-256 of the file bytes', () => {
    assert.equal(key.length, 32);
    assert.equal(key.toString('hex'), sealKeyFrom(Buffer.from('the secret file\n')).toString('hex'));
    assert.throws(() => sealKeyFrom(Buffer.alloc(0)), /empty/);
  });
});

describe('parseTlsValue', () => {
  const pair = { cert: 'CERT', key: PEM };
  const cases: [string, string, Buffer | undefined, object][] = [
    ['plain key', tlsValue(pair, undefined), undefined, pair],
    ['sealed key with the secret', tlsValue(pair, key), key, pair],
    ['sealed key without a secret', tlsValue(pair, key), undefined, { error: 'the key is sealed and no --tls-seal-key is set' }],
    ['sealed key with another secret', tlsValue(pair, key), otherKey, { error: 'sealedKey does not open with this --tls-seal-key (another secret, or altered data)' }],
    ['not JSON', '{', undefined, { error: 'not JSON' }],
    ['an array', '[]', undefined, { error: 'not a JSON object' }],
    ['no cert', '{"key":"k"}', undefined, { error: '"cert" (PEM chain) missing' }],
    ['no key', '{"cert":"c"}', undefined, { error: 'neither "key" nor "sealedKey" given' }],
  ];
  for (const [name, text, k, want] of cases) it(name, () => assert.deepEqual(parseTlsValue(text, k), want));
  it('a sealed value holds no private key', () => {
    const v = JSON.parse(tlsValue(pair, key)) as Record<string, unknown>;
    assert.equal(v.key, undefined);
    assert.equal(typeof v.sealedKey, 'string');
  });
});
