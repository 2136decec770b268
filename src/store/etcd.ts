import { readFileSync } from 'node:fs';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions, type Lease as EtcdLease, type Watcher } from 'etcd3';
import { StoreError, UsageError } from '../errors.js';
import { guardWatchManager } from './etcd-watch-guard.js';
import type { ChangeEvent, KeyValue, Lease, Snapshot, Store, Watch, WatchHandlers } from './store.js';

export interface EtcdOptions {
  endpoints: readonly string[];
  ca?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  /** deadline of each unary call */
  callTimeoutMs?: number;
  /** keys per range request when reading a view (default READ_PAGE_KEYS) */
  pageSize?: number;
}

/**
 * Keys per range request of a view: one response stays a few MiB at typical values (etcd's
 * --max-request-bytes bounds a value at 1.5 MiB) and a view of 200,000 keys is read in 100 pages.
 */
export const READ_PAGE_KEYS = 2000;
/** a view whose revision was compacted between two pages is read again, at most this often */
const READ_ATTEMPTS = 3;

/** The range end that selects every key starting with `prefix` (etcd's "prefix + 1"). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(flag, `cannot read ${path}: ${(err as Error).message}`);
  }
}

const ZERO = Buffer.from([0]);

type RawKv = { key: Buffer; value: Buffer; lease: string; mod_revision: string };

function toKeyValue(kv: RawKv): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    ...(kv.lease && kv.lease !== '0' ? { lease: kv.lease } : {}),
    modRevision: Number(kv.mod_revision),
  };
}

export class EtcdStore implements Store {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly pageSize: number;

  constructor(options: EtcdOptions) {
    guardWatchManager();
    const tls = Boolean(options.ca || options.cert);
    if (Boolean(options.cert) !== Boolean(options.key)) {
      throw new UsageError(options.cert ? '--etcd-key' : '--etcd-cert', 'client TLS needs both --etcd-cert and --etcd-key');
    }
    if (Boolean(options.user) !== Boolean(options.password)) {
      throw new UsageError(options.user ? '--etcd-password' : '--etcd-user', 'etcd auth needs both --etcd-user and --etcd-password');
    }
    const scheme = tls ? 'https' : 'http';
    this.description = `etcd://${options.endpoints.join(',')}${tls ? ' (tls)' : ''}`;
    const timeout = options.callTimeoutMs ?? 5000;
    this.pageSize = Math.max(1, Math.floor(options.pageSize ?? READ_PAGE_KEYS));
    const clientOptions: IOptions = {
      hosts: options.endpoints.map((e) => `${scheme}://${e}`),
      dialTimeout: timeout,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // A view is read in pages (READ_PAGE_KEYS), but a page of large values may still pass gRPC's
      // default 4 MiB cap: that would make the catalog unreadable (and the mode never ready).
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      // etcd3's defaults keep a failed member's breaker open for 5 s and back watches off up to
      // 30 s: after an outage beacon would lag etcd by that much. Come back within a second or two.
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(2, options.endpoints.length) }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
      },
    };
    if (tls) {
      const rootCertificate = readPem('--etcd-ca', options.ca);
      const certChain = readPem('--etcd-cert', options.cert);
      const privateKey = readPem('--etcd-key', options.key);
      clientOptions.credentials = {
        // No --etcd-ca: the system's roots (null), not an empty list that trusts nothing.
        rootCertificate: (rootCertificate ?? null) as Buffer,
        ...(certChain ? { certChain } : {}),
        ...(privateKey ? { privateKey } : {}),
      };
    }
    if (options.user && options.password) clientOptions.auth = { username: options.user, password: options.password };
    this.client = new Etcd3(clientOptions);
  }

  /**
   * Every key under the prefixes at one revision, in pages of `pageSize` keys: the first page
   * fixes the revision and every later page (the next key after the last one read) is read at it,
   * so writes made meanwhile are not seen. Each page is turned into KeyValues and dropped before
   * the next is asked, so no response holds the whole view. A revision compacted mid-read
   * starts the read over.
   */
  async read(prefixes: readonly string[]): Promise<Snapshot> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readPaged(prefixes);
      } catch (err) {
        if (attempt < READ_ATTEMPTS && /compacted/i.test(String((err as Error).message))) continue;
        throw new StoreError('read', prefixes.join(','), { cause: err });
      }
    }
  }

  private async readPaged(prefixes: readonly string[]): Promise<Snapshot> {
    const kvs: KeyValue[] = [];
    let revision: string | undefined;
    for (const prefix of prefixes) {
      let from = Buffer.from(prefix);
      const end = prefixRangeEnd(from);
      for (;;) {
        const res = await this.client.kv.range({ key: from, range_end: end, limit: this.pageSize, ...(revision ? { revision } : {}) });
        revision ??= res.header.revision;
        for (const kv of res.kvs) kvs.push(toKeyValue(kv as RawKv));
        const last = res.kvs.at(-1);
        if (!res.more || !last) break;
        from = Buffer.concat([last.key, ZERO]);
      }
    }
    return { revision: Number(revision ?? 0), kvs };
  }

  async watch(prefixes: readonly string[], afterRevision: number, handlers: WatchHandlers): Promise<Watch> {
    return new EtcdWatch(this, this.client, prefixes, handlers).start(afterRevision);
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    const ttl = Math.max(1, Math.ceil(ttlMs / 1000));
    const lease = this.client.lease(ttl, { autoKeepAlive: true });
    // A failed grant also fires 'lost'; keep it from surfacing as an unhandled error.
    const lostBeforeGrant = (): void => undefined;
    lease.on('lost', lostBeforeGrant);
    try {
      const id = await lease.grant();
      lease.off('lost', lostBeforeGrant);
      return new EtcdLeaseHandle(this.client, lease, id, ttl * 1000);
    } catch (err) {
      lease.release();
      throw new StoreError('grant lease', `ttl ${ttl}s`, { cause: err });
    }
  }

  async leaseRemaining(id: string): Promise<number | undefined> {
    try {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
      const ttl = Number(res.TTL);
      return ttl > 0 ? ttl * 1000 : undefined;
    } catch (err) {
      throw new StoreError('lease ttl', id, { cause: err });
    }
  }

  async put(key: string, value: string): Promise<void> {
    try {
      await this.client.put(key).value(value).exec();
    } catch (err) {
      throw new StoreError('put', key, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.delete().key(key).exec();
    } catch (err) {
      throw new StoreError('delete', key, { cause: err });
    }
  }

  async tryLock(key: string, lease: Lease): Promise<string> {
    const name = Buffer.from(key);
    try {
      // create the key only where it does not exist (create revision 0), else read its holder
      for (let attempt = 0; attempt < 3; attempt++) {
        const res = await this.client.kv.txn({
          compare: [{ key: name, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key: name, value: Buffer.from(lease.id), lease: lease.id } }],
          failure: [{ request_range: { key: name } }],
        });
        if (res.succeeded) return lease.id;
        const holder = res.responses[0]?.response_range?.kvs[0];
        // gone between the compare and the read cannot happen in one txn; an empty answer would
        // mean an odd server: ask again
        if (holder !== undefined) return holder.value.toString();
      }
    } catch (err) {
      throw new StoreError('lock', key, { cause: err });
    }
    throw new StoreError('lock', key, { cause: new Error('the store neither created the lock nor named its holder') });
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

class EtcdLeaseHandle implements Lease {
  constructor(
    private readonly client: Etcd3,
    private readonly lease: EtcdLease,
    readonly id: string,
    readonly ttlMs: number,
  ) {}

  async putAll(pairs: readonly (readonly [string, string])[]): Promise<void> {
    try {
      await this.client.kv.txn({
        success: pairs.map(([key, value]) => ({
          request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: this.id },
        })),
      });
    } catch (err) {
      throw new StoreError('put', pairs.map(([k]) => k).join(','), { cause: err });
    }
  }

  async revoke(): Promise<void> {
    try {
      await this.lease.revoke();
    } catch (err) {
      throw new StoreError('revoke lease', this.id, { cause: err });
    }
  }

  onLost(listener: (error: Error) => void): void {
    this.lease.once('lost', listener);
  }

  onKeepalive(listener: (ok: boolean, error?: Error) => void): void {
    this.lease.on('keepaliveSucceeded', () => listener(true));
    this.lease.on('keepaliveFailed', ((err: Error) => listener(false, err)) as never);
  }

  release(): void {
    this.lease.release();
  }
}

/**
 * One etcd watcher per prefix on the client's shared stream. etcd3 resumes a watcher after a
 * disconnect from the revision in the header of its last response, but that header carries the
 * store's current revision, not the last event delivered: a stream that drops again before the
 * catch-up events arrive would skip them for good. So beacon does not trust the resume: after any
 * disconnect, the next connection re-reads every prefix at one revision (onReset) and starts new
 * watchers from there. The same reset handles a watch etcd cancelled (history compacted).
 */
class EtcdWatch implements Watch {
  /** the watchers whose events count; replaced as a whole on every reset */
  private readonly live = new Set<Watcher>();
  private cancelled = false;
  private resetting = false;
  private resetAgain = false;
  private interrupted = false;

  constructor(
    private readonly store: EtcdStore,
    private readonly client: Etcd3,
    private readonly prefixes: readonly string[],
    private readonly handlers: WatchHandlers,
  ) {}

  async start(afterRevision: number): Promise<this> {
    await this.openAll(afterRevision);
    return this;
  }

  /** Opens a watcher per prefix; if any fails, closes those that opened and throws. */
  private async openAll(afterRevision: number): Promise<void> {
    const results = await Promise.allSettled(this.prefixes.map((p) => this.watchOne(p, afterRevision)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      for (const w of opened) this.live.delete(w);
      await cancelQuietly(opened);
      throw failed.reason;
    }
  }

  private async watchOne(prefix: string, afterRevision: number): Promise<Watcher> {
    const watcher = this.client.watch().prefix(prefix).startRevision(String(afterRevision + 1)).watcher();
    this.live.add(watcher);
    watcher.on('data', (res) => {
      if (!this.live.has(watcher)) return;
      const events: ChangeEvent[] = res.events.map((ev) =>
        ev.type === 'Put'
          ? { type: 'put' as const, kv: toKeyValue(ev.kv as RawKv) }
          : { type: 'delete' as const, key: ev.kv.key.toString(), modRevision: Number(ev.kv.mod_revision) },
      );
      if (events.length > 0) this.handlers.onChanges(events, Number(res.header.revision));
    });
    watcher.on('connected', () => {
      if (!this.live.has(watcher)) return;
      if (this.interrupted) this.resetSoon(new Error('watch stream reconnected'));
      else this.handlers.onConnectionChange?.(true);
    });
    watcher.on('disconnected', (err: Error) => {
      if (!this.live.has(watcher)) return;
      this.interrupted = true;
      this.handlers.onConnectionChange?.(false, err);
    });
    // Attached before the first event and never removed: a watcher that errs once before it
    // connects may err again later, and an 'error' with no listener would end the process.
    let opened = false;
    watcher.on('error', (err: Error) => {
      if (opened && this.live.has(watcher)) this.resetSoon(err);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.once('connected', () => resolve());
        watcher.once('error', reject);
      });
    } catch (err) {
      this.live.delete(watcher);
      throw err;
    }
    opened = true;
    return watcher;
  }

  /** A reset started from an event: a rejection is retried, never left unhandled. */
  private resetSoon(cause: Error): void {
    this.reset(cause).catch((err: unknown) => {
      // only a handler can throw here; the view must still come back, so try again shortly
      this.resetting = false;
      if (!this.cancelled) setTimeout(() => this.resetSoon(err instanceof Error ? err : new Error(String(err))), 1000).unref();
    });
  }

  /** Re-reads the prefixes at one revision and restarts every watcher after it. */
  private async reset(cause: Error): Promise<void> {
    if (this.cancelled) return;
    if (this.resetting) {
      this.resetAgain = true;
      return;
    }
    this.resetting = true;
    do {
      this.resetAgain = false;
      this.interrupted = false;
      this.handlers.onConnectionChange?.(false, cause);
      const old = [...this.live];
      this.live.clear();
      // A watcher etcd already cancelled may never confirm our cancel: do not wait on it.
      await Promise.race([cancelQuietly(old), new Promise((r) => setTimeout(r, 500))]);
      for (let attempt = 0; !this.cancelled; attempt++) {
        try {
          const snapshot = await this.store.read(this.prefixes);
          if (this.cancelled) break;
          this.handlers.onReset(snapshot);
          await this.openAll(snapshot.revision);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
        }
      }
    } while ((this.resetAgain || this.interrupted) && !this.cancelled);
    this.resetting = false;
    if (!this.cancelled) this.handlers.onConnectionChange?.(true);
  }

  async cancel(): Promise<void> {
    this.cancelled = true;
    const all = [...this.live];
    this.live.clear();
    await cancelQuietly(all);
  }
}

async function cancelQuietly(watchers: readonly Watcher[]): Promise<void> {
  await Promise.allSettled(watchers.map((w) => w.cancel()));
}
