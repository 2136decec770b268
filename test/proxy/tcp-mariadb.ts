// A real MariaDB per test file (Debian mariadb-server): its own temp datadir, a loopback port,
// a passwordless user `beacon`@`%` for TCP clients. Installed through test/setup.mjs's
// ensurePackages when missing (as root), else the run fails naming the packages.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../harness/ports.ts';
import { spawnTracked, type Tracked } from '../harness/procs.ts';
import { waitFor } from '../harness/wait.ts';

const run = promisify(execFile);

export const MARIADB_PACKAGES = [
  ['mariadbd', 'mariadb-server'],
  ['mariadb', 'mariadb-client'],
  ['socat', 'socat'],
];

export async function ensureMariaDbPackages(): Promise<void> {
  const setup = '../setup.mjs';
  const { ensurePackages } = (await import(setup)) as { ensurePackages(needed: string[][]): void };
  ensurePackages(MARIADB_PACKAGES);
}

function sbin(name: string): string {
  return existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : name;
}

export interface MariaDb {
  port: number;
  process: Tracked;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startMariaDb(options: { proxyProtocolNetworks?: string } = {}): Promise<MariaDb> {
  await ensureMariaDbPackages();
  const dir = mkdtempSync(join(tmpdir(), 'beacon-mariadb-'));
  const data = join(dir, 'data');
  await run(sbin('mariadb-install-db'), ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root'], { timeout: 60_000 }).catch(async (err: unknown) => {
    // as a normal user --user=root is refused; the datadir is ours anyway
    if (process.getuid?.() === 0) throw err;
    await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { timeout: 60_000 });
  });
  // one statement per line: --init-file runs each line as a statement
  writeFileSync(join(dir, 'init.sql'), "CREATE USER IF NOT EXISTS 'beacon'@'%';\nGRANT ALL ON *.* TO 'beacon'@'%';\n");
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${join(dir, 'mysqld.sock')}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    `--init-file=${join(dir, 'init.sql')}`,
    '--innodb-buffer-pool-size=16M',
    '--skip-log-bin',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ...(options.proxyProtocolNetworks ? [`--proxy-protocol-networks=${options.proxyProtocolNetworks}`] : []),
  ];
  const proc = spawnTracked(sbin('mariadbd'), args);
  try {
    await waitFor('mariadbd ready', () => {
      if (proc.child.exitCode !== null) throw new Error(`mariadbd exited: ${proc.output().slice(-2000)}`);
      return proc.output().includes('ready for connections');
    }, 60_000, 50);
  } catch (err) {
    await proc.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- mariadbd output ---\n${proc.output().slice(-2000)}`);
  }
  return {
    port,
    process: proc,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      await proc.stop(signal, 20_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `sql` with the mariadb client against 127.0.0.1:port; the rows, tab-separated. */
export async function query(port: number, sql: string, timeoutMs = 20_000): Promise<string> {
  const { stdout } = await run('mariadb', ['--no-defaults', '--protocol=TCP', '-h127.0.0.1', `-P${port}`, '-ubeacon', '-N', '-B', '-e', sql], { timeout: timeoutMs });
  return stdout.trim();
}

/** The mariadb client as a tracked process (long queries, slow readers). */
export function queryProcess(port: number, sql: string, extra: string[] = []): Tracked {
  return spawnTracked('mariadb', ['--no-defaults', '--protocol=TCP', '-h127.0.0.1', `-P${port}`, '-ubeacon', '-N', '-B', ...extra, '-e', sql]);
}
