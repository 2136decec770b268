/**
 * leaseClock: when each lease in use expires, asked of the store in the background, so answering
 * a query only reads a map. New leases are asked at once; known ones again after `refreshMs`
 * (sooner when little of the lease was left at the last reading), and meanwhile the remaining
 * time runs down from the last reading. A lease renewed since then thus answers with a lower TTL
 * than it has, never a higher one.
 */
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';

/** remaining whole seconds (rounded up) of a lease expiring at `expiresAt`, 0 once past it */
export function leaseSecondsAt(expiresAt: number | undefined, now: number): number | undefined {
  if (expiresAt === undefined) return undefined;
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

interface Reading {
  /** when it was asked (epoch ms): the expiry is `asked + remaining`, an underestimate */
  readonly asked: number;
  readonly expiresAt: number;
}

export class LeaseClock {
  private readonly readings = new Map<string, Reading>();
  private inUse: ReadonlySet<string> = new Set();
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  private stopped = false;
  private warned = false;
  /** refresh rounds that asked the store something */
  refreshes = 0;
  /** leaseRemaining calls so far */
  asked = 0;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    /** how often to look for leases due a refresh */
    private readonly tickMs = 1000,
    /** how long a reading is trusted (the remaining time runs down locally meanwhile) */
    private readonly refreshMs = 5000,
    private readonly concurrency = 16,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), this.tickMs);
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
    for (const id of this.readings.keys()) if (!leases.has(id)) this.readings.delete(id);
    const fresh = [...leases].filter((id) => !this.readings.has(id));
    return fresh.length > 0 ? this.fetch(fresh) : Promise.resolve();
  }

  /** called after every batch of expiries fetched */
  onUpdate(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** lease id -> expiry (epoch ms), to hand to other threads */
  entries(): [string, number][] {
    return Array.from(this.readings, ([id, r]) => [id, r.expiresAt]);
  }

  /** remaining whole seconds (rounded up), 0 once past expiry, undefined when not known */
  seconds(id: string, now: number): number | undefined {
    return leaseSecondsAt(this.readings.get(id)?.expiresAt, now);
  }

  get size(): number {
    return this.readings.size;
  }

  /**
   * Whether a reading is old enough to ask again: after `refreshMs`, or after half of what was
   * left of the lease when that is sooner (short leases, and gone or expired ones, every tick).
   */
  private due(r: Reading | undefined, now: number): boolean {
    if (r === undefined) return true;
    const trust = Math.min(this.refreshMs, Math.max(this.tickMs, (r.expiresAt - r.asked) / 2));
    return now - r.asked >= trust;
  }

  private async refresh(): Promise<void> {
    if (this.refreshing || this.inUse.size === 0 || this.stopped) return;
    // a tick's worth early: a reading due just after this tick is taken now, not a tick late
    const now = Date.now() + this.tickMs / 2;
    const ids = [...this.inUse].filter((id) => this.due(this.readings.get(id), now));
    if (ids.length === 0) return;
    this.refreshing = true;
    try {
      await this.fetch(ids);
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
          this.asked++;
          const remaining = await this.store.leaseRemaining(id);
          if (!this.inUse.has(id)) continue;
          this.readings.set(id, { asked, expiresAt: remaining === undefined ? asked : asked + remaining });
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
