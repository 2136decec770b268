// The route model: values and flags -> routes, path normalisation, table compilation and match order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath, pathCovers, stripPrefix } from '../../dist/routes/path.js';
import { parseRouteFlag, parseRouteValue, type Route } from '../../dist/routes/route.js';
import { compileTable, matchRoute, describeMatch } from '../../dist/routes/table.js';
import { routeAction } from '../../dist/routes/action.js';

const route = (name: string, value: Record<string, unknown>): Route => {
  const r = parseRouteValue(name, JSON.stringify(value));
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
};
const flag = (text: string): Route => {
  const r = parseRouteFlag(text);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
};

test('paths are normalised before matching: unreserved escapes, dot segments, repeated slashes', () => {
  const cases: [string, string][] = [
    ['/admin', '/admin'],
    ['/%61dmin', '/admin'],
    ['/%61%64%6D%69%6E/x', '/admin/x'],
    ['/x/../admin', '/admin'],
    ['/x/%2e%2e/admin', '/admin'],
    ['/./admin/.', '/admin/'],
    ['//admin', '/admin'],
    ['/../../admin', '/admin'],
    ['/a/b/..', '/a/'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%2Fb/../c', '/c'],
    ['/api?x=/../admin', '/api'],
    ['/%zz', '/%zz'],
    ['/%4', '/%4'],
    ['/', '/'],
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, input);
});

test('prefixes cover paths on / boundaries; strip keeps a leading /', () => {
  assert.equal(pathCovers('/api', '/api'), true);
  assert.equal(pathCovers('/api', '/api/x'), true);
  assert.equal(pathCovers('/api', '/apix'), false);
  assert.equal(pathCovers('/', '/anything'), true);
  assert.equal(stripPrefix('/api', '/api/x'), '/x');
  assert.equal(stripPrefix('/api', '/api'), '/');
  assert.equal(stripPrefix('/api', '/api/'), '/');
});

test('route values: valid ones parse with defaults', () => {
  const r = route('web', { host: 'WWW.Example.com.', path: '/api/', service: 'api', stripPath: true });
  assert.equal(r.host, 'www.example.com');
  assert.equal(r.path, '/api');
  assert.equal(r.balance, 'round-robin');
  assert.equal(r.cookie, 'beacon_sticky');
  assert.equal(r.priority, 0);
  const red = route('old', { host: 'old.example.com', redirect: { to: 'https://new.example.com/', code: 308, keepPath: true } });
  assert.deepEqual(red.redirect, { to: 'https://new.example.com', code: 308, keepPath: true });
  const h = route('h', { service: 'x', headers: { request: { set: { 'X-Env': 'prod' }, remove: ['Cookie'] }, response: { remove: ['Server'] } } });
  assert.deepEqual(h.requestHeaders, { set: [['x-env', 'prod']], remove: ['cookie'] });
  assert.deepEqual(h.responseHeaders, { set: [], remove: ['server'] });
  assert.equal(route('w', { host: '*.example.com', service: 'x' }).host, '*.example.com');
});

test('route values: each kind of bad value is refused with its reason', () => {
  const bad: [string, RegExp][] = [
    ['{not json', /not valid JSON/],
    ['[1]', /not a JSON object/],
    ['{"host":"a.example.com"}', /no service and no redirect/],
    ['{"service":"x","path":"api"}', /path must start with "\/"/],
    ['{"service":"x","balance":"random"}', /unknown balance "random"/],
    ['{"service":"x","host":"bad host!"}', /host must be a name/],
    ['{"service":"x","host":"**.a.com"}', /host must be a name/],
    ['{"service":"Not_A_Label"}', /service must be a DNS label/],
    ['{"redirect":{"to":"ftp://x"}}', /redirect.to must be an http/],
    ['{"redirect":{"to":"https://x","code":200}}', /redirect.code/],
    ['{"service":"x","priority":"high"}', /priority must be a number/],
    ['{"service":"x","headers":{"request":{"set":{"Content-Length":"1"}}}}', /not a header a route may set/],
    ['{"service":"x","headers":{"request":{"set":{"X":"a\\r\\nb"}}}}', /without control characters/],
    ['{"service":"x","cookie":"a b"}', /cookie must be a cookie name/],
  ];
  for (const [text, reason] of bad) {
    const r = parseRouteValue('r', text);
    assert.equal(r.ok, false, text);
    assert.match(r.ok ? '' : r.error, reason, text);
  }
});

test('--route flags: HOST=SERVICE, HOST/PATH=SERVICE, /PATH=SERVICE', () => {
  assert.deepEqual([flag('a.test=web').host, flag('a.test=web').path], ['a.test', '/']);
  assert.deepEqual([flag('a.test/api=api').host, flag('a.test/api=api').path], ['a.test', '/api']);
  assert.deepEqual([flag('/static=cdn').host, flag('/static=cdn').path], [undefined, '/static']);
  for (const [text, reason] of [
    ['a.test', /HOST=SERVICE/],
    ['a.test=', /HOST=SERVICE/],
    ['a.test=Web_1', /DNS label/],
    ['a b.test=web', /host must be/],
  ] as const) {
    const r = parseRouteFlag(text);
    assert.match(r.ok ? '' : r.error, reason, text);
  }
});

const table = compileTable({
  routes: [
    route('www-root', { host: 'www.example.com', service: 'web' }),
    route('www-api', { host: 'www.example.com', path: '/api', service: 'api' }),
    route('www-api-v2', { host: 'www.example.com', path: '/api/v2', service: 'api2' }),
    route('wild', { host: '*.example.com', service: 'wild' }),
    route('wild-deep', { host: '*.eu.example.com', service: 'eu' }),
    route('wild-static', { host: '*.example.com', path: '/static', service: 'cdn' }),
    route('any-admin', { path: '/admin', service: 'admin' }),
    route('b-low', { host: 'dup.example.com', service: 'low', priority: 1 }),
    route('a-high', { host: 'dup.example.com', service: 'high', priority: 5 }),
    route('z-same', { host: 'tie.example.com', service: 'z' }),
    route('a-same', { host: 'tie.example.com', service: 'a' }),
    route('etcd-vs-flag', { host: 'flag.example.com', service: 'from-etcd' }),
    flag('flag.example.com=from-flag'),
    route('only-v1', { host: 'v1only.example.org', path: '/v1', service: 'v1' }),
    route('shop-x', { host: 'shop.svc.test', path: '/x', service: 'x' }),
  ],
  domain: 'svc.test',
  defaultService: 'fallback',
});

test('match order: exact host, longest wildcard, no host; then longest path, priority, source, name', () => {
  const cases: [host: string, path: string, service: string | undefined][] = [
    ['www.example.com', '/', 'web'],
    ['www.example.com', '/apix', 'web'],
    ['www.example.com', '/api', 'api'],
    ['www.example.com', '/api/v1', 'api'],
    ['www.example.com', '/api/v2/x', 'api2'],
    // the most specific host first: the exact host's "/" wins over the wildcard's /static
    ['www.example.com', '/static/x', 'web'],
    // nor /admin: its own "/" wins over the host-less /admin (most specific host first)
    ['www.example.com', '/admin', 'web'],
    ['shop.example.com', '/', 'wild'],
    ['shop.example.com', '/static/a.css', 'cdn'],
    ['a.b.example.com', '/', 'wild'],
    ['x.eu.example.com', '/', 'eu'],
    // the longer wildcard's "/" wins over the shorter wildcard's /static (host first)
    ['x.eu.example.com', '/static/y', 'eu'],
    ['example.com', '/admin/users', 'admin'],
    ['dup.example.com', '/', 'high'],
    ['tie.example.com', '/', 'a'],
    ['flag.example.com', '/', 'from-flag'],
    ['app.svc.test', '/', 'app'],
    ['app.svc.test', '/admin', 'admin'],
    ['nothing.test', '/', 'fallback'],
    // an exact host whose routes cover only some paths: the rest falls through to the domain
    // rule and the default service, as for hosts matched by a wildcard or by nothing
    ['v1only.example.org', '/v1/a', 'v1'],
    ['v1only.example.org', '/other', 'fallback'],
    ['shop.svc.test', '/x/1', 'x'],
    ['shop.svc.test', '/y', 'shop'],
  ];
  for (const [host, path, want] of cases) assert.equal(matchRoute(table, host, path)?.route.service, want, `${host}${path}`);
});

test('routes with the same host and path: the loser is listed as shadowed', () => {
  const shadowed = table.shadowed.map((s) => `${s.route.name} by ${s.by.name}`).sort();
  assert.deepEqual(shadowed, ['b-low by a-high', 'etcd-vs-flag by --route flag.example.com=from-flag', 'z-same by a-same']);
  assert.ok(!table.routes.some((r) => r.name === 'b-low'));
});

test('without a default service or domain a miss is a miss', () => {
  const t = compileTable({ routes: [route('a', { host: 'a.test', path: '/api', service: 'a' })] });
  assert.equal(matchRoute(t, 'a.test', '/'), undefined);
  assert.equal(matchRoute(t, 'b.test', '/api'), undefined);
  assert.equal(matchRoute(t, 'a.test', '/api/x')?.route.service, 'a');
});

test('explain says why', () => {
  const c = matchRoute(table, 'shop.example.com', '/static/y')!;
  assert.match(describeMatch(c, 'shop.example.com', '/static/y'), /wildcard "\*\.example\.com".*prefix "\/static"/);
});

test('https redirect of a route: to the port HTTPS is served on (left out at 443), only for plain HTTP, never to a Host that is no authority', () => {
  const secure = route('r', { service: 'web', https: 'redirect' });
  const cases: [host: string, proto: 'http' | 'https', httpsPort: number | undefined, location: string | undefined][] = [
    ['www.example.com', 'http', undefined, 'https://www.example.com/a?b'],
    ['www.example.com:8080', 'http', 443, 'https://www.example.com/a?b'],
    ['WWW.Example.com:8080', 'http', 8443, 'https://www.example.com:8443/a?b'],
    ['[::1]:80', 'http', 8443, 'https://[::1]:8443/a?b'],
    ['www.example.com', 'https', 8443, undefined],
    ['', 'http', 8443, undefined],
    ['bad host', 'http', 8443, undefined],
  ];
  for (const [host, proto, port, location] of cases) {
    const action = routeAction(secure, '/a?b', '/a', host, proto, port);
    if (location === undefined) assert.equal(action.kind, 'forward', `${host} ${proto}`);
    else assert.deepEqual(action, { kind: 'redirect', status: 308, location }, `${host} ${proto} ${port}`);
  }
});
