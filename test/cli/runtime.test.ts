// The supported runtime is stated once (package.json engines) and agreed with by the lockfile's
// pinned Node, the Dockerfile and README; below it, every command exits 2 with one line instead
// of a stack trace from a dependency. Checked with the machine's real older Node (Debian's
// nodejs package, /usr/bin/node) and with a faked version just below the minimum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBelow, minimumOf, parseVersion, runtimeProblem } from '../../dist/runtime.js';
import { CLI } from '../harness/beacon.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } }> };
const MINIMUM = minimumOf(pkg.engines.node)!;
const SHOWN = pkg.engines.node.replace(/^\s*>=\s*/, '');

test('version arithmetic', () => {
  assert.deepEqual(minimumOf('>=24'), [24, 0, 0]);
  assert.deepEqual(minimumOf('>= 22.12'), [22, 12, 0]);
  assert.deepEqual(minimumOf('>=24.1.2'), [24, 1, 2]);
  for (const unsupported of ['^24', '24.x', '>=24 <26', '']) assert.equal(minimumOf(unsupported), undefined, unsupported);
  assert.deepEqual(parseVersion('24.21.0'), [24, 21, 0]);
  assert.deepEqual(parseVersion('v25.0.0-pre'), [25, 0, 0]);
  const cases: [string, string, boolean][] = [
    ['20.20.2', '>=24', true],
    ['23.99.99', '>=24', true],
    ['24.0.0', '>=24', false],
    ['24.21.0', '>=24', false],
    ['30.0.0', '>=24', false],
    ['22.11.9', '>=22.12', true],
    ['22.12.0', '>=22.12', false],
  ];
  for (const [version, range, below] of cases) {
    assert.equal(isBelow(parseVersion(version)!, minimumOf(range)!), below, `${version} ${range}`);
    assert.equal(runtimeProblem(range, version), below ? `beacon needs Node.js >= ${range.slice(2)} (this is ${version})` : undefined);
  }
});

test('engines, the pinned Node, the Dockerfile and README agree', () => {
  assert.ok(MINIMUM, `package.json engines.node ${JSON.stringify(pkg.engines.node)} is ">=X[.Y[.Z]]"`);
  assert.equal(lock.packages['']?.engines?.node, pkg.engines.node, 'package-lock.json has the same engines');
  const pinned = lock.packages['node_modules/node']?.version;
  assert.ok(pinned, 'the node devDependency is locked');
  assert.equal(isBelow(parseVersion(pinned)!, MINIMUM), false, `pinned Node ${pinned} satisfies ${pkg.engines.node}`);
  assert.equal(process.versions.node, pinned, 'the tests run on the pinned Node');
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const arg = /^ARG NODE_VERSION=(\S+)$/m.exec(dockerfile)?.[1];
  assert.equal(arg, pinned.split('.').slice(0, 2).join('.'), 'the image pins the minor version the tests run on');
  const froms = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
  assert.ok(froms.length >= 1);
  for (const from of froms) assert.match(from, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim\b/);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(`Node.js >= ${SHOWN}`), `README states Node.js >= ${SHOWN}`);
});

function run(node: string, args: readonly string[], nodeArgs: readonly string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(node, [...nodeArgs, CLI, ...args], { timeout: 20_000, env: { ...process.env, BEACON_STORE: 'etcd://127.0.0.1:1' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

const COMMANDS = [['--help'], ['--version'], ['dns', '--help'], ['dns', '--listen', '127.0.0.1:0'], ['proxy', '--listen', '127.0.0.1:0'], ['services', '--json'], ['nonsense']];

async function assertRefused(node: string, version: string, nodeArgs: readonly string[] = []): Promise<void> {
  for (const args of COMMANDS) {
    const r = await run(node, args, nodeArgs);
    assert.equal(r.code, 2, `beacon ${args.join(' ')} on ${version}: ${r.stderr}`);
    assert.equal(r.stderr, `beacon needs Node.js >= ${SHOWN} (this is ${version})\n`, `beacon ${args.join(' ')}`);
    assert.equal(r.stdout, '');
  }
}

test('on an older real Node.js every command exits 2 with one line', { timeout: 120_000 }, async (t) => {
  // Debian's nodejs package is an older Node than the one the project pins
  const candidates = ['/usr/bin/node', '/usr/local/bin/node', ...(process.env.PATH ?? '').split(':').filter((d) => d && !d.includes('node_modules')).map((d) => join(d, 'node'))];
  const old = [...new Set(candidates)]
    .filter((path) => existsSync(path))
    .map((path) => ({ path, version: execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim() }))
    .find(({ version }) => isBelow(parseVersion(version)!, MINIMUM));
  assert.ok(old, `no Node.js older than ${pkg.engines.node} on this machine (install the Debian package nodejs: /usr/bin/node)`);
  t.diagnostic(`old Node: ${old.path} ${old.version}`);
  await assertRefused(old.path, old.version);
});

test('just below the minimum (faked process.versions) refused; the pinned Node runs', { timeout: 60_000 }, async () => {
  const below = MINIMUM[2] > 0 ? [MINIMUM[0], MINIMUM[1], MINIMUM[2] - 1] : MINIMUM[1] > 0 ? [MINIMUM[0], MINIMUM[1] - 1, 99] : [MINIMUM[0] - 1, 99, 99];
  const version = below.join('.');
  const fake = `--import=data:text/javascript,Object.defineProperty(process,'versions',{value:{...process.versions,node:'${version}'}})`;
  await assertRefused(process.execPath, version, [fake]);
  const ok = await run(process.execPath, ['--version']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^beacon \d/);
});
