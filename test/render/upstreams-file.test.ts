// The --nginx-upstreams file kept as one block per service between changes (UpstreamsFile), and
// the template values copied per changed key (ValuesMirror): pure, no I/O.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderUpstreams, UPSTREAMS_HEADER, UpstreamsFile, upstreamBlocks } from '../../dist/render/upstreams.js';
import { ValuesMirror } from '../../dist/render/mirror.js';

interface Inst {
  service: string;
  id: string;
  key: string;
  host: string;
  port: number;
  weight?: number;
}
const inst = (service: string, id: string, host: string, port: number, weight?: number): Inst => ({ service, id, key: `/services/${service}/${id}`, host, port, ...(weight === undefined ? {} : { weight }) });
const names = (content: string): [string, number][] => upstreamBlocks(content).map((b) => [b.name, b.servers]);

test('UpstreamsFile renders a changed service once and reuses every unchanged block', () => {
  const web = [inst('web', 'a', '10.0.0.1', 80)];
  const api = [inst('api', 'x', '10.0.0.9', 8080, 3)];
  const file = new UpstreamsFile();
  // steps: the services map (as the catalog's services() returns it), then blocks rendered so far and the file's blocks
  const steps: [string, Map<string, Inst[]>, number, [string, number][], string[]][] = [
    ['first: every service', new Map([['api', api], ['web', web]]), 2, [['api', 1], ['web', 1]], []],
    ['nothing changed: same arrays', new Map([['api', api], ['web', web]]), 2, [['api', 1], ['web', 1]], []],
    ['same instances in a new array (the catalog re-sorted)', new Map([['api', [...api]], ['web', web]]), 2, [['api', 1], ['web', 1]], []],
    ['same value put again (a new instance object)', new Map([['api', [inst('api', 'x', '10.0.0.9', 8080, 3)]], ['web', web]]), 2, [['api', 1], ['web', 1]], []],
    ['one service changed: one block', new Map([['api', api], ['web', [...web, inst('web', 'b', '10.0.0.2', 80)]]]), 3, [['api', 1], ['web', 2]], []],
    ['a weight changed: one block', new Map([['api', [inst('api', 'x', '10.0.0.9', 8080, 4)]], ['web', [...web, inst('web', 'b', '10.0.0.2', 80)]]]), 4, [['api', 1], ['web', 2]], []],
    ['a new service sorts in by name', new Map([['api', api], ['db', [inst('db', 'm', '10.0.1.1', 5432)]], ['web', web]]), 7, [['api', 1], ['db', 1], ['web', 1]], []],
    ['a removed service keeps its last block', new Map([['api', api], ['web', web]]), 7, [['api', 1], ['db', 1], ['web', 1]], ['db']],
    ['still kept; nothing rendered', new Map([['api', api], ['web', web]]), 7, [['api', 1], ['db', 1], ['web', 1]], ['db']],
    ['it comes back: rendered, no longer kept', new Map([['api', api], ['db', [inst('db', 'n', '10.0.1.2', 5432)]], ['web', web]]), 8, [['api', 1], ['db', 1], ['web', 1]], []],
  ];
  for (const [what, services, rendered, blocks, kept] of steps) {
    const u = file.update(services);
    const r = { ...u, content: u.bytes.toString() };
    assert.equal(file.blocksRendered, rendered, what);
    assert.deepEqual(names(r.content), blocks, what);
    assert.deepEqual(r.kept, kept, what);
    assert.ok(r.content.startsWith(UPSTREAMS_HEADER), what);
  }
  assert.match(file.update(new Map([['api', api], ['web', web]])).bytes.toString(), /upstream db \{\n    server 10\.0\.1\.2:5432;\n\}/, 'the last block of db is its latest');
});

test('UpstreamsFile gives the same file as a fresh render after every step', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const file = new UpstreamsFile();
  const services = new Map<string, Inst[]>();
  let previous: string | undefined;
  for (let step = 0; step < 300; step++) {
    const name = `s${random(12)}`;
    const list = services.get(name) ?? [];
    if (list.length > 0 && random(3) === 0) {
      const next = list.filter((_, i) => i !== random(list.length));
      if (next.length === 0) services.delete(name);
      else services.set(name, next);
    } else {
      const id = `i${random(4)}`;
      const host = random(10) === 0 ? 'bad host;' : `10.0.${random(3)}.${random(250) + 1}`;
      const next = [...list.filter((i) => i.id !== id), inst(name, id, host, 80, random(2) ? random(5) : undefined)].sort((a, b) => (a.id < b.id ? -1 : 1));
      services.set(name, next);
    }
    const sorted = new Map([...services].sort(([a], [b]) => (a < b ? -1 : 1)));
    const { bytes, ...rest } = file.update(sorted);
    const got = { content: bytes.toString(), ...rest };
    const want = renderUpstreams(sorted, previous);
    assert.deepEqual(got, want, `step ${step}`);
    previous = want.content;
  }
});

test('UpstreamsFile.seed keeps a previous file\'s blocks only for services without instances, under plain names', () => {
  const previous = `${UPSTREAMS_HEADER}upstream Bad_Name {\n    server 127.0.0.1:1;\n}\n\nupstream empty {\n}\n\nupstream old {\n    # a comment\n    server 10.9.9.9:80;\n}\n\nupstream web {\n    server 10.0.0.7:80;\n}\n`;
  const file = new UpstreamsFile();
  file.seed(previous);
  const u = file.update(new Map([['web', [inst('web', 'a', '10.0.0.1', 80)]]]));
  const r = { ...u, content: u.bytes.toString() };
  assert.deepEqual(names(r.content), [['old', 1], ['web', 1]]);
  assert.deepEqual(r.kept, ['old']);
  assert.match(r.content, /upstream old \{\n    # a comment\n    server 10\.9\.9\.9:80;\n\}/);
  assert.doesNotMatch(r.content, /10\.0\.0\.7/);
});

test('UpstreamsFile: a service whose every server is refused keeps its last block; refusals are listed every time', () => {
  const file = new UpstreamsFile();
  const good = [inst('web', 'a', '10.0.0.1', 80)];
  file.update(new Map([['web', good]]));
  const bad = [inst('web', 'a', '10.0.0.1; } server { listen 1', 80)];
  for (let i = 0; i < 2; i++) {
    const r = file.update(new Map([['web', bad]]));
    assert.deepEqual(r.refused, ['web/a']);
    assert.deepEqual(r.kept, ['web']);
    assert.match(r.bytes.toString(), /server 10\.0\.0\.1:80;/);
  }
  assert.equal(file.blocksRendered, 2);
});

test('ValuesMirror copies once, then follows changed keys; a reset or another source copies again', () => {
  const source = new Map([['/a', { value: '1' }], ['/b', { value: '2' }]]);
  const mirror = new ValuesMirror();
  mirror.update(source, 'all');
  assert.deepEqual([...mirror.values(source)], [['/a', '1'], ['/b', '2']]);
  assert.equal(mirror.copies, 1);

  source.set('/a', { value: '9' });
  source.delete('/b');
  source.set('/c', { value: '3' });
  mirror.update(source, new Set(['/a', '/b', '/c']));
  assert.deepEqual(new Map(mirror.values(source)), new Map([['/a', '9'], ['/c', '3']]));
  assert.equal(mirror.copies, 1, 'no second copy for a change');

  // a view handed to a run does not move until the next update
  const view = mirror.values(source);
  source.set('/d', { value: '4' });
  assert.equal(view.has('/d'), false);
  mirror.update(source, new Set(['/d']));
  assert.equal(view.get('/d'), '4');

  mirror.update(source, 'all');
  mirror.values(source);
  assert.equal(mirror.copies, 2);
  const other = new Map([['/z', { value: 'z' }]]);
  mirror.update(other, new Set(['/z']));
  assert.deepEqual([...mirror.values(other)], [['/z', 'z']]);
  assert.equal(mirror.copies, 3);
});
