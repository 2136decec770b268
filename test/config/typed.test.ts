// Typed configuration: the config type comes from the flag list, so a renamed or misspelled flag
// is a compile error. `npm test` type-checks this file (tsc -p test/tsconfig.json): every
// `@ts-expect-error` below must meet an error, and every plain line must compile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STORE_FLAGS, type StoreConfig } from '../../dist/config/common.js';
import { camelCase, parseFlags, type FlagSpec } from '../../dist/config/flags.js';
import type { CamelCase, ConfigOf } from '../../dist/config/typed.js';
import { PROXY_FLAGS, type ProxyConfig } from '../../dist/proxy/config.js';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(proof: Equals<A, B>): void => assert.equal(proof, true);

const SPECS = [
  { name: 'listen', type: 'addr', default: '0.0.0.0:80', help: '' },
  { name: 'max-tries', type: 'int', default: 3, help: '' },
  { name: 'fail-timeout', type: 'duration', default: 10_000, help: '' },
  { name: 'port', type: 'port', help: '' },
  { name: 'access-log', type: 'bool', default: true, help: '' },
  { name: 'route', type: 'list', default: [], help: '' },
  { name: 'domain', type: 'string', help: '' },
  { name: 'engine', type: 'string', choices: ['fast', 'portable', 'auto'], default: 'auto', help: '' },
  { name: 'ip-v6-only', type: 'bool', help: '' },
] as const satisfies readonly FlagSpec[];

test('ConfigOf: camelCase keys, value types by flag type, optional without a default', () => {
  same<
    ConfigOf<typeof SPECS>,
    {
      listen: string;
      maxTries: number;
      failTimeout: number;
      port?: number;
      accessLog: boolean;
      route: string[];
      domain?: string;
      engine: 'fast' | 'portable' | 'auto';
      ipV6Only?: boolean;
    }
  >(true);
  same<CamelCase<'upstream-header-timeout'>, 'upstreamHeaderTimeout'>(true);
  // the type's camelCase is parseFlags' camelCase: every flag given lands on the key the type names
  const parsed = parseFlags(SPECS, { argv: ['--port', '8080', '--domain', 'example.com', '--ip-v6-only'], env: {} }) as ConfigOf<typeof SPECS>;
  const keys: (keyof ConfigOf<typeof SPECS>)[] = ['listen', 'maxTries', 'failTimeout', 'port', 'accessLog', 'route', 'domain', 'engine', 'ipV6Only'];
  assert.deepEqual(Object.keys(parsed).sort(), [...keys].sort());
  assert.deepEqual(SPECS.map((s) => camelCase(s.name)).sort(), [...keys].sort());
  assert.equal(parsed.engine, 'auto');
  assert.equal(parsed.ipV6Only, true);
});

test('ProxyConfig comes from PROXY_FLAGS and STORE_FLAGS: a misspelled or renamed field does not compile', () => {
  const config = parseFlags([...PROXY_FLAGS, ...STORE_FLAGS], { argv: ['--max-tries', '5'], env: {} }) as unknown as ProxyConfig;
  const tries: number = config.maxTries;
  const routes: string[] = config.route;
  const log: boolean = config.accessLog;
  const domain: string | undefined = config.domain;
  const store: string = config.store;
  const password: string | undefined = config.etcdPassword;
  assert.equal(tries, 5);
  assert.deepEqual(routes, []);
  assert.equal(log, true);
  assert.equal(domain, undefined);
  assert.equal(store, 'etcd://127.0.0.1:2379');
  assert.equal(password, undefined);
  // @ts-expect-error -- misspelled: there is no --max-try flag
  assert.equal(config.maxTry, undefined);
  // @ts-expect-error -- the kebab-case name is not a field
  assert.equal(config['max-tries'], undefined);
  // @ts-expect-error -- --domain has no default, so it may be missing
  const required: string = config.domain;
  assert.equal(required, undefined);
  // @ts-expect-error -- --log-level has choices: the type is their union, not any string
  const level: StoreConfig['logLevel'] = 'loud';
  assert.equal(level, 'loud');
});
