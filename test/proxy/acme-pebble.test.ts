// ACME end to end against a real pebble, all on loopback: two proxies share one etcd, proxy A on
// 127.0.0.1:P and proxy B on 127.0.0.2:P (P is pebble's HTTP-01 port). The test resolver answers
// the ACME host with the address of the proxy that does NOT hold the ACME lock, so the challenge
// the issuer ordered is answered by the other proxy, from the store. Exactly one order is placed;
// both proxies then serve pebble's certificate (the default one before); a renewal forced by a
// short validity works the same way; a host the CA cannot validate backs off with a clear log line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import dns2 from 'dns2';
import { EtcdCluster } from '../harness/etcd.ts';
import { startBeacon, type BeaconProcess } from '../harness/beacon.ts';
import { startPebble, type Pebble } from '../harness/pebble.ts';
import { freePort } from '../harness/ports.ts';
import { makeSiteCA } from '../harness/site-certs.ts';
import { waitFor } from '../harness/wait.ts';
import { send, startUpstream, type Upstream } from './fixtures.ts';
import { sClient, tlsRequest } from './tls/client.ts';

/** pebble's certificates last this long; the proxies renew VALIDITY - RENEW_AFTER before expiry */
const VALIDITY_S = 3600;
const RENEW_AFTER_S = 30;

interface Proxy {
  name: string;
  address: string;
  tlsPort: number;
  adminPort: number;
  beacon: BeaconProcess;
  status(): Promise<Record<string, any>>;
  metrics(): Promise<string>;
}

const ca = makeSiteCA();
const fallback = ca.sign('fallback', ['fallback.test']);
let etcd: EtcdCluster;
let web: Upstream;
let pebble: Pebble;
let dns: { close(): Promise<unknown> };
let proxies: Proxy[] = [];
let pebbleRoot = '';
/** what the resolver answered for each ACME host query */
const answered: { name: string; address: string | undefined }[] = [];
const cleanup: (() => Promise<unknown>)[] = [];

const holder = (): Proxy | undefined => proxies.find((p) => p.beacon.logs().some((l) => l.msg === 'ACME lock taken'));

async function startResolver(port: number): Promise<{ close(): Promise<unknown> }> {
  const { Packet } = dns2;
  const server = dns2.createServer({
    udp: true,
    tcp: true,
    handle: (request, sendAnswer) => {
      const response = Packet.createResponseFromRequest(request);
      type Answer = (typeof response.answers)[number];
      const q = request.questions[0];
      const name = q?.name.toLowerCase().replace(/\.$/, '');
      if (name === 'site.test') {
        // the proxy that did not order answers the challenge
        const other = proxies.find((p) => p !== holder());
        const address = holder() === undefined ? undefined : other?.address;
        if (q!.type === Packet.TYPE.A) {
          answered.push({ name, address });
          if (address !== undefined) response.answers.push({ name: q!.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 1, address } as unknown as Answer);
        }
      } else response.header.rcode = 3; // NXDOMAIN, e.g. bad.test
      sendAnswer(response);
    },
  });
  await server.listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } });
  return { close: () => server.close() };
}

async function startAcmeProxy(name: string, address: string, httpPort: number, extra: string[]): Promise<Proxy> {
  const tlsPort = await freePort();
  const adminPort = await freePort();
  const beacon = startBeacon([
    'proxy', '--store', etcd.url, '--listen', `${address}:${httpPort}`, '--admin', `127.0.0.1:${adminPort}`, '--default-service', 'web', '--no-access-log',
    '--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-default-cert', 'fallback', ...extra,
  ]);
  cleanup.push(() => beacon.stop());
  await beacon.waitForLog('proxy listening', {}, 20_000);
  return {
    name,
    address,
    tlsPort,
    adminPort,
    beacon,
    status: async () => JSON.parse((await send(adminPort, { path: '/status' })).text) as Record<string, any>,
    metrics: async () => (await send(adminPort, { path: '/metrics' })).text,
  };
}

const orders = (metrics: string, result: string): number => Number(new RegExp(`beacon_proxy_acme_orders_total\\{result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? 'NaN');
const served = (p: Proxy, servername: string) => tlsRequest(p.tlsPort, { servername, ca: pebbleRoot });
/** The leaf PEM a proxy presents for site.test (verified against pebble's root). */
function peerPem(p: Proxy): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: p.tlsPort, servername: 'site.test', ca: pebbleRoot, timeout: 5000 }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(`-----BEGIN CERTIFICATE-----\n${raw.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
    });
    socket.on('timeout', () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
  });
}

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  web = await startUpstream('web');
  cleanup.push(() => web.close());
  await etcd.put('/services/web/w1', `127.0.0.1:${web.port}`);
  await etcd.put('/beacon/tls/fallback', JSON.stringify({ cert: fallback.chain, key: fallback.key }));
  const dnsPort = await freePort(true);
  dns = await startResolver(dnsPort);
  cleanup.push(() => dns.close());
  const httpPort = await freePort();
  pebble = await startPebble({ httpPort, dnsPort, validitySeconds: VALIDITY_S });
  cleanup.push(() => pebble.stop());
  pebbleRoot = await pebble.root();
  const sealFile = `${ca.dir}/seal`;
  writeFileSync(sealFile, 'acme seal secret');
  const acme = ['--acme-directory', pebble.directory, '--acme-ca', pebble.caFile, '--acme-email', 'ops@site.test', '--acme-renew-before', `${VALIDITY_S - RENEW_AFTER_S}s`, '--tls-seal-key', sealFile];
  proxies = [await startAcmeProxy('A', '127.0.0.1', httpPort, acme), await startAcmeProxy('B', '127.0.0.2', httpPort, acme)];
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  ca.cleanup();
});

test('one proxy orders; the other answers the challenge; both serve the certificate (default before)', { timeout: 120_000 }, async () => {
  // no ACME route yet: the default certificate, and nobody takes the lock
  for (const p of proxies) assert.match((await sClient(p.tlsPort, 'site.test')).subject, /fallback\.test/, `${p.name} before issuance`);
  await etcd.put('/beacon/routes/site', JSON.stringify({ host: 'site.test', service: 'web', tls: 'acme' }));
  const issuer = await waitFor('a lock holder', () => holder(), 20_000);
  const other = proxies.find((p) => p !== issuer)!;
  await issuer.beacon.waitForLog('ACME certificate issued', { host: 'site.test' }, 60_000);
  // both proxies serve it: verified against pebble's root, issued by pebble's intermediate
  const intermediate = new X509Certificate(await pebble.intermediate());
  const leaves: X509Certificate[] = [];
  for (const p of proxies) {
    const leaf = await waitFor(`${p.name} serving the issued certificate`, async () => {
      const r = await served(p, 'site.test').catch(() => undefined);
      return r?.status === 200 ? new X509Certificate(await peerPem(p)) : undefined;
    }, 15_000, 200);
    assert.ok(leaf.checkIssued(intermediate), `${p.name}: issued by pebble's intermediate`);
    assert.match(leaf.subjectAltName ?? '', /DNS:site\.test/);
    leaves.push(leaf);
  }
  assert.equal(leaves[0]!.serialNumber, leaves[1]!.serialNumber, 'one certificate for both');
  // the challenge went to the proxy that did not order
  assert.ok(answered.length > 0 && answered.every((a) => a.address === other.address), JSON.stringify(answered));
  // exactly one order, by the lock holder
  assert.equal(orders(await issuer.metrics(), 'ok'), 1);
  assert.equal(orders(await issuer.metrics(), 'error'), 0);
  assert.equal(orders(await other.metrics(), 'ok') + orders(await other.metrics(), 'error'), 0);
  assert.equal(other.beacon.logs().filter((l) => l.msg === 'ACME order started').length, 0);
  // stored for every proxy, the keys sealed (--tls-seal-key); the token is gone with its lease
  const stored = JSON.parse((await etcd.get('/beacon/tls/acme-site.test'))!) as Record<string, string>;
  assert.ok(stored.cert?.includes('BEGIN CERTIFICATE') && stored.sealedKey && stored.key === undefined, Object.keys(stored).join(','));
  const account = [...(await etcd.getPrefix('/beacon/acme-account/')).values()];
  assert.equal(account.length, 1);
  assert.ok(JSON.parse(account[0]!).sealedKey && !JSON.parse(account[0]!).key);
  await waitFor('the token withdrawn', async () => ((await etcd.getPrefix('/beacon/acme/')).size === 0) || undefined, 10_000);
  // /status: the issuer and each host's state
  const status = (await issuer.status()).acme;
  assert.equal(status.issuer, true);
  assert.equal(status.hosts[0].host, 'site.test');
  assert.equal(status.hosts[0].state, 'valid');
  assert.equal(status.hosts[0].validUntil, new Date(leaves[0]!.validTo).toISOString());
  assert.equal((await other.status()).acme.issuer, false);
});

test('renewal forced by a short validity: a new serial, served by both, ordered by the same proxy', { timeout: 150_000 }, async () => {
  const issuer = holder()!;
  const first = new X509Certificate(await peerPem(issuer));
  for (const p of proxies) {
    await waitFor(`${p.name} serving the renewed certificate`, async () => ((await peerPem(p).catch(() => undefined)) ?? '').length > 0 && new X509Certificate(await peerPem(p)).serialNumber !== first.serialNumber ? true : undefined, 120_000, 500);
  }
  const [a, b] = await Promise.all(proxies.map(async (p) => new X509Certificate(await peerPem(p))));
  assert.ok(a!.checkIssued(new X509Certificate(await pebble.intermediate())));
  // the renewed one may itself be renewed meanwhile; both serve one that is not the first
  assert.notEqual(a!.serialNumber, first.serialNumber);
  assert.notEqual(b!.serialNumber, first.serialNumber);
  assert.ok(orders(await issuer.metrics(), 'ok') >= 2);
  const other = proxies.find((p) => p !== issuer)!;
  assert.equal(orders(await other.metrics(), 'ok'), 0);
});

test('a host the CA cannot validate: logged with the CA\'s answer, backed off, default certificate meanwhile', { timeout: 90_000 }, async () => {
  const issuer = holder()!;
  await etcd.put('/beacon/routes/bad', JSON.stringify({ host: 'bad.test', service: 'web', tls: 'acme' }));
  const line = await issuer.beacon.waitForLog('ACME order failed', { host: 'bad.test' }, 60_000);
  assert.match(String(line.error), /^validation: .*bad\.test/);
  assert.equal(line.failures, 1);
  const nextTry = Date.parse(String(line.nextTry));
  assert.ok(nextTry - Date.now() > 30_000 && nextTry - Date.now() <= 60_000, String(line.nextTry));
  assert.ok(orders(await issuer.metrics(), 'error') >= 1);
  const bad = ((await issuer.status()).acme.hosts as Record<string, unknown>[]).find((h) => h.host === 'bad.test')!;
  assert.equal(bad.state, 'failed');
  assert.equal(bad.lastError, line.error);
  assert.equal(bad.nextTry, new Date(nextTry).toISOString());
  for (const p of proxies) assert.match((await sClient(p.tlsPort, 'bad.test')).subject, /fallback\.test/);
});

test('routes asking for ACME on a proxy without --tls-listen: one warning, nothing ordered', { timeout: 60_000 }, async () => {
  const adminPort = await freePort();
  const plain = startBeacon(['proxy', '--store', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, '--admin', `127.0.0.1:${adminPort}`, '--no-access-log']);
  cleanup.push(() => plain.stop());
  await plain.waitForLog('proxy listening', {}, 20_000);
  const warning = 'routes ask for "tls": "acme" but --tls-listen is not set: no certificates are ordered';
  await plain.waitForLog(warning, {}, 10_000);
  await etcd.put('/beacon/routes/more', JSON.stringify({ host: 'more.test', service: 'web', tls: 'acme' }));
  await waitFor('the new route applied', async () => {
    const status = JSON.parse((await send(adminPort, { path: '/status' })).text) as { routes: { table: { name: string }[] } };
    return status.routes.table.some((r) => r.name === 'more') || undefined;
  }, 10_000);
  assert.equal(plain.logs().filter((l) => l.msg === warning).length, 1);
  assert.equal(plain.logs().filter((l) => l.msg === 'ACME lock taken' || l.msg === 'ACME order started').length, 0);
  assert.doesNotMatch((await send(adminPort, { path: '/metrics' })).text, /beacon_proxy_acme_orders_total/);
});
