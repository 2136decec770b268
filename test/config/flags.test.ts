import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../dist/config/duration.js';
import { parseFlags, type FlagSpec } from '../../dist/config/flags.js';
import { UsageError } from '../../dist/errors.js';

test('durations: 500ms, 2s, 1m, 1h, bare seconds; junk is rejected', () => {
  const cases: [string | number, number | undefined][] = [
    ['500ms', 500], ['2s', 2000], ['1m', 60_000], ['1h', 3_600_000], ['15', 15_000], ['0.5', 500], [30, 30_000],
    ['1.5s', 1500], ['', undefined], ['2 s', undefined], ['-1s', undefined], ['1d', undefined], ['abc', undefined], ['1e3', undefined],
  ];
  for (const [input, expected] of cases) assert.equal(parseDuration(input), expected, `parseDuration(${JSON.stringify(input)})`);
});

const SPECS: FlagSpec[] = [
  { name: 'port', type: 'port', help: '' },
  { name: 'ttl', type: 'duration', default: 15_000, help: '' },
  { name: 'rise', type: 'int', default: 2, min: 1, max: 100, help: '' },
  { name: 'wait', type: 'duration', min: 50, max: 60_000, help: '' },
  { name: 'route', type: 'list', default: [], help: '' },
  { name: 'no-recursion', type: 'bool', default: false, help: '' },
  { name: 'json', type: 'bool', default: false, help: '' },
];

test('precedence is flag > env > config file > default', () => {
  const file = { ttl: '30s', rise: 5, port: 1000 };
  const env = { BEACON_TTL: '20s', BEACON_PORT: '2000' };
  const flags = parseFlags(SPECS, { argv: ['--port', '3000'], env, file });
  assert.equal(flags.port, 3000);
  assert.equal(flags.ttl, 20_000);
  assert.equal(flags.rise, 5);
  const defaults = parseFlags(SPECS, { argv: [], env: {} });
  assert.equal(defaults.ttl, 15_000);
  assert.equal(defaults.rise, 2);
});

test('--name=value, booleans, --no-x, repeated lists accumulate', () => {
  const flags = parseFlags(SPECS, { argv: ['--port=8080', '--json', '--route', 'a=x', '--route', 'b=y,c=z', '--no-no-recursion'], env: {} });
  assert.equal(flags.port, 8080);
  assert.equal(flags.json, true);
  assert.deepEqual(flags.route, ['a=x', 'b=y', 'c=z']);
  assert.equal(flags.noRecursion, false);
});

test('bad input names the field and the accepted form', () => {
  const cases: [Parameters<typeof parseFlags>[1], RegExp][] = [
    [{ argv: ['--port', '80a'], env: {} }, /^--port: expected 1-65535, got "80a"$/],
    [{ argv: ['--port', '0'], env: {} }, /^--port: expected 1-65535/],
    [{ argv: ['--ttl', 'soon'], env: {} }, /^--ttl: expected a duration/],
    [{ argv: ['--rise', '0'], env: {} }, /^--rise: expected an integer in 1\.\.100/],
    [{ argv: ['--bogus', '1'], env: {} }, /^--bogus: unknown flag/],
    [{ argv: ['--wait', '2m'], env: {} }, /^--wait: expected a duration .*at least 50ms and at most 1m, got "2m"$/],
    [{ argv: ['--wait', '10ms'], env: {} }, /^--wait: expected a duration .*at least 50ms/],
    [{ argv: ['--port'], env: {} }, /^--port: missing value/],
    [{ argv: ['stray'], env: {} }, /^stray: unexpected argument/],
    [{ argv: [], env: { BEACON_TTL: 'x' } }, /^BEACON_TTL: expected a duration/],
    [{ argv: [], env: {}, file: { rise: 'many' } }, /^config field "rise": expected an integer/],
    [{ argv: [], env: {}, file: { typo: 1 } }, /^config field "typo": unknown field/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseFlags(SPECS, input), (err: unknown) => err instanceof UsageError && message.test(err.message), JSON.stringify(input));
  }
});

test('config keys of other modes are tolerated in a shared file', () => {
  const flags = parseFlags(SPECS, { argv: [], env: {}, file: { listen: ':53' }, knownFileKeys: new Set(['listen']) });
  assert.equal(flags.listen, undefined);
});
