// Bad TLS flags and `beacon tls put` arguments exit 2 naming what is wrong, before any store I/O.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { runBeacon } from '../../harness/beacon.ts';
import { makeSiteCA } from '../../harness/site-certs.ts';

const ca = makeSiteCA();
after(() => ca.cleanup());
const a = ca.sign('a', ['a.test']);
const b = ca.sign('b', ['b.test']);
// nothing listens here: a usage error must come before any attempt to reach it
const store = ['--store', 'etcd://127.0.0.1:1'];

const cases: [string, string[], RegExp][] = [
  ['--https-redirect without --tls-listen', ['proxy', '--https-redirect', ...store], /--https-redirect: needs --tls-listen/],
  ['--hsts without --tls-listen', ['proxy', '--hsts', '60', ...store], /--hsts: needs --tls-listen/],
  ['--tls-cert-dir without --tls-listen', ['proxy', '--tls-cert-dir', '/tmp', ...store], /--tls-cert-dir: needs --tls-listen/],
  ['an unreadable --tls-seal-key', ['proxy', '--tls-listen', '127.0.0.1:0', '--tls-seal-key', '/nonexistent/seal', ...store], /--tls-seal-key: cannot read/],
  ['--acme-email without --tls-listen', ['proxy', '--acme-email', 'ops@a.test', ...store], /--acme-email: needs --tls-listen/],
  ['--acme-ca without --tls-listen', ['proxy', '--acme-ca', a.chainFile, ...store], /--acme-ca: needs --tls-listen/],
  ['an --acme-email that is no address', ['proxy', '--tls-listen', '127.0.0.1:0', '--acme-email', 'ops', ...store], /--acme-email: expected an address/],
  ['an --acme-directory that is no URL', ['proxy', '--tls-listen', '127.0.0.1:0', '--acme-directory', 'ftp://ca.test/dir', ...store], /--acme-directory: expected an http\(s\) URL/],
  ['an unreadable --acme-ca', ['proxy', '--tls-listen', '127.0.0.1:0', '--acme-ca', '/nonexistent/ca.pem', ...store], /--acme-ca: cannot read/],
  ['an --acme-ca without a certificate', ['proxy', '--tls-listen', '127.0.0.1:0', '--acme-ca', a.keyFile, ...store], /--acme-ca: .* holds no PEM certificate/],
  ['a bad --acme-renew-before', ['proxy', '--tls-listen', '127.0.0.1:0', '--acme-renew-before', 'soon', ...store], /--acme-renew-before: expected a duration/],
  ['an --acme-renew-before below a second', ['proxy', '--tls-listen', '127.0.0.1:0', '--acme-renew-before', '10ms', ...store], /--acme-renew-before: expected a duration .*at least 1s/],
  ['tls without put', ['tls', 'get', 'x', ...store], /expected "put NAME"/],
  ['tls put without a name', ['tls', 'put', '--cert', a.chainFile, '--key', a.keyFile, ...store], /NAME: expected a certificate name/],
  ['tls put with a name that is a path', ['tls', 'put', 'a/b', '--cert', a.chainFile, '--key', a.keyFile, ...store], /NAME: expected a certificate name/],
  ['tls put without --key', ['tls', 'put', 'a', '--cert', a.chainFile, ...store], /--key: required/],
  ['tls put with a key of another certificate', ['tls', 'put', 'a', '--cert', a.chainFile, '--key', b.keyFile, ...store], /--key: private key does not match/],
  ['tls put with a certificate file that is no certificate', ['tls', 'put', 'a', '--cert', a.keyFile, '--key', a.keyFile, ...store], /--cert: no PEM certificate/],
  ['tls put with a missing seal key file', ['tls', 'put', 'a', '--cert', a.chainFile, '--key', a.keyFile, '--seal-key', '/nonexistent/seal', ...store], /--seal-key: cannot read/],
];

for (const [name, args, message] of cases) {
  test(name, { timeout: 30_000 }, async () => {
    const r = await runBeacon(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  });
}
