import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBeacon } from '../harness/beacon.ts';
import { EtcdCluster } from '../harness/etcd.ts';
import { sleep, waitFor } from '../harness/wait.ts';

test('render keeps the last good file while etcd is down and catches up when it returns', { timeout: 90_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  const dir = mkdtempSync(join(tmpdir(), 'beacon-render-outage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'upstreams.conf');
  const reloads = join(dir, 'reloads');
  await etcd.put('/services/web/a', '10.0.0.1:80');
  await etcd.put('/services/web/junk', 'not an address');
  const render = startBeacon([
    'render', '--store', etcd.url, '--nginx-upstreams', file, '--reload-cmd', `echo reload >> ${reloads}`, '--wait', '100ms:500ms',
  ]);
  t.after(() => render.stop('SIGKILL'));
  const content = (): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  await waitFor('first render', () => content().includes('server 10.0.0.1:80;'), 15_000);
  assert.doesNotMatch(content(), /not an address/, 'a malformed value is skipped');
  const good = content();

  await etcd.stopMember(etcd.members[0]!, 'SIGKILL');
  await sleep(5000);
  assert.equal(content(), good, 'the last good file stays while etcd is down');
  assert.equal(render.child.exitCode, null, 'render keeps running');

  await etcd.restartMember(etcd.members[0]!);
  await etcd.put('/services/web/b', '10.0.0.2:80');
  await waitFor('caught up after etcd returned', () => content().includes('server 10.0.0.2:80;'), 20_000, 100);
  assert.match(content(), /server 10\.0\.0\.1:80;/);
});
