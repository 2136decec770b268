/**
 * --tls-cert-dir: `NAME.crt` + `NAME.key` PEM pairs, watched. A change to either file re-reads
 * the pair after a short settle (a pair is usually replaced file by file); the store decides
 * whether it is served.
 */
import { watch, type FSWatcher } from 'chokidar';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { CertificateStore } from './cert-store.js';

/** how long after the last change of a pair's files it is read (a cert and key written one after the other) */
const SETTLE_MS = 150;
const PAIR_FILE = /^(.+)\.(crt|key)$/;

export class CertDirSource {
  private watcher: FSWatcher | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly store: CertificateStore,
  ) {}

  /** Reads every pair once, then watches. */
  async start(): Promise<void> {
    const names = new Set<string>();
    for (const file of await readdir(this.dir)) {
      const m = PAIR_FILE.exec(file);
      if (m) names.add(m[1]!);
    }
    for (const name of [...names].sort()) await this.load(name);
    this.watcher = watch(this.dir, { ignoreInitial: true, depth: 0 });
    const changed = (path: string): void => {
      const m = PAIR_FILE.exec(basename(path));
      if (m) this.schedule(m[1]!);
    };
    this.watcher.on('add', changed).on('change', changed).on('unlink', changed);
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  private schedule(name: string): void {
    clearTimeout(this.timers.get(name));
    this.timers.set(
      name,
      setTimeout(() => {
        this.timers.delete(name);
        if (!this.stopped) void this.load(name);
      }, SETTLE_MS),
    );
  }

  private async load(name: string): Promise<void> {
    const read = (ext: string): Promise<string | undefined> =>
      readFile(join(this.dir, `${name}.${ext}`), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
    try {
      const [cert, key] = await Promise.all([read('crt'), read('key')]);
      if (cert === undefined && key === undefined) this.store.offer('dir', name, undefined);
      else if (cert === undefined || key === undefined) this.store.offer('dir', name, undefined, `${name}.${cert === undefined ? 'crt' : 'key'} is missing from ${this.dir}`);
      else this.store.offer('dir', name, { cert, key });
    } catch (err) {
      this.store.offer('dir', name, undefined, `cannot read the pair: ${(err as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    await this.watcher?.close();
  }
}
