/**
 * leaseClock: when each lease in use expires, asked of the store in the background (new leases
 * at once, all of them every second), so answering a query only reads a map.
 */
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';

/** remaining whole seconds (rounded up) of a lease expiring at `expiresAt`, 0 once past it */
export function leaseSecondsAt(expiresAt: number | undefined, now: number): number | undefined {
  if (expiresAt === undefined) return undefined;
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

export class LeaseClock {
  private readonly expiry = new Map<string, number>();
  private inUse: ReadonlySet<string> = new Set();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  private stopped = false;
  private warned = false;
  refreshes = 0;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
    private readonly concurrency = 16,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(this.inUse), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** the leases the index refers to now; unknown ones are fetched right away */
  track(leases: ReadonlySet<string>): Promise<void> {
    this.inUse = leases;
    for (const id of this.expiry.keys()) if (!leases.has(id)) this.expiry.delete(id);
    const fresh = [...leases].filter((id) => !this.expiry.has(id));
    return fresh.length > 0 ? this.fetch(fresh) : Promise.resolve();
  }

  /** called after every batch of expiries fetched */
  onUpdate(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** lease id -> expiry (epoch ms), to hand to other threads */
  entries(): [string, number][] {
    return [...this.expiry];
  }

  /** remaining whole seconds (rounded up), 0 once past expiry, undefined when not known */
  seconds(id: string, now: number): number | undefined {
    return leaseSecondsAt(this.expiry.get(id), now);
  }

  get size(): number {
    return this.expiry.size;
  }

  private async refresh(ids: ReadonlySet<string>): Promise<void> {
    if (this.refreshing || ids.size === 0 || this.stopped) return;
    this.refreshing = true;
    try {
      await this.fetch([...ids]);
      this.refreshes++;
    } finally {
      this.refreshing = false;
    }
  }

  private async fetch(ids: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length && !this.stopped) {
        const id = ids[next++]!;
        const asked = Date.now();
        try {
          const remaining = await this.store.leaseRemaining(id);
          if (!this.inUse.has(id)) continue;
          if (remaining === undefined) this.expiry.set(id, asked);
          else this.expiry.set(id, asked + remaining);
          this.warned = false;
        } catch (err) {
          // keep the last known expiry; the time keeps running down on its own
          if (!this.warned) this.log.warn({ lease: id, err: (err as Error).message }, 'cannot read lease TTL; using the last known expiry');
          this.warned = true;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, ids.length) }, worker));
    if (!this.stopped) for (const listener of this.listeners) listener();
  }
}
