// Template lookups (lookupIP, lookupIPV4, lookupIPV6, lookupSRV): confd's answers, resolved between
// evaluations with node:dns against a real DNS server on loopback, never blocking the event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from '../../dist/render/template/exec.js';
import { confdFuncs } from '../../dist/render/funcs.js';
import { KeyValues } from '../../dist/render/kv.js';
import { dnsResolver, evaluateWithLookups, isLookupName, SRV, TemplateLookups, type LookupResolver } from '../../dist/render/lookup.js';
import { FileStore } from '../../dist/store/file.js';
import { startBeacon } from '../harness/beacon.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { startLookupServer } from './dns-server.ts';

async function render(src: string, resolver: LookupResolver, lookups = new TemplateLookups()): Promise<string> {
  const template = new Template('t.tmpl', src, confdFuncs(new KeyValues([]), { env: {}, now: () => new Date(0), lookups }));
  return evaluateWithLookups(() => template.execute(null), lookups, resolver);
}

/** A resolver from tables that counts what it is asked. */
function tableResolver(ips: Record<string, string[]>, srvs: Record<string, ConstructorParameters<typeof SRV>[]> = {}): LookupResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    ip: async (name) => {
      asked.push(`ip ${name}`);
      return ips[name] ?? [];
    },
    srv: async (query) => {
      asked.push(`srv ${query}`);
      return (srvs[query] ?? []).map((args) => new SRV(...args));
    },
  };
}

test('lookupIP/lookupIPV4/lookupIPV6/lookupSRV answer as confd: sorted bytewise, filtered by family, empty on failure; a lookup may name the next', async () => {
  const resolver = tableResolver(
    {
      multi: ['9.0.0.1', '10.0.0.2', '2001:DB8::1', '10.0.0.2', '::ffff:192.0.2.1'],
      v4only: ['192.0.2.9'],
      'a.svc.test.': ['10.1.0.1'],
      'b.svc.test.': ['10.1.0.2', 'fd00::2'],
    },
    { '_http._tcp.svc.test': [['b.svc.test.', 80, 10, 5], ['a.svc.test.', 8080, 10, 5]] },
  );
  const cases: [string, string][] = [
    ['{{lookupIP "multi"}}', '[10.0.0.2 192.0.2.1 2001:db8::1 9.0.0.1]'],
    ['{{lookupIPV4 "multi"}}', '[10.0.0.2 192.0.2.1 9.0.0.1]'],
    ['{{lookupIPV6 "multi"}}', '[2001:db8::1]'],
    ['{{lookupIPV6 "v4only"}} {{range lookupIPV6 "v4only"}}x{{else}}none{{end}} {{len (lookupIP "nowhere.test")}}', '[] none 0'],
    ['{{lookupIP "10.0.0.1"}} {{lookupIPV6 "10.0.0.1"}} {{lookupIPV6 "::1"}}', '[10.0.0.1] [] [::1]'],
    // the SRV answer names the hosts to look up next: two rounds of lookups
    ['{{range lookupSRV "http" "tcp" "svc.test"}}{{.Target}}:{{.Port}}={{index (lookupIPV4 .Target) 0}} {{end}}', 'a.svc.test.:8080=10.1.0.1 b.svc.test.:80=10.1.0.2 '],
    ['{{lookupSRV "" "" "_http._tcp.svc.test"}}', '[&{a.svc.test. 8080 10 5} &{b.svc.test. 80 10 5}]'],
    // not a DNS name: no answer, and nothing asked (Go's resolver refuses such names too)
    ['{{lookupIP "--help"}} {{lookupSRV "" "" "a b"}}', '[] []'],
  ];
  for (const [src, want] of cases) assert.equal(await render(src, resolver), want, src);
  assert.equal(resolver.asked.some((a) => a.includes('--help') || a.includes('a b')), false);

  // an error the stand-in answers caused is not final; a real one is
  await assert.rejects(render('{{index (lookupIP "nowhere.test") 0}}', resolver), /index out of range/);

  // one run asks for each name once, however often templates use it
  const counting = tableResolver({ x: ['10.0.0.1'] });
  const lookups = new TemplateLookups();
  assert.equal(await render('{{lookupIP "x"}}{{lookupIPV4 "x"}}{{lookupIP "x"}}', counting, lookups), '[10.0.0.1][10.0.0.1][10.0.0.1]');
  assert.equal(await render('{{lookupIPV6 "x"}}', counting, lookups), '[]');
  assert.deepEqual(counting.asked, ['ip x']);
});

test('isLookupName accepts DNS names (SRV underscores, trailing dot) and nothing else', () => {
  for (const name of ['localhost', '_http._tcp.example.com', 'a-b.c.', 'x'.repeat(63)]) assert.equal(isLookupName(name), true, name);
  for (const name of ['', '-x', '--eval=1', 'a b', 'a..b', '.', 'x'.repeat(64), 'a;b', `${'a.'.repeat(127)}ab`]) assert.equal(isLookupName(name), false, name);
});

test('dnsResolver asks the configured server (A, AAAA, SRV); a name it never answers gives up after the timeout', { timeout: 30_000 }, async (t) => {
  const server = await startLookupServer(
    {
      'web.test': { A: ['192.0.2.2', '192.0.2.10'], AAAA: ['2001:db8::5'] },
      '_http._tcp.web.test': { SRV: [{ target: 'web.test', port: 80, priority: 1, weight: 2 }] },
    },
    ['silent.test'],
  );
  t.after(() => server.close());
  const resolver = dnsResolver({ servers: [server.address], timeoutMs: 300 });
  const cases: [string, string][] = [
    ['{{lookupIP "web.test"}}', '[192.0.2.10 192.0.2.2 2001:db8::5]'],
    ['{{lookupIPV4 "web.test"}} {{lookupIPV6 "web.test"}}', '[192.0.2.10 192.0.2.2] [2001:db8::5]'],
    ['{{range lookupSRV "http" "tcp" "web.test"}}{{.Target}} {{.Port}} {{.Priority}} {{.Weight}}{{end}}', 'web.test. 80 1 2'],
    ['{{lookupIP "missing.test"}} {{lookupSRV "http" "tcp" "missing.test"}}', '[] []'],
    ['{{lookupIP "silent.test"}}', '[]'],
  ];
  for (const [src, want] of cases) assert.equal(await render(src, resolver), want, src);
  assert.ok(server.asked.includes('silent.test A'), server.asked.join(', '));
});

test('without servers, addresses come from the system resolver (/etc/hosts), as confd\'s own lookupIPV4 test expects', { timeout: 30_000 }, async () => {
  const resolver = dnsResolver({ timeoutMs: 5000 });
  assert.equal(await render('{{range lookupIPV4 "localhost"}}ip: {{.}}\n{{end}}', resolver), 'ip: 127.0.0.1\n');
  assert.match(await render('{{lookupIPV6 "localhost"}}', resolver), /^\[(::1)?\]$/);
  assert.match(await render('{{lookupIP "localhost"}}', resolver), /^\[127\.0\.0\.1( ::1)?\]$/);
});

test('render: a lookup held by a slow DNS server blocks neither /healthz nor the watch; the answer lands in the file', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-lookup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startLookupServer({ 'slow.test': { A: ['192.0.2.77'] } });
  t.after(() => server.close());
  server.hold('slow.test');
  const storeDir = join(dir, 'store');
  const store = new FileStore(storeDir);
  t.after(() => store.close());
  await store.put('/app/v', '1');
  const confdir = join(dir, 'confd');
  mkdirSync(join(confdir, 'conf.d'), { recursive: true });
  mkdirSync(join(confdir, 'templates'));
  const dest = join(dir, 'out.conf');
  writeFileSync(join(confdir, 'templates', 'r.tmpl'), 'v={{getv "/app/v"}} ip={{range lookupIPV4 "slow.test"}}{{.}}{{else}}none{{end}}\n');
  writeFileSync(join(confdir, 'conf.d', 'r.toml'), `[template]\nsrc = "r.tmpl"\ndest = "${dest}"\nkeys = [ "/app" ]\n`);
  const admin = await freePort();
  // a lookup timeout far beyond the test's: the answer can only come from the release below
  const render = startBeacon([
    'render', '--store', `file://${storeDir}`, '--confdir', confdir, '--wait', '50ms:200ms', '--admin', `127.0.0.1:${admin}`,
    '--lookup-servers', server.address, '--lookup-timeout', '10m',
  ]);
  t.after(() => render.stop('SIGKILL'));
  await waitFor('the render asks the DNS server', () => server.asked.includes('slow.test A'), 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${render.output()}`);
  });

  // The lookup is held until after these answers: a render that waited for it in the event loop
  // (or in a synchronous child process) could not answer them.
  const health = await fetch(`http://127.0.0.1:${admin}/healthz`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(health.status, 200);
  const status = (await (await fetch(`http://127.0.0.1:${admin}/status`, { signal: AbortSignal.timeout(15_000) })).json()) as { pending: boolean };
  assert.equal(status.pending, true, 'the run waiting for the lookup is in progress');
  assert.equal(existsSync(dest), false);
  // the watch goes on while the lookup is held
  const revision = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`, { signal: AbortSignal.timeout(15_000) })).text();
    return Number(/^beacon_catalog_revision (\d+)/m.exec(text)?.[1] ?? -1);
  };
  const before = await revision();
  assert.ok(before > 0, `catalog revision ${before}`);
  await store.put('/app/v', '2');
  await waitFor('the watch saw the change', async () => (await revision()) > before, 15_000);

  server.release('slow.test');
  await waitFor('rendered with the answer and the latest value', () => existsSync(dest) && readFileSync(dest, 'utf8') === 'v=2 ip=192.0.2.77\n', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${existsSync(dest) ? readFileSync(dest, 'utf8') : '(no file)'}\n${render.output()}`);
  });
  assert.equal((await render.stop('SIGTERM', 10_000)).code, 0);
});
