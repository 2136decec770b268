/// <reference lib="dom" />
// The dns and announce admin pages in a real headless Chromium, each against a real etcd: they
// render their state, update live, show text from etcd as text, and log no console errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ToggleApp } from '../harness/app.ts';
import { startBeacon } from '../harness/beacon.ts';
import { launchBrowser, type Browser } from '../harness/browser.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { dig } from '../dns/helpers.ts';
import { send } from '../proxy/fixtures.ts';

const HOSTILE_TEXT = '<script>window.__pwned=1</script><b>bold</b> & "quoted"';

let etcd: EtcdCluster;
let browser: Browser;
const shots = mkdtempSync(join(tmpdir(), 'beacon-admin-shots-'));
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  browser = await launchBrowser();
  cleanup.push(() => browser.close());
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  console.log(`# screenshots in ${shots}`);
});

const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? '';

test('dns page: zone, record counts, queries by rcode, and the records of a name from the search box', { timeout: 120_000 }, async () => {
  await etcd.put('/skydns/local/skydns/web/w1', '{"host":"10.0.0.1"}');
  await etcd.put('/skydns/local/skydns/web/w2', '{"host":"10.0.0.2"}');
  await etcd.put('/skydns/local/skydns/notes/n1', JSON.stringify({ text: HOSTILE_TEXT }));
  const port = await freePort(true);
  const admin = await freePort();
  const dns = startBeacon(['dns', '--listen', `127.0.0.1:${port}`, '--store', etcd.url, '--admin', `127.0.0.1:${admin}`, '--udp-workers', '0', '--no-recursion']);
  cleanup.push(() => dns.stop());
  await dns.waitForLog('dns index ready');

  const { page, problems } = await browser.open(`http://127.0.0.1:${admin}/`);
  assert.match(await page.title(), /beacon dns/);
  const summary = await text(page, '#summary');
  assert.match(summary, /zone\s*skydns\.local/);
  assert.match(summary, /records\s*3/);
  assert.match(await text(page, '#store'), /connected/);

  // queries answered now show up on the page by rcode, live
  await waitFor('NOERROR and NXDOMAIN queries/s on the page', async () => {
    await dig(port, 'web.skydns.local', 'A');
    await dig(port, 'missing.skydns.local', 'A');
    const queries = await text(page, '#queries');
    return /NOERROR\s*[1-9]/.test(queries) && /NXDOMAIN\s*[1-9]/.test(queries);
  }, 20_000, 200);

  // the search box: records of a name, their text shown as text
  await page.fill('#search input[name="name"]', 'notes.skydns.local');
  await page.click('#search button');
  await page.locator('#results table').waitFor({ timeout: 10_000 });
  assert.equal(await text(page, '#results td[data-label="text"]'), HOSTILE_TEXT);
  assert.equal(await page.locator('#results b, #results script').count(), 0);
  await page.fill('#search input[name="name"]', 'web.skydns.local');
  await page.click('#search button');
  await waitFor('both web records listed', async () => (await page.locator('#results tbody tr').count()) === 2);
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  await page.screenshot({ path: join(shots, 'dns.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();

  // without script: the form's GET renders the same results on the server
  const plain = await send(admin, { path: '/?name=notes.skydns.local' });
  assert.ok(plain.text.includes('&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;'));
  assert.ok(!plain.text.includes('<b>bold</b>'));
  const json = JSON.parse((await send(admin, { path: '/lookup?name=web.skydns.local' })).text) as { records: { host: string }[] };
  assert.deepEqual(json.records.map((r) => r.host).sort(), ['10.0.0.1', '10.0.0.2']);
  assert.equal((await send(admin, { path: '/lookup' })).status, 400);
});

test('announce page: instance, check, last checks with durations, registration and lease, live', { timeout: 120_000 }, async () => {
  const app = await ToggleApp.start('app');
  cleanup.push(() => app.close());
  const admin = await freePort();
  const announce = startBeacon([
    'announce', '--store', etcd.url, '--service', 'app', '--id', 'app-1', '--host', '127.0.0.1', '--port', String(app.port),
    '--check', `http://127.0.0.1:${app.port}/health`, '--interval', '200ms', '--timeout', '150ms', '--rise', '1', '--fall', '1', '--ttl', '5s',
    '--admin', `127.0.0.1:${admin}`,
  ]);
  cleanup.push(() => announce.stop());
  await announce.waitForLog('registered');

  const { page, problems } = await browser.open(`http://127.0.0.1:${admin}/`);
  assert.match(await page.title(), /beacon announce/);
  assert.match(await text(page, '#instance'), /app-1/);
  const check = await text(page, '#check');
  assert.match(check, /kind\s*http/);
  assert.ok(check.includes(`http://127.0.0.1:${app.port}/health`));
  assert.match(await text(page, '#check tbody td[data-label="result"]'), /pass/);
  assert.match(await text(page, '#check tbody td[data-label="took"]'), /\d+ ms/);
  const registration = await text(page, '#registration');
  assert.match(registration, /state\s*registered/);
  assert.match(registration, /lease time left\s*[\d.]+ s of 5\.0 s/);
  assert.match(await text(page, '#store'), /connected/);

  // the app turns sick: the page shows failed checks and the deregistration without a reload
  app.healthy = false;
  await waitFor('a failed check and "not registered" on the page', async () => {
    return /fail/.test(await text(page, '#check tbody tr:first-child')) && /state\s*not registered/.test(await text(page, '#registration'));
  }, 20_000, 200);
  assert.match(await text(page, '#changes'), /deregistered/);
  await page.screenshot({ path: join(shots, 'announce.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});
