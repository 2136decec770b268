import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { buildIndex, sanHosts, selectFor, validatePair, type ValidCert } from '../../../dist/proxy/tls/certs.js';
import { makeSiteCA } from '../../harness/site-certs.ts';

const ca = makeSiteCA();
after(() => ca.cleanup());
const www = ca.sign('www', ['www.example.com', 'example.com']);
const wild = ca.sign('wild', ['*.example.com']);
const other = ca.sign('other', ['other.test']);
const now = Date.now();
const DAY = 86_400_000;

describe('validatePair', () => {
  const cases: { name: string; cert: string; key: string; at?: number; reason?: RegExp; hosts?: string[] }[] = [
    { name: 'a valid chain and its key', cert: www.chain, key: www.key, hosts: ['example.com', 'www.example.com'] },
    { name: 'the leaf alone', cert: www.chain.slice(0, www.chain.indexOf('-----END CERTIFICATE-----') + 25), key: www.key, hosts: ['example.com', 'www.example.com'] },
    { name: 'a key of another certificate', cert: www.chain, key: other.key, reason: /does not match/ },
    { name: 'expired', cert: www.chain, key: www.key, at: now + 5 * DAY, reason: /expired/ },
    { name: 'not valid yet', cert: www.chain, key: www.key, at: now - DAY, reason: /not valid before/ },
    { name: 'no PEM at all', cert: 'hello', key: www.key, reason: /no PEM certificate/ },
    { name: 'a broken certificate block', cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key: www.key, reason: /does not parse/ },
    { name: 'a key that is no key', cert: www.chain, key: 'nope', reason: /private key does not parse/ },
    // the CA first: the "leaf" is the CA, and it is not issued by the leaf after it
    { name: 'a chain in the wrong order', cert: www.chain.slice(www.chain.indexOf('-----END CERTIFICATE-----') + 26) + www.chain, key: www.key, reason: /not issued by/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = validatePair('www', 'dir', { cert: c.cert, key: c.key }, c.at ?? now);
      if (c.reason) {
        assert.equal(r.ok, false);
        assert.match((r as { reason: string }).reason, c.reason);
      } else {
        assert.equal(r.ok, true, (r as { reason?: string }).reason);
        const cert = (r as { cert: ValidCert }).cert;
        assert.deepEqual(cert.hosts, c.hosts);
        assert.match(cert.issuer, /beacon-tls-test-ca/);
        assert.ok(cert.notAfter.getTime() > now + DAY);
      }
    });
  }
});

describe('sanHosts', () => {
  const cases: [string | undefined, string[]][] = [
    [undefined, []],
    ['DNS:A.Example.com, DNS:*.example.com', ['*.example.com', 'a.example.com']],
    ['IP Address:127.0.0.1, DNS:x.test.', ['x.test']],
    ['email:a@b.c', []],
  ];
  for (const [san, hosts] of cases) it(JSON.stringify(san), () => assert.deepEqual(sanHosts(san), hosts));
});

describe('selectFor: exact, then wildcard, then default, else none', () => {
  const entry = (name: string, hosts: string[], days = 10): { cert: ValidCert } => ({
    cert: { name, source: 'dir', hosts, notAfter: new Date(now + days * DAY), issuer: '', fingerprint: name, pair: { cert: '', key: '' } },
  });
  const exact = entry('www', ['www.example.com']);
  const wildcard = entry('wild', ['*.example.com']);
  const fallback = entry('default', ['default.test']);
  const longer = entry('www-new', ['www.example.com'], 20);
  const index = buildIndex([exact, wildcard, fallback], 'default');
  const none = buildIndex([exact, wildcard], undefined);
  const cases: [string, typeof index, string | undefined, { cert: ValidCert } | undefined][] = [
    ['exact', index, 'www.example.com', exact],
    ['exact, any case, trailing dot', index, 'WWW.Example.COM.', exact],
    ['wildcard for one label', index, 'api.example.com', wildcard],
    ['wildcard is one label only', index, 'a.b.example.com', fallback],
    ['wildcard does not cover the apex', index, 'example.com', fallback],
    ['default for an unknown name', index, 'nothing.test', fallback],
    ['default without SNI', index, undefined, fallback],
    ['none without a default', none, 'nothing.test', undefined],
    ['none without SNI or default', none, '', undefined],
    ['the certificate valid longest wins a name', buildIndex([exact, longer], undefined), 'www.example.com', longer],
    ['the default names a certificate that is not there', buildIndex([exact], 'missing'), 'x.test', undefined],
  ];
  for (const [name, idx, sni, want] of cases) it(name, () => assert.equal(selectFor(idx, sni), want));
});
