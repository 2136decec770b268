import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { ADMIN_FLAG, STORE_FLAGS, type StoreConfig } from '../config/common.js';
import { camelCase, formatHelp, parseFlags, type FlagSpec, type ParsedFlags } from '../config/flags.js';
import { describeCause, UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { ModeContext, ModeDefinition, RunningMode } from '../mode.js';
import { MODES } from './modes.js';
import { runDemoApp } from '../demo/command.js';

export interface CliIo {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable;
}

const VERSION = '0.1.0';

export function mainHelp(): string {
  const width = Math.max(...MODES.map((m) => m.name.length));
  return [
    'Usage: beacon <mode> [flags]',
    '',
    'Service discovery for container clusters: one binary replaces sidekick units, SkyDNS and confd+nginx.',
    '',
    'Modes:',
    ...MODES.map((m) => `  ${m.name.padEnd(width)}  ${m.summary}`),
    '',
    'Run `beacon <mode> --help` for the flags of a mode. Every flag also reads BEACON_<FLAG> from the',
    'environment and camelCase keys from --config FILE. Precedence: flag > env > file > default.',
    'Exit codes: 0 clean shutdown, 2 bad usage or config, 1 runtime failure.',
    '',
  ].join('\n');
}

export function flagsOf(mode: ModeDefinition): FlagSpec[] {
  return [...mode.flags, ...STORE_FLAGS, ...(mode.daemon ? [ADMIN_FLAG] : [])];
}

export function modeHelp(mode: ModeDefinition): string {
  return formatHelp(mode.usage, mode.summary, [
    { title: 'Flags', specs: mode.flags },
    { title: 'Store', specs: STORE_FLAGS },
    { title: 'Admin', specs: mode.daemon ? [ADMIN_FLAG] : [] },
  ]);
}

/** Every camelCase key any mode accepts: a config file shared by several modes is not an error. */
function knownConfigKeys(): Set<string> {
  return new Set(MODES.flatMap((m) => flagsOf(m).map((f) => camelCase(f.name))));
}

function loadConfigFile(argv: readonly string[], env: CliIo['env']): { path?: string; data?: Record<string, unknown> } {
  let path = env.BEACON_CONFIG || undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--config') path = argv[i + 1];
    else if (arg.startsWith('--config=')) path = arg.slice('--config='.length);
  }
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError('--config', `cannot read ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new UsageError('--config', `${path} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return { path, data: {} };
  if (typeof data !== 'object' || Array.isArray(data)) throw new UsageError('--config', `${path} must hold a mapping of flag names to values`);
  return { path, data: data as Record<string, unknown> };
}

export function findMode(name: string): ModeDefinition | undefined {
  return MODES.find((m) => m.name === name);
}

/** Parses a mode's command line exactly as `beacon` would (used by tests and docs checks). */
export function parseModeArgs(mode: ModeDefinition, given: readonly string[], env: CliIo['env'] = {}): ParsedFlags {
  const first = given[0];
  const argv = mode.positional !== undefined && first !== undefined && !first.startsWith('-') ? [`--${mode.positional}`, ...given] : given;
  const file = loadConfigFile(argv, env);
  return parseFlags(flagsOf(mode), { argv, env, ...(file.data ? { file: file.data } : {}), knownFileKeys: knownConfigKeys() });
}

/** Runs beacon; resolves with the process exit code. */
export async function main(io: CliIo): Promise<number> {
  const [modeName, ...rest] = io.argv;
  if (modeName === undefined || modeName === '--help' || modeName === '-h' || modeName === 'help') {
    io.stdout.write(mainHelp());
    return modeName === undefined ? 2 : 0;
  }
  if (modeName === 'demo-app') return runDemoApp(rest);
  if (modeName === '--version' || modeName === '-v') {
    io.stdout.write(`beacon ${VERSION}\n`);
    return 0;
  }
  const mode = findMode(modeName);
  if (!mode) {
    io.stderr.write(`beacon: unknown mode ${JSON.stringify(modeName)}; modes: ${MODES.map((m) => m.name).join(', ')}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(modeHelp(mode));
    return 0;
  }

  let flags: ParsedFlags;
  let log: Logger;
  let running: RunningMode;
  let store: Store | undefined;
  const metrics = new Registry();
  try {
    // words before the flags, for the modes that take them (`beacon tls put NAME --cert ...`)
    let words = 0;
    while (words < (mode.positionals ?? 0) && words < rest.length && !rest[words]!.startsWith('-')) words++;
    const args = rest.slice(0, words);
    flags = parseModeArgs(mode, rest.slice(words), io.env);
    log = createLogger((flags.logLevel ?? (mode.daemon ? 'info' : 'warn')) as 'info', { mode: mode.name });
    // The store backends (etcd's gRPC client, the file watcher) load only for a mode that runs.
    const { openStore } = await import('../store/open.js');
    const ctx: ModeContext = {
      flags,
      log,
      metrics,
      env: io.env,
      stdout: io.stdout,
      args,
      store: () => (store ??= openStore(flags as unknown as StoreConfig)),
    };
    running = await mode.create(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`beacon ${mode.name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  if (mode.daemon) collectDefaultMetrics({ register: metrics });
  const admin = typeof flags.admin === 'string' ? new (await import('../admin/server.js')).AdminServer(flags.admin, running, metrics, mode.name) : undefined;

  let stopping: Promise<number> | undefined;
  const shutdown = (reason: string, code: number): Promise<number> =>
    (stopping ??= (async () => {
      log.info({ reason }, 'shutting down');
      try {
        await running.stop();
      } catch (err) {
        log.error({ err: describeCause(err) }, 'error while stopping');
        code = code || 1;
      }
      await admin?.stop();
      await store?.close().catch(() => undefined);
      return code;
    })());

  const signals = new Promise<number>((resolve) => {
    let first = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      // npm and a terminal both deliver one Ctrl-C: only a second press, later, means "now".
      if (first > 0 && Date.now() - first < 1000) return;
      if (first > 0) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      first = Date.now();
      resolve(shutdown(signal, 0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  try {
    if (admin) {
      const where = await admin.start();
      log.info({ admin: `${where.address}:${where.port}` }, 'admin endpoint listening');
    }
    await running.start();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`beacon ${mode.name}: ${err.message}\n`);
      await shutdown('bad usage', 2);
      return 2;
    }
    log.fatal({ err: describeCause(err) }, 'failed to start');
    return shutdown('start failed', 1);
  }

  if (running.finished) {
    const code = await Promise.race([running.finished, signals]);
    return stopping ?? shutdown('finished', code);
  }
  return signals;
}
