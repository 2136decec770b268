import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { CertificateStore } from '../../../dist/proxy/tls/cert-store.js';
import { makeSiteCA } from '../../harness/site-certs.ts';

const ca = makeSiteCA();
after(() => ca.cleanup());
const log = pino({ level: 'silent' });
const DAY = 86_400_000;
const www = ca.sign('www', ['www.example.test']);
const www2 = ca.sign('www2', ['www.example.test']);
const wild = ca.sign('wild', ['*.example.test']);
const pair = (c: { chain: string; key: string }) => ({ cert: c.chain, key: c.key });

describe('CertificateStore', () => {
  it('an invalid pair for a name leaves the valid one it had', () => {
    const store = new CertificateStore(undefined, log, undefined);
    assert.equal(store.offer('etcd', 'www', pair(www)), true);
    assert.equal(store.offer('etcd', 'www', { cert: www2.chain, key: www.key }), false);
    assert.equal(store.select('www.example.test')?.cert.fingerprint, store.certificates()[0]!.fingerprint);
    assert.equal(store.offer('etcd', 'www', undefined, 'unreadable'), false);
    assert.equal(store.size, 1, 'a problem is no removal');
    assert.equal(store.offer('etcd', 'www', undefined), false);
    assert.equal(store.size, 0, 'no pair and no problem: removed');
    assert.equal(store.select('www.example.test'), undefined);
  });

  it('the same name from two sources: both kept, removing one leaves the other', () => {
    const store = new CertificateStore(undefined, log, undefined);
    store.offer('dir', 'www', pair(www));
    store.offer('etcd', 'www', pair(www2));
    assert.equal(store.size, 2);
    store.offer('etcd', 'www', undefined);
    assert.ok(store.select('www.example.test'));
  });

  it('the default serves unknown names; status says which are in use', () => {
    const store = new CertificateStore('wild', log, undefined);
    store.offer('dir', 'www', pair(www));
    assert.equal(store.select('nothing.test'), undefined);
    store.offer('etcd', 'wild', pair(wild));
    assert.equal(store.select('nothing.test')?.cert.name, 'wild');
    assert.deepEqual(
      store.status().map((s) => [s.name, s.source, s.hosts, s.inUse]),
      [
        ['wild', 'etcd', ['*.example.test'], true],
        ['www', 'dir', ['www.example.test'], true],
      ],
    );
  });

  it('certificates that expire while served are dropped at the next check', () => {
    let now = Date.now();
    const store = new CertificateStore(undefined, log, undefined, () => now);
    store.offer('dir', 'www', pair(www));
    assert.equal(store.dropExpired(), 0);
    now += 5 * DAY;
    assert.equal(store.dropExpired(), 1);
    assert.equal(store.select('www.example.test'), undefined);
  });
});
