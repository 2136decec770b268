// nginx upstream rendering and the empty-upstream guard; resources; --wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyUpstreams, renderUpstreams, UPSTREAMS_HEADER, upstreamBlocks } from '../../dist/render/upstreams.js';
import { minimalPrefixes, parseResource, resourceEntries, ResourceError } from '../../dist/render/resource.js';
import { Debouncer, parseWait } from '../../dist/render/wait.js';

const inst = (service: string, id: string, host: string, port: number, weight?: number) => ({ service, id, key: `/services/${service}/${id}`, host, port, ...(weight === undefined ? {} : { weight }) });

test('emptyUpstreams finds blocks without server lines, ignoring comments', () => {
  const cases: [string, string[]][] = [
    ['upstream app {\n  server 10.0.0.1:80;\n}\n', []],
    ['upstream app {\n  \n  \n}\n', ['app']],
    ['upstream app {\n  # server 10.0.0.1:80;\n  keepalive 8;\n}\nupstream b { server x:1; }', ['app']],
    ['http { upstream a { } upstream b { server 1.2.3.4:5 weight=2; } }', ['a']],
    ['server { listen 80; }', []],
  ];
  for (const [text, want] of cases) assert.deepEqual(emptyUpstreams(text), want, text);
});

test('renderUpstreams writes one sorted block per service with weights', () => {
  const services = new Map([
    ['web', [inst('web', 'a', '10.0.0.1', 80), inst('web', 'b', '10.0.0.2', 80, 5)]],
    ['api', [inst('api', 'x', 'fd00::1', 8080), inst('api', 'y', '10.0.0.3', 8080, 0)]],
  ]);
  const r = renderUpstreams(services, undefined);
  assert.deepEqual(r.kept, []);
  assert.equal(
    r.content,
    `${UPSTREAMS_HEADER}upstream api {\n    server [fd00::1]:8080;\n    server 10.0.0.3:8080 down;\n}\n\nupstream web {\n    server 10.0.0.1:80;\n    server 10.0.0.2:80 weight=5;\n}\n`,
  );
  assert.deepEqual(upstreamBlocks(r.content).map((b) => [b.name, b.servers]), [['api', 2], ['web', 2]]);
});

test('renderUpstreams keeps the last block of a service that lost every instance', () => {
  const first = renderUpstreams(new Map([['web', [inst('web', 'a', '10.0.0.1', 80)]], ['api', [inst('api', 'x', '10.0.0.9', 1)]]]), undefined).content;
  const next = renderUpstreams(new Map([['api', [inst('api', 'x', '10.0.0.9', 2)]]]), first);
  assert.deepEqual(next.kept, ['web']);
  assert.match(next.content, /upstream web \{\n    server 10\.0\.0\.1:80;\n\}/);
  assert.match(next.content, /server 10\.0\.0\.9:2;/);
  assert.deepEqual(emptyUpstreams(next.content), []);
});

test('parseResource reads confd TOML fields; keys join the prefix; errors name the field', () => {
  const r = parseResource('/c/conf.d/nginx.toml', `[template]
src = "nginx.conf.tpl"
dest = "/etc/nginx/nginx.conf"
prefix = "/production"
keys = [ "/services/app" ]
mode = "0640"
uid = 0
gid = 33
check_cmd = "nginx -t -c {{.src}}"
reload_cmd = "nginx -s reload"
`, '/c');
  assert.deepEqual(r, {
    file: '/c/conf.d/nginx.toml',
    name: 'nginx.toml',
    src: '/c/templates/nginx.conf.tpl',
    dest: '/etc/nginx/nginx.conf',
    keys: ['/production/services/app'],
    prefix: '/production',
    mode: 0o640,
    uid: 0,
    gid: 33,
    checkCmd: 'nginx -t -c {{.src}}',
    reloadCmd: 'nginx -s reload',
  });
  // the template sees keys without the prefix
  const values = new Map([['/production/services/app/a', '1.1.1.1:80'], ['/production/other', 'x'], ['/services/app/b', 'y']]);
  assert.deepEqual(resourceEntries(r, values), [['/services/app/a', '1.1.1.1:80']]);

  for (const [text, want] of [
    ['src = "x"', /missing \[template\] table/],
    ['[template]\ndest = "/x"\nkeys = ["/a"]', /missing "src"/],
    ['[template]\nsrc = "x"\ndest = "rel"\nkeys = ["/a"]', /"dest" must be an absolute path/],
    ['[template]\nsrc = "x"\ndest = "/x"\nkeys = "/a"', /"keys" must be a list of key prefixes/],
    ['[template]\nsrc = "x"\ndest = "/x"\nkeys = ["/a", ""]', /"keys" must be a list of key prefixes/],
    ['[template]\nsrc = "x"\ndest = "/x"\nkeys = ["/a"]\nmode = "rw"', /"mode" must be an octal string/],
    ['[template\nsrc=', /invalid TOML/],
    ['[template]\nsrc = "x"\ndest = "/x"\nkeys = ["/a"]\ncheck_cmd = "nginx -t -c {{.src"', /check_cmd "nginx -t -c \{\{\.src": command:1:/],
  ] as const) {
    assert.throws(() => parseResource('/c/conf.d/bad.toml', text, '/c'), (e: unknown) => e instanceof ResourceError && want.test(e.message) && e.message.startsWith('/c/conf.d/bad.toml: '));
  }
});

test('confd semantics: --prefix replaces the resource prefix; keys = [] reads nothing like no keys; a key entry reads itself and below, on a path boundary', () => {
  const toml = '[template]\nsrc = "t"\ndest = "/x"\nprefix = "/production"\nkeys = [ "/services/web" ]\n';
  assert.deepEqual(pick(parseResource('/c/conf.d/a.toml', toml, '/c')), { prefix: '/production', keys: ['/production/services/web'] });
  assert.deepEqual(pick(parseResource('/c/conf.d/a.toml', toml, '/c', '/staging')), { prefix: '/staging', keys: ['/staging/services/web'] });
  assert.deepEqual(pick(parseResource('/c/conf.d/a.toml', toml, '/c', 'staging/')), { prefix: '/staging', keys: ['/staging/services/web'] });
  for (const keys of ['keys = []\n', '']) {
    assert.deepEqual(pick(parseResource('/c/conf.d/a.toml', `[template]\nsrc = "t"\ndest = "/x"\n${keys}`, '/c')), { prefix: '/', keys: [] }, keys);
  }

  const r = parseResource('/c/conf.d/a.toml', '[template]\nsrc = "t"\ndest = "/x"\nkeys = [ "/services/web", "/nginx/" ]\n', '/c');
  const values = new Map([
    ['/services/web', 'parent'],
    ['/services/web/a', '10.0.0.1:80'],
    ['/services/web/x/y', 'deep'],
    ['/services/web-old/b', '10.0.0.2:80'],
    ['/services/webx', 'other'],
    ['/nginx/conf', 'c'],
    ['/nginxx', 'no'],
  ]);
  assert.deepEqual(resourceEntries(r, values).map(([k]) => k), ['/services/web', '/services/web/a', '/services/web/x/y', '/nginx/conf']);
  const none = parseResource('/c/conf.d/a.toml', '[template]\nsrc = "t"\ndest = "/x"\n', '/c');
  assert.deepEqual(resourceEntries(none, values), []);
});

function pick(r: { prefix: string; keys: readonly string[] }): { prefix: string; keys: readonly string[] } {
  return { prefix: r.prefix, keys: r.keys };
}

test('minimalPrefixes drops prefixes covered by others', () => {
  assert.deepEqual(minimalPrefixes(['/services/app', '/services/', '/services/web', '/nginx', '/nginx']), ['/nginx', '/services/']);
});

test('parseWait follows consul-template: MIN[:MAX], MAX defaults to 4 x MIN', () => {
  assert.deepEqual(parseWait('500ms:5s'), { minMs: 500, maxMs: 5000 });
  assert.deepEqual(parseWait('2s'), { minMs: 2000, maxMs: 8000 });
  assert.deepEqual(parseWait('0'), { minMs: 0, maxMs: 0 });
  assert.equal(typeof parseWait('5s:1s'), 'string');
  assert.equal(typeof parseWait('soon'), 'string');
  assert.equal(typeof parseWait('1s:2s:3s'), 'string');
});

test('Debouncer: quiet single change fires after MIN; a steady stream fires at most every MAX', async () => {
  const fired: number[] = [];
  const start = Date.now();
  const d = new Debouncer({ minMs: 100, maxMs: 300 }, () => fired.push(Date.now() - start));
  d.trigger();
  await sleep(200);
  assert.equal(fired.length, 1);
  assert.ok(fired[0]! >= 95 && fired[0]! < 400, `fired at ${fired[0]}`);

  // a change every 30 ms for 700 ms: never quiet for 100 ms, so MAX bounds the wait
  fired.length = 0;
  const burstStart = Date.now();
  let triggers = 0;
  while (Date.now() - burstStart < 700) {
    d.trigger();
    triggers++;
    await sleep(30);
  }
  await sleep(200);
  d.cancel();
  assert.ok(triggers >= 10);
  assert.ok(fired.length >= 2 && fired.length <= 6, `fired ${fired.length} times for ${triggers} triggers: ${fired.join(',')}`);
});
