import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startBeacon, runBeacon } from '../harness/beacon.ts';
import { makeCerts } from '../harness/certs.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { waitFor } from '../harness/wait.ts';
import { ToggleApp } from '../harness/app.ts';

const FAST = ['--interval', '200ms', '--timeout', '150ms', '--rise', '1', '--ttl', '3s'];

test('etcd over TLS: server-only TLS with --etcd-ca, mutual TLS with client certificates', { timeout: 90_000 }, async (t) => {
  const certs = makeCerts();
  t.after(() => rmSync(certs.dir, { recursive: true, force: true }));
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const etcdctlArgs = [`--cacert=${certs.ca}`, `--cert=${certs.clientCert}`, `--key=${certs.clientKey}`];
  const etcd = await EtcdCluster.start({
    clientScheme: 'https',
    extraArgs: ['--cert-file', certs.serverCert, '--key-file', certs.serverKey, '--trusted-ca-file', certs.ca, '--client-cert-auth'],
    etcdctlArgs,
  });
  t.after(() => etcd.stop());
  const base = ['announce', '--store', etcd.url, '--service', 'tls', '--id', 'a', '--host', '127.0.0.1', '--port', String(app.port), ...FAST];

  const mtls = startBeacon([...base, '--etcd-ca', certs.ca, '--etcd-cert', certs.clientCert, '--etcd-key', certs.clientKey]);
  t.after(() => mtls.stop('SIGKILL'));
  await mtls.waitForLog('registered');
  assert.equal(await etcd.get('/services/tls/a'), `127.0.0.1:${app.port}`);
  assert.equal((await mtls.stop('SIGTERM')).code, 0);
  assert.equal(await etcd.get('/services/tls/a'), undefined);

  // Without a client certificate the server refuses: beacon keeps retrying and never registers.
  const noCert = startBeacon([...base, '--etcd-ca', certs.ca]);
  t.after(() => noCert.stop('SIGKILL'));
  await noCert.waitForLog('store lost; checks go on, retrying with backoff');
  assert.equal(await etcd.get('/services/tls/a'), undefined);
  assert.equal((await noCert.stop('SIGTERM')).code, 0);

  const bad = await runBeacon([...base, '--etcd-cert', certs.clientCert]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--etcd-key: client TLS needs both/);
  const missing = await runBeacon([...base, '--etcd-ca', '/nonexistent/ca.pem']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--etcd-ca: cannot read \/nonexistent\/ca.pem/);
});

test('etcd server-only TLS: --etcd-ca alone is enough', { timeout: 60_000 }, async (t) => {
  const certs = makeCerts();
  t.after(() => rmSync(certs.dir, { recursive: true, force: true }));
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const etcd = await EtcdCluster.start({
    clientScheme: 'https',
    extraArgs: ['--cert-file', certs.serverCert, '--key-file', certs.serverKey],
    etcdctlArgs: [`--cacert=${certs.ca}`],
  });
  t.after(() => etcd.stop());
  const beacon = startBeacon(['announce', '--store', etcd.url, '--etcd-ca', certs.ca, '--service', 'tls', '--id', 'b', '--host', '127.0.0.1', '--port', String(app.port), ...FAST]);
  t.after(() => beacon.stop('SIGKILL'));
  await beacon.waitForLog('registered');
  assert.equal(await etcd.get('/services/tls/b'), `127.0.0.1:${app.port}`);
});

test('etcd user/password auth; the password never reaches the logs', { timeout: 60_000 }, async (t) => {
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  await etcd.etcdctl('user', 'add', 'root:rootpw');
  await etcd.etcdctl('user', 'add', 'beacon:s3cret-pw');
  await etcd.etcdctl('role', 'add', 'discovery');
  await etcd.etcdctl('role', 'grant-permission', 'discovery', '--prefix=true', 'readwrite', '/services/');
  await etcd.etcdctl('role', 'grant-permission', 'discovery', '--prefix=true', 'readwrite', '/skydns/');
  await etcd.etcdctl('user', 'grant-role', 'beacon', 'discovery');
  await etcd.etcdctl('auth', 'enable');
  const asRoot = ['--user', 'root:rootpw'];
  const base = ['announce', '--store', etcd.url, '--service', 'auth', '--id', 'c', '--host', '127.0.0.1', '--port', String(app.port), '--log-level', 'debug', ...FAST];
  const beacon = startBeacon([...base, '--etcd-user', 'beacon'], { BEACON_ETCD_PASSWORD: 's3cret-pw' });
  t.after(() => beacon.stop('SIGKILL'));
  await beacon.waitForLog('registered');
  await waitFor('key visible to root', async () => (await etcd.etcdctl(...asRoot, 'get', '/services/auth/c', '--print-value-only')).trim() === `127.0.0.1:${app.port}`, 5000);
  assert.equal((await beacon.stop('SIGTERM')).code, 0);
  assert.doesNotMatch(beacon.output(), /s3cret-pw/);

  const wrong = startBeacon([...base, '--etcd-user', 'beacon', '--etcd-password', 'wrong-pw']);
  t.after(() => wrong.stop('SIGKILL'));
  await wrong.waitForLog('store lost; checks go on, retrying with backoff');
  assert.doesNotMatch(wrong.output(), /wrong-pw/);
  assert.equal((await wrong.stop('SIGTERM')).code, 0);
});

test('several endpoints of one etcd cluster', { timeout: 60_000 }, async (t) => {
  const app = await ToggleApp.start();
  t.after(() => app.close());
  const etcd = await EtcdCluster.start({ members: 3 });
  t.after(() => etcd.stop());
  const beacon = startBeacon(['announce', '--store', etcd.url, '--service', 'multi', '--id', 'd', '--host', '127.0.0.1', '--port', String(app.port), ...FAST]);
  t.after(() => beacon.stop('SIGKILL'));
  await beacon.waitForLog('registered');
  assert.equal(await etcd.get('/services/multi/d'), `127.0.0.1:${app.port}`);
});
