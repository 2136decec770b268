/// <reference lib="dom" />
// The proxy's admin page in a real headless Chromium: a service registered in a real etcd, an
// instance ejected when its upstream dies and back when it returns, all without a reload; text
// from etcd shown as text; no console errors. Screenshots go to the test's temp directory (and,
// with BEACON_DOCS_SCREENSHOTS=1, to docs/ for the README).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchBrowser, type Browser } from '../harness/browser.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { waitFor } from '../harness/wait.ts';
import { send, startProxy, startUpstream, type ProxyUnderTest, type Upstream } from '../proxy/fixtures.ts';

const HOSTILE_ID = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_SCRIPT = '<script>window.__pwned=2</script>';

let etcd: EtcdCluster;
let proxy: ProxyUnderTest;
let browser: Browser;
let alpha: Upstream;
let beta: Upstream;
const shots = mkdtempSync(join(tmpdir(), 'beacon-admin-shots-'));
const cleanup: (() => Promise<unknown>)[] = [];

before(async () => {
  etcd = await EtcdCluster.start();
  cleanup.push(() => etcd.stop());
  alpha = await startUpstream('alpha');
  beta = await startUpstream('beta');
  cleanup.push(() => alpha.close(), () => beta.close());
  await etcd.put('/services/web/alpha@1', `127.0.0.1:${alpha.port}`);
  await etcd.put('/services/web/beta@2', `127.0.0.1:${beta.port}`);
  // Ids with HTML are refused by the catalog (isInstanceId), which lists them as skipped values:
  // that is how text from etcd with markup in it reaches this page.
  await etcd.put(`/services/web/${HOSTILE_ID}`, '127.0.0.1:1');
  await etcd.put(`/services/web/${HOSTILE_SCRIPT}`, '127.0.0.1:1');
  proxy = await startProxy(etcd.url, ['--domain', 'svc.test', '--max-fails', '1', '--fail-timeout', '2s']);
  cleanup.push(() => proxy.beacon.stop());
  browser = await launchBrowser();
  cleanup.push(() => browser.close());
});

after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  console.log(`# screenshots in ${shots}`);
});

/** instance -> state text, as the page shows them for `service` */
function instanceStates(page: Page, service: string): Promise<Record<string, string>> {
  return page.evaluate((s) => {
    const out: Record<string, string> = {};
    for (const row of Array.from(document.querySelectorAll(`article[data-service="${s}"] tbody tr`))) {
      const id = row.querySelector('td[data-label="instance"]')?.textContent ?? '';
      out[id] = row.querySelector('td[data-label="state"]')?.textContent ?? '';
    }
    return out;
  }, service);
}

async function drive(times: number): Promise<void> {
  for (let i = 0; i < times; i++) await send(proxy.port, { host: 'web.svc.test' }).catch(() => undefined);
}

test('the proxy page shows the store, the service and its instances, live, escaped, without console errors', { timeout: 120_000 }, async () => {
  const url = `http://127.0.0.1:${proxy.adminPort}/`;
  const { page, problems } = await browser.open(url);
  assert.match((await page.title()), /beacon proxy/);
  assert.match(await page.locator('header .version').textContent() ?? '', /version \d+\.\d+\.\d+/);
  assert.deepEqual(await instanceStates(page, 'web'), { 'alpha@1': 'up', 'beta@2': 'up' });
  const store = await page.locator('#store').textContent() ?? '';
  assert.match(store, /connected/);
  assert.match(store, new RegExp(`etcd://127\\.0\\.0\\.1:${etcd.members[0]!.clientPort}`));

  // escaped: the skipped keys are on the page as text, and no element came out of them
  await waitFor('the live stream to replace the page once', () => page.locator('#stamp.ok').count());
  const skipped = await page.locator('#store table').textContent() ?? '';
  assert.ok(skipped.includes(`/services/web/${HOSTILE_ID}`), skipped);
  assert.ok(skipped.includes(`/services/web/${HOSTILE_SCRIPT}`), skipped);
  assert.equal(await page.locator('#live img, #live script').count(), 0);

  // live: a service put into etcd now appears without a reload
  await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
  await etcd.put('/services/api/gamma@1', `127.0.0.1:${alpha.port}`);
  await page.locator('article[data-service="api"]').waitFor({ timeout: 10_000 });
  assert.deepEqual(await instanceStates(page, 'api'), { 'gamma@1': 'up' });

  // requests/s: the sparkline of web draws what went through
  await waitFor('requests/s above 0 for web', async () => {
    await drive(5);
    return /requests\/s\s*[1-9]/.test((await page.locator('article[data-service="web"] .sparks').textContent()) ?? '');
  }, 10_000, 100);

  // beta's upstream dies: after the failed requests it is shown ejected, with until when
  const betaPort = beta.port;
  await beta.close();
  await waitFor('beta ejected on the page', async () => {
    await drive(4);
    return (await instanceStates(page, 'web'))['beta@2']?.startsWith('ejected');
  }, 20_000, 200);
  assert.match((await instanceStates(page, 'web'))['beta@2']!, /ejected until \d\d:\d\d:\d\d/);
  assert.match(await page.locator('#ejections').textContent() ?? '', /web\/beta@2 .*ejected/);
  await page.screenshot({ path: join(shots, 'proxy-ejected.png'), fullPage: true });
  // the README's picture: an instance ejected, retries and errors on the sparklines
  if (process.env.BEACON_DOCS_SCREENSHOTS === '1') {
    const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
    mkdirSync(docs, { recursive: true });
    await page.screenshot({ path: join(docs, 'proxy-page.png'), fullPage: false });
  }

  // ... and back once it answers again (same port), still without a reload
  beta = await startUpstream('beta', betaPort);
  await waitFor('beta back up on the page', async () => {
    await drive(4);
    return (await instanceStates(page, 'web'))['beta@2'] === 'up';
  }, 30_000, 300);
  assert.match(await page.locator('#ejections').textContent() ?? '', /web\/beta@2 .*back up/);
  assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'the page was reloaded');
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);

  await page.screenshot({ path: join(shots, 'proxy.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the proxy page on a phone: tables fit the width', { timeout: 60_000 }, async () => {
  const { page, problems } = await browser.open(`http://127.0.0.1:${proxy.adminPort}/`, { width: 390, height: 844 });
  assert.deepEqual(await instanceStates(page, 'web'), { 'alpha@1': 'up', 'beta@2': 'up' });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone's screen`);
  await page.screenshot({ path: join(shots, 'proxy-phone.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('without script the server-rendered page already has the tables', { timeout: 30_000 }, async () => {
  const r = await send(proxy.adminPort, { path: '/' });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] as string, /text\/html/);
  assert.match(r.headers['content-security-policy'] as string, /default-src 'none'/);
  assert.match(r.text, /<td data-label="instance">alpha@1<\/td>/);
  assert.ok(r.text.includes('&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;'));
  assert.ok(!r.text.includes(HOSTILE_ID));
  assert.ok(!r.text.includes(HOSTILE_SCRIPT));
  // read-only: nothing but GET and HEAD
  assert.equal((await send(proxy.adminPort, { path: '/', method: 'POST' })).status, 405);
});
