import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdCluster } from '../harness/etcd.ts';
import { runBeacon, startBeacon } from '../harness/beacon.ts';
import { waitFor } from '../harness/wait.ts';

test('beacon services lists instances as a table and as JSON; --watch follows changes', { timeout: 60_000 }, async (t) => {
  const etcd = await EtcdCluster.start();
  t.after(() => etcd.stop());
  await etcd.put('/services/web/web1-80', '10.0.0.1:80');
  await etcd.put('/services/web/web2-80', '{"host":"10.0.0.2","port":80}');
  await etcd.put('/services/db/pg', 'http://10.0.0.9:5432');
  const table = await runBeacon(['services', '--store', etcd.url]);
  assert.equal(table.code, 0, table.stderr);
  assert.deepEqual(table.stdout.trimEnd().split('\n'), [
    'SERVICE  INSTANCE  ADDRESS        KEY',
    'db       pg        10.0.0.9:5432  /services/db/pg',
    'web      web1-80   10.0.0.1:80    /services/web/web1-80',
    'web      web2-80   10.0.0.2:80    /services/web/web2-80',
    '2 service(s), 3 instance(s)',
  ]);
  const json = await runBeacon(['services', '--json', '--store', etcd.url]);
  assert.equal(JSON.parse(json.stdout).length, 3);

  const watch = startBeacon(['services', '--watch', '--json', '--store', etcd.url]);
  t.after(() => watch.stop('SIGKILL'));
  await waitFor('first table', () => watch.output().includes('web2-80'), 10_000);
  await etcd.put('/services/web/web3-80', '10.0.0.3:80');
  await waitFor('live update', () => watch.output().includes('web3-80'), 5000);
  assert.equal((await watch.stop('SIGINT')).code, 0);

  const down = await runBeacon(['services', '--store', 'etcd://127.0.0.1:1', '--timeout', '1s']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /store did not answer/);
});
