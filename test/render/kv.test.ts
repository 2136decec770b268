// KeyValues: lookups over a large view stay fast (the keys are sorted once), results unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTemplate } from '../../dist/render/template/exec.js';
import { confdFuncs } from '../../dist/render/funcs.js';
import { KeyValues } from '../../dist/render/kv.js';

test('KeyValues: gets, getvs, ls and lsdir by prefix and glob', () => {
  const kv = new KeyValues([
    ['/services/web/b', '2'],
    ['/services/web/a', '1'],
    ['/services/webx/a', '9'],
    ['/services/api/a', '3'],
    ['/services', 'root'],
    ['/other/x', 'o'],
  ]);
  assert.deepEqual(kv.getAll('/services/web/*').map((p) => p.Key), ['/services/web/a', '/services/web/b']);
  assert.deepEqual(kv.getAll('/services/*/a').map((p) => p.Value), ['3', '1', '9']);
  assert.deepEqual(kv.getAll('/services/web/a').map((p) => p.Value), ['1']);
  assert.deepEqual(kv.getAll('/services/we?/*').map((p) => p.Key), ['/services/web/a', '/services/web/b']);
  assert.deepEqual(kv.getAll('*'), []);
  assert.deepEqual(kv.getAllValues('/services/*/*'), ['1', '2', '3', '9']);
  assert.deepEqual(kv.list('/services'), ['api', 'services', 'web', 'webx']);
  assert.deepEqual(kv.list('/services/web'), ['a', 'b']);
  assert.deepEqual(kv.listDir('/services'), ['api', 'web', 'webx']);
  assert.deepEqual(kv.listDir('/'), ['other', 'services']);
  assert.deepEqual(kv.keys(), ['/other/x', '/services', '/services/api/a', '/services/web/a', '/services/web/b', '/services/webx/a']);
});

test('KeyValues: 6000 keys, lsdir and gets per service renders in reasonable time', () => {
  const entries: [string, string][] = [];
  for (let s = 0; s < 2000; s++) for (let i = 0; i < 3; i++) entries.push([`/services/svc${s}/i${i}`, `10.${s >> 8}.${s & 255}.${i}:80`]);
  const kv = new KeyValues(entries);
  const src = '{{range $s := lsdir "/services"}}upstream {{$s}} {\n{{range gets (printf "/services/%s/*" $s)}}  server {{.Value}};\n{{end}}{{range getvs (printf "/services/%s/*" $s)}}{{end}}}\n{{end}}';
  const started = performance.now();
  const out = renderTemplate('t.tmpl', src, null, confdFuncs(kv, { env: {}, now: () => new Date(0) }));
  const ms = performance.now() - started;
  assert.equal(out.match(/^upstream /gm)?.length, 2000);
  assert.equal(out.match(/server /g)?.length, 6000);
  assert.match(out, /upstream svc1999 \{\n  server 10\.7\.207\.0:80;\n  server 10\.7\.207\.1:80;\n  server 10\.7\.207\.2:80;\n\}/);
  // ~0.2 s here; re-sorting every key per lookup took 2.3 s
  assert.ok(ms < 1500, `took ${ms} ms`);
});
