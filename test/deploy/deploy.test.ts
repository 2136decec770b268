import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { findMode, parseModeArgs } from '../../dist/cli/main.js';
import { beaconInvocations, markdownCode, shellWords } from './commands.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(ROOT, join(d.parentPath, d.name)));
}

function assertAccepted(where: string, invocation: string[]): void {
  const [modeName, ...args] = invocation;
  const mode = findMode(modeName!);
  assert.ok(mode, `${where}: unknown mode ${modeName}`);
  assert.doesNotThrow(() => parseModeArgs(mode, args, {}), `${where}: beacon ${invocation.join(' ')}`);
}

test('shell words and invocation extraction', () => {
  assert.deepEqual(shellWords(`a "b c" 'd e' f\\ g # comment`), ['a', 'b c', 'd e', 'f g']);
  assert.deepEqual(beaconInvocations('x | /usr/bin/beacon dns --listen :53 && echo\nnode dist/cli.js services --json'), [
    ['dns', '--listen', ':53'],
    ['services', '--json'],
  ]);
});

type Compose = { services: Record<string, { image?: string; command?: string[]; ports?: string[]; profiles?: string[]; network_mode?: string; environment?: Record<string, string> }> };

test('compose files parse, have the services and ports, and use real beacon flags', () => {
  const base = parseYaml(readFileSync(join(ROOT, 'docker/docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
  for (const name of ['etcd', 'app1', 'app1-announce', 'app2', 'app2-announce', 'dns', 'proxy', 'nginx', 'render']) {
    assert.ok(base.services[name], `service ${name}`);
  }
  assert.deepEqual(base.services.dns!.ports, ['53:53/udp', '53:53/tcp']);
  assert.deepEqual(base.services.proxy!.ports, ['80:80']);
  assert.equal(base.services['app1-announce']!.network_mode, 'service:app1');
  assert.equal(base.services['app2-announce']!.network_mode, 'service:app2');
  const cluster = parseYaml(readFileSync(join(ROOT, 'docker/docker-compose.etcd-cluster.yml'), 'utf8'), { merge: true }) as Compose;
  for (const name of ['etcd1', 'etcd2', 'etcd3']) assert.ok(cluster.services[name]?.command?.some((c) => c.startsWith('--initial-cluster=')), name);
  assert.equal(cluster.services.dns!.environment!.BEACON_STORE, 'etcd://etcd1:2379,etcd2:2379,etcd3:2379');
  let checked = 0;
  for (const [name, service] of Object.entries(base.services)) {
    if (service.image !== 'beacon:latest') continue;
    assert.ok(service.command, `${name} has a command`);
    assertAccepted(`docker-compose.yml ${name}`, service.command);
    assert.doesNotThrow(() => parseModeArgs(findMode(service.command![0]!)!, [], { BEACON_STORE: service.environment!.BEACON_STORE! }));
    checked++;
  }
  assert.equal(checked, 5);
});

test('every beacon command line in docker/, examples/, config/ and README.md is accepted by the parser', () => {
  const files = ['README.md', ...filesUnder('examples'), ...filesUnder('docker'), ...filesUnder('config')].filter((f) => !f.endsWith('.yml') && !f.endsWith('.json'));
  let count = 0;
  for (const file of files) {
    // systemd specifiers as systemd would expand them for `apache@1.service` on host1.
    const text = readFileSync(join(ROOT, file), 'utf8').replace(/%i/g, '1').replace(/%H/g, 'host1');
    for (const invocation of beaconInvocations(file.endsWith('.md') ? markdownCode(text) : text)) {
      assertAccepted(file, invocation);
      count++;
    }
  }
  assert.ok(count >= 10, `found ${count} invocations`);
});

test('config/ examples document every flag of their mode and parse', () => {
  const files = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(files.sort(), ['announce.yaml', 'dns.yaml', 'proxy.yaml', 'render.yaml']);
  for (const file of files) {
    const mode = findMode(file.replace(/\.yaml$/, ''));
    assert.ok(mode, `config/${file} names a mode`);
    const text = readFileSync(join(ROOT, 'config', file), 'utf8');
    // Every key appears, commented out or set, so the file is the full reference.
    for (const flag of mode.flags) {
      const key = flag.name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
      assert.match(text, new RegExp(`^#? ?${key}:`, 'm'), `config/${file} documents ${key}`);
    }
    assert.doesNotThrow(() => parseModeArgs(mode, ['--config', join(ROOT, 'config', file)], {}), file);
  }
  // And they are what the generator makes of today's flags (run `npm run config` after a flag change).
  const fresh = mkdtempSync(join(tmpdir(), 'beacon-config-'));
  try {
    execFileSync(process.execPath, [join(ROOT, 'config/generate.mjs'), fresh], { stdio: 'pipe' });
    for (const file of files) {
      assert.equal(readFileSync(join(ROOT, 'config', file), 'utf8'), readFileSync(join(fresh, file), 'utf8'), `config/${file} is current`);
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});

test('Dockerfile: what it copies exists; its build steps succeed in a clean copy; the entry point starts', { timeout: 300_000 }, async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n');
  const copies = lines.filter((l) => /^COPY\s/.test(l) && !l.includes('--from='));
  assert.ok(copies.length >= 3);
  for (const line of copies) {
    const words = shellWords(line).slice(1);
    for (const src of words.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `Dockerfile copies ${src}, which exists`);
  }
  assert.match(dockerfile, /^USER node$/m, 'runs as non-root');
  assert.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/dist\/cli\.js"\]$/m);
  assert.match(dockerfile, /^EXPOSE 53\/udp 53\/tcp 80$/m);
  assert.match(dockerfile, /^HEALTHCHECK /m);
  assert.match(dockerfile, /^FROM node:\$\{NODE_VERSION\}-[\w.-]*slim/m);
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8');
  assert.match(ignored, /^node_modules$/m);

  // The build stage's steps, in a clean copy of the tracked files.
  const work = mkdtempSync(join(tmpdir(), 'beacon-docker-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const build = join(work, 'src');
  const app = join(work, 'app');
  // What `docker build .` sends as context: the working tree (less .dockerignore), not git's index.
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) {
    cpSync(join(ROOT, file), join(build, file), { recursive: true });
  }
  const npm = (cwd: string, ...args: string[]): void => {
    execFileSync('npm', args, { cwd, stdio: 'pipe', timeout: 240_000 });
  };
  npm(build, 'ci', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline');
  try {
    execFileSync(process.execPath, [join(build, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: build, encoding: 'utf8' });
  } catch (err) {
    assert.fail(`tsc failed in the clean copy:\n${(err as { stdout?: string }).stdout}`);
  }
  // The runtime stage: production dependencies only, plus the built dist.
  cpSync(join(build, 'package.json'), join(app, 'package.json'));
  cpSync(join(build, 'package-lock.json'), join(app, 'package-lock.json'));
  npm(app, 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline');
  assert.equal(existsSync(join(app, 'node_modules/typescript')), false, 'no dev dependencies in the image');
  cpSync(join(build, 'dist'), join(app, 'dist'), { recursive: true });
  assert.ok(statSync(join(app, 'dist/cli.js')).isFile());
  const help = execFileSync(process.execPath, [join(app, 'dist/cli.js'), '--help'], { encoding: 'utf8' });
  assert.match(help, /Usage: beacon <mode>/);
  for (const mode of ['announce', 'dns', 'proxy', 'render', 'services', 'demo']) {
    const out = execFileSync(process.execPath, [join(app, 'dist/cli.js'), mode, '--help'], { encoding: 'utf8' });
    assert.match(out, new RegExp(`Usage: beacon ${mode}`));
  }
  // The entry point starts a mode for real from the production install.
  const services = execFileSync(process.execPath, [join(app, 'dist/cli.js'), 'services', '--json', '--store', `file://${join(work, 'store')}`], { encoding: 'utf8' });
  assert.equal(services.trim(), '[]');
});
