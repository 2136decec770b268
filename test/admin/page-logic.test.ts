// The admin page's pure parts: escaping, the rate ring, events between samples, viewers that
// stop reading, and pages rendered from statuses that lack fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, html } from '../../dist/admin/html.js';
import { Ring, RateSeries, ratio } from '../../dist/admin/series.js';
import { Viewers, sseFrame, type EventSink } from '../../dist/admin/viewers.js';
import { proxyEvents, proxyPage } from '../../dist/admin/pages/proxy.js';
import { pageFor } from '../../dist/admin/pages/index.js';
import { liveFragment } from '../../dist/admin/layout.js';
import { sparkPoints } from '../../dist/admin/sparkline.js';
import { LiveState, STATUS_MAX_INTERVAL_MS, UNWATCHED_MAX_INTERVAL_MS } from '../../dist/admin/live.js';
import { Counter, Registry } from 'prom-client';

test('interpolations are escaped; Html values and arrays of them are kept', () => {
  const cases: [string, string][] = [
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    [`"'&`, '&quot;&#39;&amp;'],
    ['plain', 'plain'],
  ];
  for (const [input, want] of cases) {
    assert.equal(escapeHtml(input), want);
    assert.equal(html`<td title="${input}">${input}</td>`.text, `<td title="${want}">${want}</td>`);
  }
  assert.equal(html`<ul>${['<a>', html`<li>ok</li>`]}</ul>`.text, '<ul>&lt;a&gt;<li>ok</li></ul>');
  assert.equal(html`${undefined}${null}${false}${0}`.text, '0');
});

test('the ring keeps the newest values, oldest first', () => {
  const ring = new Ring(3);
  for (const v of [1, 2, 3, 4, 5]) ring.push(v);
  assert.deepEqual(ring.values(), [3, 4, 5]);
  assert.equal(ring.last(), 5);
});

test('rates from counter totals: baseline first, resets, keys that vanish are forgotten', () => {
  const series = new RateSeries(4);
  assert.deepEqual([...series.sample(new Map([['a', 10]]), 0)], []);
  assert.deepEqual([...series.sample(new Map([['a', 30]]), 2000)], [['a', 20]]);
  assert.deepEqual(series.rates('a'), [10]);
  // a counter that went down was reset: its value is the increase
  series.sample(new Map([['a', 4]]), 3000);
  assert.deepEqual(series.rates('a'), [10, 4]);
  // gone: reads 0/s, forgotten once only zeros remain
  for (let t = 4000; t <= 8000; t += 1000) series.sample(new Map(), t);
  assert.deepEqual(series.rates('a'), []);
  // series of different lengths line up at their newest point
  assert.deepEqual(ratio([1, 2, 0], [2, 0, 4, 4]), [0, 0.5, 0]);
  assert.deepEqual(ratio([1, 1], [0, 4]), [0, 0.25]);
});

test('rates: a counter that stays still (a service gone from the proxy) holds no ring, and reads as zeros', () => {
  const series = new RateSeries(4);
  // 1000 services seen once, each with a counter the proxy keeps reporting after they are gone
  const totals = new Map<string, number>();
  for (let i = 0; i < 1000; i++) totals.set(`req:svc${i}`, 5);
  totals.set('req:live', 0);
  for (let t = 0; t <= 10_000; t += 1000) {
    totals.set('req:live', t / 1000);
    series.sample(totals, t);
  }
  assert.equal(series.series, 1, 'only the key with traffic in the window keeps a ring');
  assert.deepEqual(series.rates('req:svc7'), [0, 0, 0, 0]);
  assert.deepEqual(series.rates('req:live'), [1, 1, 1, 1]);
  assert.deepEqual(series.rates('req:never'), []);
  // a still counter that moves again gets a ring as long as the others, zeros before
  totals.set('req:svc7', 9);
  series.sample(totals, 11_000);
  assert.deepEqual(series.rates('req:svc7'), [0, 0, 0, 4]);
  assert.equal(series.series, 2);
});

test('sparkline points: highest value at the top, empty series draws nothing', () => {
  assert.equal(sparkPoints([]), '');
  assert.equal(sparkPoints([0, 2]), '0.0,23.0 100.0,1.0');
  assert.equal(sparkPoints([0, 0], 1), '0.0,23.0 100.0,23.0');
});

test('proxy events: ejections and returns from state changes, retries from counter increases', () => {
  const status = (state: string, extra = {}) => ({ services: { web: [{ id: '10.0.0.1:80', instances: ['a@1'], state, fails: 2, ...extra }] } });
  const now = Date.parse('2025-01-01T10:00:00Z');
  assert.deepEqual(proxyEvents(status('up'), status('ejected', { ejectedForMs: 5000 }), new Map(), now), [
    { at: now, kind: 'ejected', text: 'web/a@1 (10.0.0.1:80) ejected until 10:00:05 after 2 failures' },
  ]);
  assert.deepEqual(proxyEvents(status('probing'), status('up'), new Map(), now), [{ at: now, kind: 'recovered', text: 'web/a@1 (10.0.0.1:80) back up (was probing)' }]);
  assert.deepEqual(proxyEvents(status('up'), status('up'), new Map([['retry:web', 3], ['req:web', 9]]), now), [{ at: now, kind: 'retry', text: 'web: 3 requests retried on another instance' }]);
  // an instance that is new is not an event; nor is a status without services
  assert.deepEqual(proxyEvents({}, status('ejected'), new Map(), now), []);
  assert.deepEqual(proxyEvents(undefined, 'garbage', new Map(), now), []);
});

class FakeSink implements EventSink {
  writes: string[] = [];
  writableNeedDrain = false;
  writableLength = 0;
  destroyed = false;
  write(chunk: string): boolean {
    this.writes.push(chunk);
    return true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

test('viewers: one update per new fragment, none while behind, dropped when they stop reading', () => {
  const viewers = new Viewers({ max: 2, maxBehind: 3, maxBuffered: 1000 });
  const reader = new FakeSink();
  const stuck = new FakeSink();
  viewers.add(reader, 'a');
  viewers.add(stuck, 'a');
  assert.equal(viewers.full, true);
  assert.equal(viewers.add(new FakeSink(), 'a'), undefined);
  viewers.broadcast('a');
  assert.deepEqual(reader.writes, [sseFrame('update', 'a')], 'an unchanged fragment is not sent again');
  stuck.writableNeedDrain = true;
  for (const f of ['b', 'c', 'd']) viewers.broadcast(f);
  assert.equal(stuck.writes.length, 1, 'nothing is queued for a viewer that is behind');
  assert.equal(stuck.destroyed, false);
  viewers.broadcast('e');
  assert.equal(stuck.destroyed, true);
  assert.equal(viewers.size, 1);
  assert.equal(reader.writes.length, 5);
  // too much unread: dropped at once
  reader.writableLength = 5000;
  viewers.broadcast('f');
  assert.equal(reader.destroyed, true);
  assert.equal(viewers.dropped, 2);
});

test('an SSE frame gives every line of the data its own field', () => {
  assert.equal(sseFrame('update', '<p>\n</p>'), 'event: update\ndata: <p>\ndata: </p>\n\n');
});

test('every page renders a status with missing or mistyped fields, and escapes what it shows', () => {
  const view = (mode: string, status: unknown) => ({ mode, status, series: new RateSeries(10), events: [], now: 0 });
  for (const mode of ['proxy', 'dns', 'announce', 'render', 'services']) {
    for (const status of [undefined, null, {}, 'text', { services: 'no', resources: 7, checks: {}, store: [] }]) {
      const out = liveFragment(pageFor(mode), view(mode, status)).text;
      assert.match(out, /<section id="store"/, mode);
    }
  }
  const render = liveFragment(pageFor('render'), view('render', {
    resources: [{ name: 'nginx<1>', dest: '/etc/x', lastOutcome: 'check-failed', lastError: 'nginx: [emerg] "<script>" unexpected' }],
  })).text;
  assert.ok(render.includes('nginx&lt;1&gt;'));
  assert.ok(render.includes('&quot;&lt;script&gt;&quot; unexpected'));
  assert.ok(!render.includes('<script>'));
  const proxy = liveFragment(pageFor('proxy'), view('proxy', {
    routes: [{ source: 'flag', host: '<h>', path: '/', action: 'service web' }],
    certificates: [{ name: 'c', hosts: ['a.test'], notAfter: '1970-01-02T00:00:00Z' }],
    tcp: [{ listen: '127.0.0.1:3306', service: 'galera', balance: 'first', open: 3, total: 9, instances: [{ id: '10.0.0.5:3306', instances: ['db<1>'], weight: 1, state: 'up', open: 3 }] }],
  })).text;
  for (const id of ['routes', 'certificates', 'tcp']) assert.match(proxy, new RegExp(`<section id="${id}"`));
  assert.doesNotMatch(proxy, /<section id="acme"/, 'no ACME section when no host asks for ACME');
  const acme = liveFragment(pageFor('proxy'), view('proxy', {
    acme: { directory: 'https://ca.test/dir', issuer: true, hosts: [{ host: 'site.test', state: 'failed', validUntil: null, renewAt: null, nextTry: '2026-12-04T23:00:00.000Z', lastError: 'urn:acme:error:dns <b>', failures: 2 }], skipped: [] },
  })).text;
  assert.match(acme, /<section id="acme"/);
  assert.ok(acme.includes('site.test') && acme.includes('2026-12-04T23:00:00.000Z'));
  assert.ok(acme.includes('urn:acme:error:dns &lt;b&gt;') && !acme.includes('dns <b>'));
  assert.ok(proxy.includes('3 open / 9 total'));
  // the shape the proxy's status has: the effective table, shadowed routes, invalid values
  const routed = liveFragment(pageFor('proxy'), view('proxy', {
    routes: {
      table: [{ name: 'api', source: 'store', host: 'www.test', path: '/api', service: 'api', action: 'forward, strip /api', balance: 'least-conn' }],
      shadowed: [{ name: 'old', source: 'store', host: 'www.test', path: '/api', service: 'old', action: 'forward', balance: 'round-robin', shadowedBy: 'api' }],
      invalid: [{ key: '/beacon/routes/<b>x</b>', reason: 'not JSON' }],
    },
  })).text;
  assert.match(routed, /<section id="routes"/);
  assert.ok(routed.includes('forward, strip /api to api'));
  assert.ok(routed.includes('Shadowed routes') && routed.includes('Invalid route values'));
  assert.ok(routed.includes('/beacon/routes/&lt;b&gt;x&lt;/b&gt;'));
  assert.ok(proxy.includes('10.0.0.5:3306 (up, 3 open)'));
  assert.ok(proxy.includes('&lt;h&gt;'));
});

test('live state: a costly status is sampled within its share of the time while watched, not at all unwatched; counters every round', async () => {
  let now = 0;
  let statusCalls = 0;
  let busyMs = 0;
  let state = 'up';
  // the cost of a status is read off this clock: building one advances it by busyMs
  let perf = 0;
  const source = {
    status() {
      statusCalls++;
      perf += busyMs;
      return { services: { web: [{ id: '10.0.0.1:80', instances: ['a'], state }] } };
    },
  };
  const registry = new Registry();
  const requests = new Counter({ name: 'beacon_proxy_requests_total', help: 'x', labelNames: ['service', 'status'], registers: [registry] });
  const ejections = new Counter({ name: 'beacon_proxy_ejections_total', help: 'x', labelNames: ['service'], registers: [registry] });
  const live = new LiveState('proxy', proxyPage, source, registry, () => now, () => perf);
  const tick = async (watched: boolean): Promise<void> => {
    await live.sample(watched);
    now += 1000;
  };

  // cheap: every round, watched or not; a state change shows with the instance's name
  await tick(false);
  await tick(false);
  state = 'ejected';
  await tick(false);
  assert.equal(statusCalls, 3);
  assert.match(live.view().events.at(-1)?.text ?? '', /^web\/a \(10\.0\.0\.1:80\) ejected/);

  // 30 ms to build (as 100,000 instances make it): watched, at STATUS_SHARE (2%) one sample per 1.5 s
  busyMs = 30;
  await tick(true);
  assert.equal(statusCalls, 4);
  requests.inc({ service: 'web', status: '200' }, 5);
  await tick(true);
  assert.equal(statusCalls, 4, 'not due again after 1 s');
  assert.equal(live.view().series.total('req:web'), 5, 'the counters moved on all the same');
  now += STATUS_MAX_INTERVAL_MS;
  await tick(true);
  assert.equal(statusCalls, 5, 'however slow, sampled again within STATUS_MAX_INTERVAL_MS while watched');

  // unwatched, a costly status is left alone; an ejection still shows, from the counter
  now += STATUS_MAX_INTERVAL_MS;
  ejections.inc({ service: 'web' });
  await tick(false);
  await tick(false);
  assert.equal(statusCalls, 5);
  assert.equal(live.view().events.at(-1)?.text, 'web: 1 instance ejected');
  // ...but not for ever: one cost measured in a bad moment must not stop the sampling
  now += UNWATCHED_MAX_INTERVAL_MS;
  await tick(false);
  assert.equal(statusCalls, 6);
});

test('live state: a status that lists 10,000 entries or more is not built while nobody watches, not even once', async () => {
  let calls = 0;
  let size = 50_000;
  const source = { status: () => (calls++, { services: {} }), statusSize: () => size };
  let now = 0;
  const live = new LiveState('proxy', proxyPage, source, new Registry(), () => now, () => 0);
  for (let i = 0; i < 3; i++, now += 1000) await live.sample(false);
  assert.equal(calls, 0);
  await live.sample(true);
  assert.equal(calls, 1, 'someone opened the page');
  size = 10;
  now += 1000;
  await live.sample(false);
  assert.equal(calls, 2, 'small again: sampled unwatched as before');
});
