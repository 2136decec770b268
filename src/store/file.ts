import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { watch as watchFiles, type FSWatcher } from 'chokidar';
import { StoreError } from '../errors.js';
import type { ChangeEvent, KeyValue, Lease, Snapshot, Store, Watch, WatchHandlers } from './store.js';

/**
 * The embedded single-host store: one file per key under `<dir>/keys`, one per lease under
 * `<dir>/leases`, every write a rename so readers never see half a file. A key attached to a
 * lease whose file is missing or past its expiry does not exist, whoever cleans it up.
 * Several processes on one host share it; there is no consensus and no history.
 */
interface KeyFile {
  k: string;
  v: string;
  l?: string;
}

interface LeaseFile {
  ttlMs: number;
  expiresAt: number;
}

const POLL_MS = 250;
const RESYNC_MS = 5000;
const ORPHAN_GRACE_MS = 60_000;

export function keyFileName(key: string): string {
  const encoded = encodeURIComponent(key);
  return encoded.length <= 200 ? encoded : `h-${createHash('sha256').update(key).digest('hex')}`;
}

export class FileStore implements Store {
  readonly description: string;
  private revision = 0;
  /** full directory scans so far (a cost the watch keeps low) */
  scans = 0;
  private readonly keysDir: string;
  private readonly leasesDir: string;
  private readonly tmpDir: string;
  private ready: Promise<void> | undefined;
  private readonly snapshots = new Map<number, Map<string, KeyValue>>();
  private readonly openWatches = new Set<FileWatch>();
  private readonly heldLeases = new Set<FileLease>();
  private lockQueue: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {
    this.description = `file://${dir}`;
    this.keysDir = join(dir, 'keys');
    this.leasesDir = join(dir, 'leases');
    this.tmpDir = join(dir, 'tmp');
  }

  private async init(): Promise<void> {
    this.ready ??= Promise.all([
      mkdir(this.keysDir, { recursive: true }),
      mkdir(this.leasesDir, { recursive: true }),
      mkdir(this.tmpDir, { recursive: true }),
    ]).then(() => undefined);
    try {
      await this.ready;
    } catch (err) {
      this.ready = undefined;
      throw new StoreError('open', this.dir, { cause: err });
    }
  }

  nextRevision(): number {
    return ++this.revision;
  }

  /** Writes `content` to `path` so that readers see the old or the new file, never a part. */
  async writeAtomic(path: string, content: string): Promise<void> {
    const tmp = join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, content);
    await rename(tmp, path);
  }

  async readLeases(): Promise<Map<string, LeaseFile>> {
    const leases = new Map<string, LeaseFile>();
    for (const name of await readdir(this.leasesDir)) {
      const lease = await readJson<LeaseFile>(join(this.leasesDir, name));
      if (lease && typeof lease.expiresAt === 'number') leases.set(name, lease);
    }
    return leases;
  }

  /** Every live key (as a map) under the prefixes; also returns the leases it judged by. */
  async readView(prefixes: readonly string[]): Promise<{ view: Map<string, KeyValue>; leases: Map<string, LeaseFile> }> {
    await this.init();
    this.scans++;
    const now = Date.now();
    const leases = await this.readLeases();
    const view = new Map<string, KeyValue>();
    const revision = this.revision;
    for (const name of await readdir(this.keysDir)) {
      const file = await readJson<KeyFile>(join(this.keysDir, name));
      if (!file || typeof file.k !== 'string' || typeof file.v !== 'string') continue;
      if (!prefixes.some((p) => file.k.startsWith(p))) continue;
      if (file.l !== undefined) {
        let lease = leases.get(file.l);
        if (!lease) {
          // Granted after the lease listing above: look once more before calling the key dead.
          lease = await readJson<LeaseFile>(join(this.leasesDir, file.l));
          if (lease) leases.set(file.l, lease);
        }
        if (!lease || lease.expiresAt <= now) continue;
      }
      view.set(file.k, { key: file.k, value: file.v, ...(file.l ? { lease: file.l } : {}), modRevision: revision });
    }
    return { view, leases };
  }

  async read(prefixes: readonly string[]): Promise<Snapshot> {
    try {
      const { view } = await this.readView(prefixes);
      const revision = this.nextRevision();
      // Kept until a watch starts from it, so nothing between read() and watch() is lost.
      this.snapshots.set(revision, view);
      if (this.snapshots.size > 16) this.snapshots.delete(this.snapshots.keys().next().value!);
      return { revision, kvs: [...view.values()] };
    } catch (err) {
      throw err instanceof StoreError ? err : new StoreError('read', prefixes.join(','), { cause: err });
    }
  }

  async watch(prefixes: readonly string[], afterRevision: number, handlers: WatchHandlers): Promise<Watch> {
    await this.init();
    const baseline = this.snapshots.get(afterRevision) ?? new Map<string, KeyValue>();
    this.snapshots.delete(afterRevision);
    const watch = new FileWatch(this, prefixes, baseline, handlers, this.leasesDir, [this.keysDir, this.leasesDir], () =>
      this.openWatches.delete(watch),
    );
    this.openWatches.add(watch);
    await watch.start();
    return watch;
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    await this.init();
    await this.collectGarbage().catch(() => undefined);
    const id = BigInt(`0x${randomBytes(7).toString('hex')}`).toString();
    const lease = new FileLease(this, id, ttlMs, join(this.leasesDir, id), () => this.heldLeases.delete(lease));
    await lease.refresh();
    lease.startKeepalive();
    this.heldLeases.add(lease);
    return lease;
  }

  async leaseRemaining(id: string): Promise<number | undefined> {
    await this.init();
    const lease = await readJson<LeaseFile>(join(this.leasesDir, id));
    if (!lease) return undefined;
    const remaining = lease.expiresAt - Date.now();
    return remaining > 0 ? remaining : undefined;
  }

  async putKey(key: string, value: string, lease?: string): Promise<void> {
    await this.init();
    const file: KeyFile = { k: key, v: value, ...(lease ? { l: lease } : {}) };
    await this.writeAtomic(join(this.keysDir, keyFileName(key)), JSON.stringify(file));
  }

  async put(key: string, value: string): Promise<void> {
    try {
      await this.putKey(key, value);
    } catch (err) {
      throw new StoreError('put', key, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    await this.init();
    await rm(join(this.keysDir, keyFileName(key)), { force: true });
  }

  /**
   * The lock is a key holding its holder's lease id, attached to that lease (a key whose lease is
   * gone does not exist). Check and write are one step within a process (queued); between
   * processes on one host the write is read back, so racing writers agree on the last one.
   */
  tryLock(key: string, lease: Lease): Promise<string> {
    const live = async (): Promise<string | undefined> => (await this.readView([key])).view.get(key)?.value;
    const attempt = this.lockQueue.then(async () => {
      try {
        const holder = await live();
        if (holder !== undefined) return holder;
        await this.putKey(key, lease.id, lease.id);
        return (await live()) ?? lease.id;
      } catch (err) {
        throw err instanceof StoreError ? err : new StoreError('lock', key, { cause: err });
      }
    });
    this.lockQueue = attempt.then(() => undefined, () => undefined);
    return attempt;
  }

  /** Deletes the files of keys whose lease is gone, and leases long expired. */
  async collectGarbage(): Promise<void> {
    const now = Date.now();
    const leases = await this.readLeases();
    const dead = new Set<string>();
    for (const [id, lease] of leases) {
      if (lease.expiresAt + lease.ttlMs < now) dead.add(id);
    }
    for (const name of await readdir(this.keysDir)) {
      const path = join(this.keysDir, name);
      const file = await readJson<KeyFile>(path);
      if (file?.l === undefined) continue;
      // A key whose lease file is missing may belong to a lease being granted right now by
      // another process (lease file and keys are separate writes): only old orphans go.
      const orphan = !leases.has(file.l) && (await stat(path).then((s) => now - s.mtimeMs > ORPHAN_GRACE_MS, () => false));
      if (dead.has(file.l) || orphan) await rm(path, { force: true });
    }
    for (const id of dead) await rm(join(this.leasesDir, id), { force: true });
  }

  async deleteLeaseKeys(id: string): Promise<void> {
    for (const name of await readdir(this.keysDir)) {
      const file = await readJson<KeyFile>(join(this.keysDir, name));
      if (file?.l === id) await rm(join(this.keysDir, name), { force: true });
    }
  }

  async close(): Promise<void> {
    for (const lease of [...this.heldLeases]) lease.release();
    await Promise.all([...this.openWatches].map((w) => w.cancel()));
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

class FileLease implements Lease {
  private timer: NodeJS.Timeout | undefined;
  private lostListeners: ((error: Error) => void)[] = [];
  private keepaliveListeners: ((ok: boolean, error?: Error) => void)[] = [];
  private done = false;

  constructor(
    private readonly store: FileStore,
    readonly id: string,
    readonly ttlMs: number,
    private readonly path: string,
    private readonly onClose: () => void,
  ) {}

  async refresh(): Promise<void> {
    const lease: LeaseFile = { ttlMs: this.ttlMs, expiresAt: Date.now() + this.ttlMs };
    await this.store.writeAtomic(this.path, JSON.stringify(lease));
  }

  startKeepalive(): void {
    this.timer = setInterval(() => void this.keepalive(), Math.max(100, this.ttlMs / 3));
    this.timer.unref();
  }

  private async keepalive(): Promise<void> {
    if (this.done) return;
    const current = await readJson<LeaseFile>(this.path);
    if (!current || current.expiresAt <= Date.now()) {
      this.close();
      const error = new StoreError('keepalive', `lease ${this.id}`, { cause: new Error('lease expired or revoked') });
      for (const listener of this.lostListeners) listener(error);
      return;
    }
    try {
      await this.refresh();
      for (const listener of this.keepaliveListeners) listener(true);
    } catch (err) {
      for (const listener of this.keepaliveListeners) listener(false, err as Error);
    }
  }

  onKeepalive(listener: (ok: boolean, error?: Error) => void): void {
    this.keepaliveListeners.push(listener);
  }

  async putAll(pairs: readonly (readonly [string, string])[]): Promise<void> {
    try {
      for (const [key, value] of pairs) await this.store.putKey(key, value, this.id);
    } catch (err) {
      throw new StoreError('put', pairs.map(([k]) => k).join(','), { cause: err });
    }
  }

  async revoke(): Promise<void> {
    this.close();
    // The lease file goes first: from then on every reader treats the keys as gone.
    await rm(this.path, { force: true });
    await this.store.deleteLeaseKeys(this.id);
  }

  onLost(listener: (error: Error) => void): void {
    this.lostListeners.push(listener);
  }

  release(): void {
    this.close();
  }

  private close(): void {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.onClose();
  }
}

/**
 * Diffs the directory against the view it last reported: on every key file event (chokidar), when
 * a lease the view depends on runs out or disappears, and on a periodic full resync in case an
 * event was missed. Lease renewals (a file rewritten every TTL/3 by each holder) only update the
 * cached expiry: they cost one small read, not a directory scan.
 */
class FileWatch implements Watch {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private cancelled = false;
  private leases = new Map<string, LeaseFile>();
  private lastFull = 0;
  /** the directory could not be read at the last try: the view is stale */
  private unreadable = false;

  constructor(
    private readonly store: FileStore,
    private readonly prefixes: readonly string[],
    private view: Map<string, KeyValue>,
    private readonly handlers: WatchHandlers,
    private readonly leasesDir: string,
    private readonly dirs: string[],
    private readonly onCancel: () => void,
  ) {}

  async start(): Promise<void> {
    this.watcher = watchFiles(this.dirs, { ignoreInitial: true, depth: 0 });
    this.watcher.on('all', (event, path) => void this.onFileEvent(event, path));
    this.watcher.on('error', () => this.schedule());
    await new Promise<void>((resolve) => this.watcher!.once('ready', resolve));
    // Lease expiry makes no file event: a short timer compares cached expiries with the clock.
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.timer.unref();
    this.handlers.onConnectionChange?.(true);
    await this.sync();
  }

  private async onFileEvent(event: string, path: string): Promise<void> {
    if (this.cancelled) return;
    if (dirname(path) !== this.leasesDir) return this.schedule();
    const id = basename(path);
    const known = this.leases.get(id);
    const lease = event === 'unlink' ? undefined : await readJson<LeaseFile>(path);
    if (lease && known) {
      this.leases.set(id, lease);
      return;
    }
    // A lease appeared or went away: which keys are live may have changed.
    if (lease) this.leases.set(id, lease);
    else this.leases.delete(id);
    this.schedule();
  }

  private tick(): void {
    const now = Date.now();
    if (now - this.lastFull >= RESYNC_MS) return this.schedule();
    for (const kv of this.view.values()) {
      if (kv.lease === undefined) continue;
      const lease = this.leases.get(kv.lease);
      if (!lease || lease.expiresAt <= now) return this.schedule();
    }
  }

  /** Coalesces bursts of events into one diff at a time. */
  private schedule(): void {
    if (this.cancelled) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.sync();
  }

  private async sync(): Promise<void> {
    this.running = true;
    try {
      do {
        this.again = false;
        await this.diff();
      } while (this.again && !this.cancelled);
    } finally {
      this.running = false;
    }
  }

  private async diff(): Promise<void> {
    if (this.cancelled) return;
    let next: Map<string, KeyValue>;
    try {
      const read = await this.store.readView(this.prefixes);
      next = read.view;
      this.leases = read.leases;
      this.lastFull = Date.now();
    } catch (err) {
      if (!this.unreadable) this.handlers.onConnectionChange?.(false, err as Error);
      this.unreadable = true;
      return;
    }
    if (this.unreadable) {
      this.unreadable = false;
      this.handlers.onConnectionChange?.(true);
    }
    if (this.cancelled) return;
    const events: ChangeEvent[] = [];
    const revision = this.store.nextRevision();
    for (const [key, kv] of next) {
      const prev = this.view.get(key);
      if (!prev || prev.value !== kv.value || prev.lease !== kv.lease) {
        events.push({ type: 'put', kv: { ...kv, modRevision: revision } });
      }
    }
    for (const key of this.view.keys()) {
      if (!next.has(key)) events.push({ type: 'delete', key, modRevision: revision });
    }
    this.view = next;
    if (events.length > 0) this.handlers.onChanges(events, revision);
  }

  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.timer) clearInterval(this.timer);
    await this.watcher?.close();
    this.onCancel();
  }
}
