// render's command line: usage errors exit 2 naming the flag; help lists every flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBeacon } from '../harness/beacon.ts';

test('render --help lists every flag with its default', { timeout: 20_000 }, async () => {
  const r = await runBeacon(['render', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--confdir DIR', '--onetime', '--noop', '--watch', '--prefix', '--wait MIN[:MAX]', '--reload-timeout', '--nginx-upstreams FILE', '--check-cmd CMD', '--reload-cmd CMD', '--admin ADDR', '--store URL']) {
    assert.ok(r.stdout.includes(`  ${flag}`), `help lists ${flag}`);
  }
  assert.match(r.stdout, /\(default \/etc\/confd\)/);
  assert.match(r.stdout, /\(default 300ms:3s\)/);
});

test('render usage errors exit 2 and name the flag', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-render-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: [string[], RegExp][] = [
    [['--wait', '5s:1s'], /--wait: maximum \(1s\) is less than minimum \(5s\)/],
    [['--wait', 'soon'], /--wait: bad minimum "soon"/],
    [['--check-cmd', 'true'], /--check-cmd: only applies with --nginx-upstreams/],
    [['--nginx-upstreams', '/tmp/x.conf', '--reload-cmd', 'nginx -s {{ reload'], /--reload-cmd: "nginx -s \{\{ reload": command:1:12: unclosed action/],
    [['--nginx-upstreams', 'relative.conf'], /--nginx-upstreams: expected an absolute file path/],
    [['--confdir', join(dir, 'missing'), '--onetime'], /--confdir: .*conf\.d is not a directory/],
  ];
  for (const [args, want] of cases) {
    const r = await runBeacon(['render', '--store', 'etcd://127.0.0.1:1', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
});
