// beacon proxy flag combinations: bad ones exit 2 naming the flag instead of crashing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBeacon } from '../harness/beacon.ts';
import { checkTimeouts } from '../../dist/proxy/command.js';

test('--client-request-timeout below --client-header-timeout exits 2 naming the flag', { timeout: 30_000 }, async () => {
  for (const args of [
    ['--client-header-timeout', '10s', '--client-request-timeout', '5s'],
    ['--client-request-timeout', '1s'],
    ['--client-request-timeout', '1s', '--workers', '2'],
  ]) {
    const r = await runBeacon(['proxy', '--store', 'etcd://127.0.0.1:1', '--listen', '127.0.0.1:0', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /--client-request-timeout/);
    assert.doesNotMatch(r.stderr, /RangeError/);
  }
});

test('checkTimeouts: 0 (none) and anything at least the header timeout are fine', () => {
  checkTimeouts({ clientHeaderTimeout: 10_000, clientRequestTimeout: 0 });
  checkTimeouts({ clientHeaderTimeout: 10_000, clientRequestTimeout: 10_000 });
  assert.throws(() => checkTimeouts({ clientHeaderTimeout: 10_000, clientRequestTimeout: 9_999 }), { name: 'UsageError', field: '--client-request-timeout' });
});
