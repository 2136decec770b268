import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeHost, Router } from '../../dist/proxy/routing.js';
import { parseRouteFlag, routeFlagProblem as routeProblem, type Route } from '../../dist/routes/route.js';
import { compileTable, matchRoute, type RouteTable } from '../../dist/routes/table.js';

const flags = (texts: string[]): Route[] => texts.map((t) => {
  const r = parseRouteFlag(t);
  if (!r.ok) throw new Error(r.error);
  return r.value;
});
const compileRoutes = (spec: { routes: string[]; domain?: string; defaultService?: string }): RouteTable => compileTable({ ...spec, routes: flags(spec.routes) });
const serviceFor = (table: RouteTable, host: string): string | undefined => matchRoute(table, host, '/')?.route.service;
/** the service a Host routes to for path `/` */
class HostRouter extends Router {
  route(host: string | undefined): string | undefined {
    return this.candidates(host).find((c) => c.route.path === '/')?.route.service;
  }
}

const table = compileRoutes({
  routes: ['www.example.com=web', '*.example.com=wild', '*.api.example.com=api', 'Admin.Example.com.=admin'],
  domain: 'skydns.local.',
  defaultService: 'fallback',
});

const cases: [host: string | undefined, service: string | undefined][] = [
  ['www.example.com', 'web'],
  ['WWW.Example.COM:8080', 'web'],
  ['www.example.com.', 'web'],
  ['admin.example.com', 'admin'],
  ['shop.example.com', 'wild'],
  ['a.b.example.com', 'wild'],
  ['v1.api.example.com', 'api'],
  ['example.com', 'fallback'],
  ['app.skydns.local', 'app'],
  ['app.skydns.local:80', 'app'],
  ['web1-8080.app.skydns.local', 'fallback'],
  ['skydns.local', 'fallback'],
  ['Bad_Label.skydns.local', 'fallback'],
  ['[::1]:8080', 'fallback'],
  ['', 'fallback'],
  [undefined, 'fallback'],
];

test('host routing: --route exact, longest wildcard, <service>.<domain>, default', () => {
  for (const [host, want] of cases) assert.equal(serviceFor(table, normalizeHost(host)), want, `host ${host}`);
});

test('the services flags name are known (bounded); <label>.<domain> names are not', () => {
  assert.deepEqual([...table.named].sort(), ['admin', 'api', 'fallback', 'web', 'wild']);
  const router = new HostRouter(table);
  assert.equal(router.isNamed('web'), true);
  assert.equal(router.isNamed('app'), false);
});

test('host routing without a default service is a miss (404)', () => {
  const strict = compileRoutes({ routes: ['a.test=a'] });
  assert.equal(serviceFor(strict, normalizeHost('a.test')), 'a');
  assert.equal(serviceFor(strict, normalizeHost('b.test')), undefined);
  assert.equal(serviceFor(strict, normalizeHost('x.a.test')), undefined);
});

test('normalizeHost strips ports and trailing dots, keeps IPv6 brackets', () => {
  assert.equal(normalizeHost('Example.COM:80'), 'example.com');
  assert.equal(normalizeHost('[::1]:80'), '[::1]');
  assert.equal(normalizeHost('[::1]'), '[::1]');
  assert.equal(normalizeHost('a.b.'), 'a.b');
  assert.equal(normalizeHost(''), '');
});

test('route flag validation names what is wrong', () => {
  assert.equal(routeProblem('a.example.com=web'), undefined);
  assert.equal(routeProblem('*.example.com=web'), undefined);
  assert.match(routeProblem('example.com')!, /HOST=SERVICE/);
  assert.match(routeProblem('=web')!, /HOST=SERVICE/);
  assert.match(routeProblem('a.com=')!, /HOST=SERVICE/);
  assert.match(routeProblem('a.com=Web_1')!, /DNS label/);
  assert.match(routeProblem('a b.com=web')!, /host must be/);
  assert.match(routeProblem('**.com=web')!, /host must be/);
});

test('HostRouter memoizes and stays bounded', () => {
  const router = new HostRouter(compileRoutes({ routes: ['a.test=a'] }), 3);
  for (let i = 0; i < 10; i++) assert.equal(router.route(`h${i}.test`), undefined);
  assert.equal(router.route('a.test'), 'a');
  assert.equal(router.route('A.TEST:1'), 'a');
  assert.equal(router.route('a.test'), 'a');
});

test('HostRouter does not memoize Host headers longer than 255 characters', () => {
  const router = new HostRouter(compileRoutes({ routes: ['a.test=a'], domain: 'svc.test' }), 4096);
  for (let i = 0; i < 100; i++) assert.equal(router.route(`${'x'.repeat(60_000)}${i}.test`), undefined);
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.test`;
  assert.equal(router.route(long), undefined);
  assert.equal(router.cached, 0);
  assert.equal(router.route('web.svc.test'), 'web');
  assert.equal(router.route('a.test'), 'a');
  assert.equal(router.cached, 2);
});
