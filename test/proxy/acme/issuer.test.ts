// The ACME issuer in process, over a real file store, with the CA stubbed (the end-to-end test
// against pebble is acme-pebble.test.ts): one of two issuers orders; the token is published on a
// lease and withdrawn; the certificate and the account key are stored (sealed with a seal key); a
// stored certificate is not ordered again before the watch brings it; a failure backs off and shows
// in /status and the metrics; the lock passes to the other issuer when the holder stops, and the
// new holder keeps the backoff of the one before (stored under <acme-prefix>-backoff/).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AcmeIssuer, type AcmeIssuerDeps } from '../../../dist/proxy/acme/issuer.js';
import type { Issued, OrderInput } from '../../../dist/proxy/acme/order.js';
import type { Coverage } from '../../../dist/proxy/acme/plan.js';
import { parseTlsValue, sealKeyFrom } from '../../../dist/proxy/tls/seal.js';
import { parseRouteValue, type Route } from '../../../dist/routes/route.js';
import { FileStore } from '../../../dist/store/file.js';
import { makeSiteCA } from '../../harness/site-certs.ts';
import { waitFor } from '../../harness/wait.ts';

const ca = makeSiteCA();
const dirs: string[] = [];
after(() => {
  ca.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const route = (host: string): Route => {
  const r = parseRouteValue(host, JSON.stringify({ host, service: 'web', tls: 'acme' }));
  assert.ok(r.ok);
  return r.value;
};

interface Harness {
  issuer: AcmeIssuer;
  registry: Registry;
  orders: OrderInput[];
  certs: Coverage[];
  fail: string | undefined;
}

function issuerOn(store: FileStore, routes: Route[], sealKey?: Buffer, now?: () => number): Harness {
  const h: Harness = { issuer: undefined as unknown as AcmeIssuer, registry: new Registry(), orders: [], certs: [], fail: undefined };
  const deps: AcmeIssuerDeps = {
    config: { acmeDirectory: 'https://ca.test/dir', acmeRenewBefore: 30 * 86_400_000, acmePrefix: '/beacon/acme', tlsPrefix: '/beacon/tls', acmeEmail: undefined, acmeCa: undefined },
    sealKey,
    store,
    log: pino({ level: 'silent' }),
    registry: h.registry,
    routes: () => routes,
    certificates: () => h.certs,
    answers: () => true,
    ...(now === undefined ? {} : { now }),
    order: async (input): Promise<Issued> => {
      h.orders.push(input);
      if (h.fail !== undefined) throw new Error(h.fail);
      // the challenge as the real order publishes it: under a lease, gone afterwards
      const withdraw = await input.publish('tok-en_1', 'tok-en_1.thumbprint');
      const published = await store.read(['/beacon/acme/']);
      assert.deepEqual(published.kvs.map((kv) => [kv.key, kv.value, kv.lease !== undefined]), [['/beacon/acme/tok-en_1', 'tok-en_1.thumbprint', true]]);
      await withdraw();
      assert.equal((await store.read(['/beacon/acme/'])).kvs.length, 0);
      const c = ca.sign(input.host, [input.host], 60);
      return { cert: c.chain, key: c.key };
    },
  };
  h.issuer = new AcmeIssuer(deps);
  return h;
}

function freshStore(): FileStore {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-acme-issuer-'));
  dirs.push(dir);
  return new FileStore(dir);
}

const metric = async (h: Harness, result: string): Promise<number> => Number(new RegExp(`beacon_proxy_acme_orders_total\\{result="${result}"\\} (\\d+)`).exec(await h.registry.metrics())?.[1]);

test('one of two issuers orders; stored sealed; not ordered again; the lock passes on stop', { timeout: 30_000 }, async () => {
  const store = freshStore();
  const seal = sealKeyFrom(Buffer.from('secret'));
  const a = issuerOn(store, [route('a.test')], seal);
  const b = issuerOn(store, [route('a.test')], seal);
  try {
    a.issuer.start();
    b.issuer.start();
    await waitFor('an order', () => (a.orders.length + b.orders.length > 0 ? true : undefined), 10_000);
    await waitFor('the certificate stored', async () => (await store.read(['/beacon/tls/'])).kvs.length > 0 || undefined, 10_000);
    const [holder, other] = a.orders.length > 0 ? [a, b] : [b, a];
    assert.equal(other.orders.length, 0);
    assert.equal(holder.orders[0]!.host, 'a.test');
    const stored = (await store.read(['/beacon/tls/'])).kvs;
    assert.deepEqual(stored.map((kv) => kv.key), ['/beacon/tls/acme-a.test']);
    const value = JSON.parse(stored[0]!.value) as Record<string, unknown>;
    assert.equal(value.key, undefined, 'the key is sealed');
    assert.ok(!('error' in parseTlsValue(stored[0]!.value, seal)));
    const account = (await store.read(['/beacon/acme-account/'])).kvs;
    assert.equal(account.length, 1);
    assert.ok(JSON.parse(account[0]!.value).sealedKey);
    assert.equal(holder.orders[0]!.accountKey.includes('PRIVATE KEY'), true);
    assert.equal(holder.issuer.status().issuer, true);
    assert.equal(other.issuer.status().issuer, false);
    // the watch has not brought the certificate (certificates() is empty): no second order
    holder.issuer.changed();
    other.issuer.changed();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(holder.orders.length + other.orders.length, 1);
    assert.equal(await metric(holder, 'ok'), 1);
    assert.equal(holder.issuer.status().hosts[0]!.state, 'valid');
    // the holder stops: the other takes the lock at its next look; it sees the certificate, orders nothing
    await holder.issuer.stop();
    other.certs.push({ hosts: ['a.test'], notAfter: Date.now() + 60 * 86_400_000 });
    other.issuer.changed();
    await waitFor('the other issuer to take the lock', () => other.issuer.status().issuer || undefined, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(other.orders.length, 0);
  } finally {
    await a.issuer.stop();
    await b.issuer.stop();
    await store.close();
  }
});

test('a failed order backs off: status failed with the error and the next try, counted', { timeout: 30_000 }, async () => {
  const store = freshStore();
  const h = issuerOn(store, [route('b.test')]);
  h.fail = 'new order: the CA refuses b.test (rejectedIdentifier)';
  try {
    const before = Date.now();
    h.issuer.start();
    await waitFor('the failure', () => (h.issuer.status().hosts[0]?.state === 'failed' ? true : undefined), 10_000);
    const s = h.issuer.status().hosts[0]!;
    assert.equal(s.lastError, h.fail);
    assert.equal(s.failures, 1);
    const wait = Date.parse(s.nextTry!) - before;
    assert.ok(wait >= 60_000 && wait < 62_000, String(wait));
    assert.equal(await metric(h, 'error'), 1);
    // a change does not bring the retry forward
    h.issuer.changed();
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(h.orders.length, 1);
    assert.equal((await store.read(['/beacon/tls/'])).kvs.length, 0);
  } finally {
    await h.issuer.stop();
    await store.close();
  }
});

test('unprompted, a proxy that does not hold the lock asks again within one lease time (a holder gone takes no more)', { timeout: 40_000 }, async () => {
  const store = freshStore();
  const a = issuerOn(store, [route('b.test')]);
  const b = issuerOn(store, [route('b.test')]);
  try {
    a.issuer.start();
    await waitFor('a holds the lock', () => a.issuer.status().issuer || undefined, 10_000);
    b.issuer.start();
    await waitFor('b has looked (and found the lock taken)', () => (b.issuer.status().hosts.length > 0 ? true : undefined), 10_000);
    assert.equal(b.issuer.status().issuer, false);
    await a.issuer.stop();
    // no changed(): only b's own schedule brings it back to the lock (it was a minute before)
    const started = Date.now();
    await waitFor('b takes the lock by itself', () => b.issuer.status().issuer || undefined, 25_000, 200);
    assert.ok(Date.now() - started <= 20_000, `took ${Date.now() - started} ms`);
  } finally {
    await a.issuer.stop();
    await b.issuer.stop();
    await store.close();
  }
});

test('a new holder keeps the backoff of the one before, and a success clears it from the store', { timeout: 40_000 }, async () => {
  const store = freshStore();
  const a = issuerOn(store, [route('c.test')]);
  a.fail = 'finalize: the CA refuses (rateLimited)';
  const b = issuerOn(store, [route('c.test')]);
  // c's clock is a minute and a bit ahead: the stored retry is due for it
  const c = issuerOn(store, [route('c.test')], undefined, () => Date.now() + 61_000);
  try {
    a.issuer.start();
    await waitFor('a fails', () => (a.issuer.status().hosts[0]?.state === 'failed' ? true : undefined), 10_000);
    const stored = (await store.read(['/beacon/acme-backoff/'])).kvs;
    assert.deepEqual(stored.map((kv) => kv.key), ['/beacon/acme-backoff/c.test']);
    const value = JSON.parse(stored[0]!.value) as { failures: number; nextTry: string; lastError: string };
    assert.equal(value.failures, 1);
    assert.equal(value.lastError, a.fail);
    assert.equal(value.nextTry, a.issuer.status().hosts[0]!.nextTry);
    await a.issuer.stop();
    // b takes the lock: it must not order before a's nextTry, though it never failed itself
    b.issuer.start();
    await waitFor('b holds the lock', () => b.issuer.status().issuer || undefined, 10_000);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(b.orders.length, 0, 'the new holder retried at once');
    const seen = b.issuer.status().hosts[0]!;
    assert.equal(seen.state, 'failed');
    assert.equal(seen.failures, 1);
    assert.equal(seen.nextTry, value.nextTry);
    // once the retry is due, the holder orders; its success deletes the stored backoff
    await b.issuer.stop();
    c.issuer.start();
    await waitFor('c orders', () => (c.orders.length > 0 ? true : undefined), 10_000);
    await waitFor('the backoff deleted', async () => ((await store.read(['/beacon/acme-backoff/'])).kvs.length === 0 ? true : undefined), 10_000);
    assert.equal(c.issuer.status().hosts[0]!.state, 'valid');
  } finally {
    await a.issuer.stop();
    await b.issuer.stop();
    await c.issuer.stop();
    await store.close();
  }
});

test('the holder reads the stored backoff at every look; malformed and long-past records are deleted, other hosts\' kept', { timeout: 30_000 }, async () => {
  const store = freshStore();
  const a = issuerOn(store, [route('e.test')]);
  a.fail = 'the CA refuses (rateLimited)';
  try {
    a.issuer.start();
    await waitFor('a fails', () => (a.issuer.status().hosts[0]?.state === 'failed' ? true : undefined), 10_000);
    assert.equal(a.issuer.status().hosts[0]!.failures, 1);
    // meanwhile another proxy (which held the lock while this one had lost it) failed more
    const later = new Date(Date.now() + 3_600_000).toISOString();
    await store.put('/beacon/acme-backoff/e.test', JSON.stringify({ failures: 6, nextTry: later, lastError: 'from the other holder' }));
    await store.put('/beacon/acme-backoff/bad.test', 'nope');
    await store.put('/beacon/acme-backoff/old.test', JSON.stringify({ failures: 2, nextTry: new Date(Date.now() - 2 * 3_600_000).toISOString() }));
    await store.put('/beacon/acme-backoff/other.test', JSON.stringify({ failures: 1, nextTry: new Date(Date.now() + 60_000).toISOString() }));
    a.issuer.changed();
    await waitFor('the stored record read', () => (a.issuer.status().hosts[0]?.failures === 6 ? true : undefined), 10_000);
    const s = a.issuer.status().hosts[0]!;
    assert.equal(s.nextTry, later);
    assert.equal(s.lastError, 'from the other holder');
    const keys = (await store.read(['/beacon/acme-backoff/'])).kvs.map((kv) => kv.key).sort();
    assert.deepEqual(keys, ['/beacon/acme-backoff/e.test', '/beacon/acme-backoff/other.test']);
    assert.equal(a.orders.length, 1, 'no order before the stored nextTry');
  } finally {
    await a.issuer.stop();
    await store.close();
  }
});
