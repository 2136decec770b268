// Store keys and values must never add nginx directives to the --nginx-upstreams file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../dist/log.js';
import { renderUpstreams, servicesFromValues, upstreamBlocks } from '../../dist/render/upstreams.js';

const INJECTION = '/services/x { server 127.0.0.1:1; } server { listen 127.0.0.1:18999; return 200 pwned; } upstream y/i1';

test('servicesFromValues skips and counts service names that are not DNS labels and odd instance ids', () => {
  const values = new Map([
    [INJECTION, '127.0.0.1:8080'],
    ['/services/Web/a', '10.0.0.1:80'],
    ['/services/web/a;b', '10.0.0.1:80'],
    ['/services/web/a b', '10.0.0.1:80'],
    ['/services/web/web1-8080', '10.0.0.2:80'],
    ['/services/web/bad', 'not a value'],
  ]);
  const stats = { malformed: 0 };
  const services = servicesFromValues(values, '/services', createLogger('silent'), stats);
  assert.deepEqual([...services.keys()], ['web']);
  assert.deepEqual(services.get('web')!.map((i) => i.id), ['web1-8080']);
  assert.equal(stats.malformed, 5);
});

test('renderUpstreams refuses names and servers that are not plain tokens', () => {
  const inst = (service: string, id: string, host: string, port: number) => ({ service, id, key: `/services/${service}/${id}`, host, port });
  const hostile = 'x { server 127.0.0.1:1; } server { listen 127.0.0.1:18999; return 200 pwned; } upstream y';
  const services = new Map([
    [hostile, [inst(hostile, 'i1', '127.0.0.1', 1)]],
    ['web', [inst('web', 'a', '10.0.0.1', 80), inst('web', 'b', '10.0.0.2; } server { listen 1', 80), inst('web', 'c', '10.0.0.3', 0)]],
    ['v6', [inst('v6', 'a', 'fd00::1', 8080)]],
  ]);
  // a previous file's block is kept only under a plain name
  const previous = 'upstream Bad_Name {\n    server 127.0.0.1:1;\n}\n';
  const r = renderUpstreams(services, previous);
  assert.doesNotMatch(r.content, /listen|pwned/);
  assert.deepEqual(upstreamBlocks(r.content).map((b) => [b.name, b.servers]), [['v6', 1], ['web', 1]]);
  assert.deepEqual(r.refused, [hostile, 'web/b', 'web/c']);
  assert.deepEqual(r.kept, []);
});

test('the exact injection key renders no listener end to end', () => {
  const services = servicesFromValues(new Map([[INJECTION, '127.0.0.1:8080'], ['/services/app/a', '10.0.0.1:80']]), '/services', createLogger('silent'));
  const r = renderUpstreams(services, undefined);
  assert.doesNotMatch(r.content, /listen|pwned|server \{/);
  assert.deepEqual(upstreamBlocks(r.content).map((b) => b.name), ['app']);
});
