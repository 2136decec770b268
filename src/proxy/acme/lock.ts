/**
 * One issuer among the proxies sharing a store: the store lock `key` (Store.tryLock), held while
 * this proxy's lease lives. The lease is granted on the first ask and kept alive; a lost lease
 * (store outage past its TTL) is replaced at the next ask. Releasing revokes the lease, which
 * deletes the lock so another proxy takes it at its next check.
 */
import type { Logger } from '../../log.js';
import type { Lease, Store } from '../../store/store.js';

/** `/beacon/acme` -> `/beacon/acme-lock`: beside the tokens, outside their prefix */
export function lockKeyName(acmePrefix: string): string {
  return `${acmePrefix.replace(/\/+$/, '')}-lock`;
}
/** the lock outlives a dead holder by at most this */
export const ACME_LOCK_TTL_MS = 15_000;

export class AcmeLock {
  private lease: Lease | undefined;
  private holding = false;
  /** the holder last seen, for the change log lines */
  private holder: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly key: string,
    private readonly ttlMs = ACME_LOCK_TTL_MS,
  ) {}

  /** Takes the lock when free; returns whether this proxy holds it now. */
  async acquire(): Promise<boolean> {
    if (this.lease === undefined) {
      const lease = await this.store.grantLease(this.ttlMs);
      lease.onLost((err) => {
        if (this.lease !== lease) return;
        this.lease = undefined;
        if (this.holding) this.log.warn({ lock: this.key, err: err.message }, 'ACME lock lost with its lease');
        this.holding = false;
      });
      this.lease = lease;
    }
    const holder = await this.store.tryLock(this.key, this.lease);
    const holding = holder === this.lease.id;
    if (holding !== this.holding || holder !== this.holder) {
      if (holding) this.log.info({ lock: this.key, lease: holder }, 'ACME lock taken');
      else this.log.info({ lock: this.key, holder }, 'ACME lock held by another proxy');
    }
    this.holding = holding;
    this.holder = holder;
    return holding;
  }

  get held(): boolean {
    return this.holding;
  }

  get leaseId(): string | undefined {
    return this.lease?.id;
  }

  /** Gives the lock up (revokes the lease); the next acquire starts over. */
  async release(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    const was = this.holding;
    this.holding = false;
    this.holder = undefined;
    if (lease === undefined) return;
    try {
      await lease.revoke();
      if (was) this.log.info({ lock: this.key }, 'ACME lock released');
    } catch (err) {
      lease.release();
      this.log.warn({ lock: this.key, err: (err as Error).message }, 'could not revoke the ACME lock lease; it expires by itself');
    }
  }
}
