// beacon proxy --tls-listen: SNI selection (exact, wildcard, default, none), certificates from the
// directory and from etcd replaced live while open connections keep theirs, invalid pairs skipped
// with the old one kept, sealed keys, X-Forwarded-Proto, --https-redirect, WebSocket over TLS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { connect as tcpConnect } from 'node:net';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { makeSiteCA, type SiteCert } from '../harness/site-certs.ts';
import { waitFor } from '../harness/wait.ts';
import { decodeFrame, ENGINE, encodeFrame, send, startProxy, startUpstream, untilReply, type ProxyUnderTest, type Upstream } from './fixtures.ts';
import { run, sClient, tlsRequest } from './tls/client.ts';

const ca = makeSiteCA();
const caPem = readFileSync(ca.caFile, 'utf8');
let etcd: EtcdCluster;
let web: Upstream;
let proxy: ProxyUnderTest;
let tlsPort = 0;
let certDir = '';
let sealFile = '';
const cleanup: (() => Promise<unknown>)[] = [];

const certs = {
  www: ca.sign('www', ['www.example.test']),
  wild: ca.sign('wild', ['*.example.test']),
  api: ca.sign('api', ['api.other.test']),
  fallback: ca.sign('fallback', ['fallback.test']),
};
const fingerprintOf = (c: SiteCert): string => new X509Certificate(c.chain).fingerprint256;

function putDir(name: string, c: SiteCert): void {
  // written beside and renamed: each file appears whole
  writeFileSync(join(certDir, `.${name}.crt.tmp`), c.chain);
  writeFileSync(join(certDir, `.${name}.key.tmp`), c.key);
  renameSync(join(certDir, `.${name}.crt.tmp`), join(certDir, `${name}.crt`));
  renameSync(join(certDir, `.${name}.key.tmp`), join(certDir, `${name}.key`));
}

const get = (servername: string, extra: Partial<Parameters<typeof tlsRequest>[1]> = {}) => tlsRequest(tlsPort, { servername, ca: caPem, ...extra });

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  web = await startUpstream('web');
  cleanup.push(() => web.close());
  certDir = mkdtempSync(join(tmpdir(), 'beacon-tls-dir-'));
  cleanup.push(async () => rmSync(certDir, { recursive: true, force: true }));
  sealFile = join(certDir, '..', `${certDir.split('/').pop()}.seal`);
  writeFileSync(sealFile, 'a seal secret\n');
  cleanup.push(async () => rmSync(sealFile, { force: true }));
  putDir('www', certs.www);
  putDir('wild', certs.wild);
  await etcd.put('/services/web/w1', `127.0.0.1:${web.port}`);
  await etcd.put('/beacon/tls/api', JSON.stringify({ cert: certs.api.chain, key: certs.api.key }));
  tlsPort = await freePort();
  proxy = await startProxy(etcd.url, ['--default-service', 'web', '--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-cert-dir', certDir, '--tls-default-cert', 'fallback', '--tls-seal-key', sealFile]);
  cleanup.push(() => proxy.beacon.stop());
  await untilReply(proxy.port, { host: 'x' }, (r) => r.status === 200, 10_000);
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  ca.cleanup();
});

test('SNI: exact name, then wildcard; no match and no default fails the handshake', { timeout: 30_000 }, async () => {
  const exact = await get('www.example.test');
  assert.equal(exact.status, 200);
  assert.equal(exact.text, 'web');
  assert.equal(exact.fingerprint, fingerprintOf(certs.www));
  assert.equal(web.lastHeaders?.['x-forwarded-proto'], 'https');
  assert.equal(web.lastHeaders?.['x-forwarded-host'], 'www.example.test');
  assert.equal(exact.headers['strict-transport-security'], undefined, 'no HSTS without --hsts');
  const wildcard = await get('shop.example.test');
  assert.equal(wildcard.fingerprint, fingerprintOf(certs.wild));
  const fromEtcd = await get('api.other.test');
  assert.equal(fromEtcd.fingerprint, fingerprintOf(certs.api));
  // curl --resolve: the name on the command line is the SNI name and the Host
  const curl = await run('curl', ['-sS', '--http1.1', '--cacert', ca.caFile, '--resolve', `www.example.test:${tlsPort}:127.0.0.1`, `https://www.example.test:${tlsPort}/`, '-w', '\n%{http_code} %{http_version}']);
  assert.equal(curl.stdout, 'web\n200 1.1', curl.stderr);
  // --tls-default-cert names a certificate that does not exist yet: a wrong name gets no certificate
  await assert.rejects(get('nothing.test'));
  const none = await sClient(tlsPort, 'nothing.test');
  assert.equal(none.ok, false, none.output);
  assert.match(none.output, /alert/i);
  const noSni = await sClient(tlsPort, undefined);
  assert.equal(noSni.ok, false, noSni.output);
  const wrong = await sClient(tlsPort, 'a.b.example.test');
  assert.equal(wrong.ok, false, 'a wildcard covers one label only');
  assert.match(await proxy.metrics(), /beacon_proxy_tls_handshakes_total\{result="no_certificate"\} [1-9]/);
});

test('the default certificate, added to etcd live, serves unknown names and clients without SNI', { timeout: 30_000 }, async () => {
  await etcd.put('/beacon/tls/fallback', JSON.stringify({ cert: certs.fallback.chain, key: certs.fallback.key }));
  await waitFor('default certificate', async () => (await sClient(tlsPort, 'nothing.test')).ok || undefined, 10_000);
  const unknown = await sClient(tlsPort, 'nothing.test');
  assert.match(unknown.subject, /fallback\.test/);
  const noSni = await sClient(tlsPort, undefined);
  assert.ok(noSni.ok, noSni.output);
  assert.match(noSni.subject, /fallback\.test/);
  // exact still wins over the default
  assert.match((await sClient(tlsPort, 'www.example.test')).subject, /www\.example\.test/);
});

test('a certificate replaced in etcd serves new handshakes; an open connection keeps its own', { timeout: 30_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get('api.other.test', { agent });
    const replacement = ca.sign('api2', ['api.other.test']);
    await etcd.put('/beacon/tls/api', JSON.stringify({ cert: replacement.chain, key: replacement.key }));
    await waitFor('new certificate in etcd', async () => ((await get('api.other.test')).fingerprint === fingerprintOf(replacement)) || undefined, 10_000);
    const again = await get('api.other.test', { agent });
    assert.equal(again.reused, true, 'the keep-alive connection stayed open');
    assert.equal(again.status, 200);
    assert.equal(again.fingerprint, first.fingerprint, 'the open connection keeps the certificate it shook hands with');
  } finally {
    agent.destroy();
  }
});

test('a certificate replaced in the directory serves new handshakes without a restart', { timeout: 30_000 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await get('www.example.test', { agent });
    const replacement = ca.sign('www2', ['www.example.test']);
    putDir('www', replacement);
    await waitFor('new certificate in the directory', async () => ((await get('www.example.test')).fingerprint === fingerprintOf(replacement)) || undefined, 10_000);
    const again = await get('www.example.test', { agent });
    assert.equal(again.reused, true);
    assert.equal(again.fingerprint, first.fingerprint);
    // a new name in a new pair
    putDir('shop', ca.sign('shop', ['shop.more.test']));
    await waitFor('added pair', async () => ((await get('shop.more.test').catch(() => undefined))?.status === 200) || undefined, 10_000);
  } finally {
    agent.destroy();
  }
});

test('an invalid pair is skipped, logged and counted; the previous certificate stays', { timeout: 30_000 }, async () => {
  const before = await get('api.other.test');
  const other = ca.sign('mismatch', ['api.other.test']);
  await etcd.put('/beacon/tls/api', JSON.stringify({ cert: other.chain, key: certs.www.key }));
  await proxy.beacon.waitForLog('skipping invalid certificate', { source: 'etcd', name: 'api' }, 10_000);
  assert.equal((await get('api.other.test')).fingerprint, before.fingerprint);
  // in the directory: a key that does not match
  writeFileSync(join(certDir, 'wild.key'), certs.api.key);
  await proxy.beacon.waitForLog('skipping invalid certificate', { source: 'dir', name: 'wild' }, 10_000);
  assert.equal((await get('x.example.test')).fingerprint, fingerprintOf(certs.wild));
  const metrics = await proxy.metrics();
  assert.match(metrics, /beacon_proxy_tls_certs_invalid\{source="etcd"\} [1-9]/);
  assert.match(metrics, /beacon_proxy_tls_certs_invalid\{source="dir"\} [1-9]/);
  const log = proxy.beacon.logs().find((l) => l.msg === 'skipping invalid certificate' && l.source === 'etcd');
  assert.match(String(log?.reason), /does not match/);
});

test('sealed keys: served with the secret, useless without it', { timeout: 60_000 }, async () => {
  const sealed = ca.sign('sealed', ['sealed.test']);
  const { runBeacon } = await import('../harness/beacon.ts');
  const put = await runBeacon(['tls', 'put', 'sealed', '--cert', sealed.chainFile, '--key', sealed.keyFile, '--seal-key', sealFile, '--store', etcd.url]);
  assert.equal(put.code, 0, put.stderr);
  const stored = JSON.parse((await etcd.get('/beacon/tls/sealed'))!) as Record<string, string>;
  assert.equal(stored.key, undefined);
  assert.ok(!stored.sealedKey!.includes('PRIVATE'));
  await waitFor('sealed certificate', async () => ((await get('sealed.test').catch(() => undefined))?.fingerprint === fingerprintOf(sealed)) || undefined, 10_000);
  // a proxy without the secret cannot use it
  const port = await freePort();
  const blind = await startProxy(etcd.url, ['--default-service', 'web', '--tls-listen', `127.0.0.1:${port}`]);
  try {
    await blind.beacon.waitForLog('skipping invalid certificate', { source: 'etcd', name: 'sealed' }, 10_000);
    await assert.rejects(tlsRequest(port, { servername: 'sealed.test', ca: caPem }));
    assert.equal((await sClient(port, 'sealed.test')).ok, false);
  } finally {
    await blind.beacon.stop();
  }
});

test('ACME HTTP-01 tokens from the store are answered by every proxy on plain HTTP', { timeout: 30_000 }, async () => {
  await etcd.put('/beacon/acme/abcDEF_123-x', 'abcDEF_123-x.key-thumbprint');
  await waitFor('challenge answer', async () => (await send(proxy.port, { host: 'any.test', path: '/.well-known/acme-challenge/abcDEF_123-x' })).status === 200 || undefined, 10_000);
  const answer = await send(proxy.port, { host: 'any.test', path: '/.well-known/acme-challenge/abcDEF_123-x' });
  assert.equal(answer.text, 'abcDEF_123-x.key-thumbprint');
  assert.equal(answer.headers['x-upstream'], undefined, 'answered by the proxy itself');
  // unknown tokens and other paths go to the service as usual
  const other = await send(proxy.port, { host: 'any.test', path: '/.well-known/acme-challenge/nope' });
  assert.equal(other.text, 'web');
  await etcd.del('/beacon/acme/abcDEF_123-x');
  await waitFor('token removed', async () => (await send(proxy.port, { host: 'any.test', path: '/.well-known/acme-challenge/abcDEF_123-x' })).text === 'web' || undefined, 10_000);
});

test('garbage and plain HTTP on the TLS port end that connection only; handshakes go on', { timeout: 30_000 }, async () => {
  for (const bytes of [Buffer.from('GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n'), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]), Buffer.alloc(3000, 0xff)]) {
    await new Promise<void>((resolve) => {
      const s = tcpConnect(tlsPort, '127.0.0.1', () => s.write(bytes));
      s.on('data', () => undefined);
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      setTimeout(() => (s.destroy(), resolve()), 5000);
    });
  }
  assert.equal((await get('www.example.test')).status, 200);
  assert.match(await proxy.metrics(), /beacon_proxy_tls_handshakes_total\{result="error"\} [1-9]/);
});

test('/status lists the certificates and metrics their expiry', { timeout: 30_000 }, async () => {
  const status = await proxy.status();
  if (ENGINE !== 'auto') assert.equal((status.engine as { name: string }).name, ENGINE);
  const list = status.certificates as { name: string; hosts: string[]; notAfter: string; issuer: string; source: string; inUse: boolean }[];
  const api = list.find((c) => c.name === 'api' && c.source === 'etcd');
  assert.ok(api, JSON.stringify(list));
  assert.deepEqual(api.hosts, ['api.other.test']);
  assert.ok(Date.parse(api.notAfter) > Date.now());
  assert.match(api.issuer, /beacon-tls-test-ca/);
  assert.equal(api.inUse, true);
  assert.ok(list.some((c) => c.name === 'www' && c.source === 'dir'));
  assert.match(await proxy.metrics(), /beacon_proxy_tls_cert_expiry_seconds\{name="api"\} \d+/);
  assert.match(await proxy.metrics(), /beacon_proxy_tls_handshakes_total\{result="ok"\} [1-9]/);
});

test('POST with a body and WebSocket over TLS', { timeout: 30_000 }, async () => {
  const body = Buffer.alloc(300_000, 7);
  const post = await get('www.example.test', { method: 'POST', path: '/hash', body });
  assert.equal(post.status, 200);
  assert.match(post.text, new RegExp(createHash('sha256').update(body).digest('hex')));
  const socket = connect({ host: '127.0.0.1', port: tlsPort, servername: 'www.example.test', ca: caPem });
  try {
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write(`GET /chat HTTP/1.1\r\nHost: www.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const more = (): Promise<void> => new Promise((resolve, reject) => socket.once('data', (c: Buffer) => ((buf = Buffer.concat([buf, c])), resolve())).once('error', reject));
    while (!buf.includes('\r\n\r\n')) await more();
    const end = buf.indexOf('\r\n\r\n') + 4;
    assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
    buf = buf.subarray(end);
    socket.write(encodeFrame(Buffer.from('over tls'), true));
    while (decodeFrame(buf) === undefined) await more();
    assert.equal(decodeFrame(buf)!.payload.toString(), 'web:over tls');
  } finally {
    socket.destroy();
  }
});

test('--https-redirect: plain HTTP gets 308 to the https URL; HTTPS is served, with --hsts', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const redirecting = await startProxy(etcd.url, ['--default-service', 'web', '--tls-listen', `127.0.0.1:${port}`, '--https-redirect', '--hsts', '600', '--tls-cert-dir', certDir]);
  try {
    const plain = await send(redirecting.port, { host: 'www.example.test:8080', path: '/a/b?c=d' });
    assert.equal(plain.status, 308);
    assert.equal(plain.headers.location, `https://www.example.test:${port}/a/b?c=d`);
    const served = await tlsRequest(port, { servername: 'www.example.test', ca: caPem });
    assert.equal(served.status, 200);
    assert.equal(served.text, 'web');
    assert.equal(served.headers['strict-transport-security'], 'max-age=600');
    // a Host that is no authority is no redirect target: the usual 400
    assert.equal((await send(redirecting.port, { host: 'bad host' })).status, 400);
    // ACME HTTP-01: a token in the store is answered on plain HTTP before any redirect
    await etcd.put('/beacon/acme/tok_en-1', 'tok_en-1.thumbprint');
    await waitFor('challenge answer', async () => (await send(redirecting.port, { host: 'www.example.test', path: '/.well-known/acme-challenge/tok_en-1' })).status === 200 || undefined, 10_000);
    const answer = await send(redirecting.port, { host: 'www.example.test', path: '/.well-known/acme-challenge/tok_en-1' });
    assert.equal(answer.text, 'tok_en-1.thumbprint');
    assert.equal((await send(redirecting.port, { host: 'www.example.test', path: '/.well-known/acme-challenge/other' })).status, 308, 'an unknown token is an ordinary request');
  } finally {
    await redirecting.beacon.stop();
  }
});

test('a route with "https": "redirect": plain HTTP gets 308 to the https URL, HTTPS is served', { timeout: 30_000 }, async () => {
  await etcd.put('/beacon/routes/secure', JSON.stringify({ host: 'www.example.test', path: '/account', service: 'web', https: 'redirect' }));
  const moved = await waitFor('the route applied', async () => {
    const r = await send(proxy.port, { host: 'www.example.test', path: '/account/settings?tab=1' });
    return r.status === 308 ? r : undefined;
  }, 10_000, 50);
  // to the port HTTPS is served on (the Host's own port is the plain listener's)
  assert.equal(moved.headers.location, `https://www.example.test:${tlsPort}/account/settings?tab=1`);
  assert.equal((await send(proxy.port, { host: `www.example.test:${proxy.port}`, path: '/account' })).headers.location, `https://www.example.test:${tlsPort}/account`);
  // other paths of the host are not the route's: served on plain HTTP as before
  assert.equal((await send(proxy.port, { host: 'www.example.test', path: '/blog' })).text, 'web');
  const secure = await get('www.example.test', { path: '/account/settings' });
  assert.equal(secure.status, 200);
  assert.equal(secure.text, 'web');
  await etcd.del('/beacon/routes/secure');
});
