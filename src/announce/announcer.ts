import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { watch as watchFiles, type FSWatcher } from 'chokidar';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RunningMode } from '../mode.js';
import { describeCause } from '../errors.js';
import type { Logger } from '../log.js';
import type { Lease, Store } from '../store/store.js';
import { describeCheck, runCheck, type CheckResult, type CheckSpec } from './checks.js';
import { INITIAL_HEALTH, nextHealth, type Health } from './health.js';
import { registrationPairs, type Registration } from './records.js';

export interface AnnouncerOptions {
  registration: Registration;
  check: CheckSpec;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  drainFile?: string;
}

type StoreState = 'unknown' | 'up' | 'down';

/** how many checks status() lists (the admin page's "last checks") */
const CHECK_HISTORY = 20;

interface CheckRecord extends CheckResult {
  at: string;
  ms: number;
}

function announceMetrics(registry: Registry) {
  return {
    checks: new Counter({ name: 'beacon_announce_checks_total', help: 'health checks run, by result', labelNames: ['result'], registers: [registry] }),
    registrations: new Counter({ name: 'beacon_announce_registrations_total', help: 'times the instance was registered', registers: [registry] }),
    deregistrations: new Counter({ name: 'beacon_announce_deregistrations_total', help: 'times the instance was deregistered', registers: [registry] }),
    keepaliveFailures: new Counter({ name: 'beacon_announce_keepalive_failures_total', help: 'lease keepalives that failed', registers: [registry] }),
    storeErrors: new Counter({ name: 'beacon_announce_store_errors_total', help: 'store operations that failed', registers: [registry] }),
    storeReconnects: new Counter({ name: 'beacon_announce_store_reconnects_total', help: 'times the store came back after being lost', registers: [registry] }),
    healthy: new Gauge({ name: 'beacon_announce_healthy', help: '1 while the app passes its check (after rise/fall)', registers: [registry] }),
    registered: new Gauge({ name: 'beacon_announce_registered', help: '1 while the instance is registered', registers: [registry] }),
  };
}

/**
 * The sidecar: checks the app every interval, keeps its keys under one lease while it is
 * healthy and not draining, and takes them away otherwise. One loop does everything, so
 * checks and registrations never race each other.
 */
export class Announcer implements RunningMode {
  private health: Health = INITIAL_HEALTH;
  private lease: Lease | undefined;
  private lastCheck: (CheckResult & { at: string }) | undefined;
  private readonly checks: CheckRecord[] = [];
  /** when the lease was last known alive (granted or kept alive), for the time it has left */
  private leaseAliveAt = 0;
  private lastStoreError: { message: string; at: string } | undefined;
  private storeState: StoreState = 'unknown';
  private retryAt = 0;
  private verifyAt = 0;
  private retryDelay = 500;
  private draining = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private drainWatcher: FSWatcher | undefined;
  private readonly metrics: ReturnType<typeof announceMetrics>;
  private readonly pairs: [string, string][];

  constructor(
    private readonly options: AnnouncerOptions,
    private readonly store: Store,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.metrics = announceMetrics(registry);
    this.pairs = registrationPairs(options.registration);
  }

  async start(): Promise<void> {
    const r = this.options.registration;
    this.log.info(
      { service: r.service, id: r.id, address: `${r.host}:${r.port}`, check: describeCheck(this.options.check), store: this.store.description, keys: this.pairs.map(([k]) => k) },
      'announcing',
    );
    if (this.options.drainFile) {
      this.drainWatcher = watchFiles(dirname(this.options.drainFile), { ignoreInitial: true, depth: 0 });
      this.drainWatcher.on('all', (_event, path) => {
        if (path === this.options.drainFile) this.wake?.();
      });
      this.drainWatcher.on('error', () => undefined);
    }
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      await this.tick();
      // stop() during a check: no new wait of a whole interval before the keys are revoked.
      if (!this.running) break;
      const wait = Math.max(0, this.options.intervalMs - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private async tick(): Promise<void> {
    const checkStarted = performance.now();
    const result = await runCheck(this.options.check, this.options.timeoutMs);
    if (!this.running) return;
    this.lastCheck = { ...result, at: new Date().toISOString() };
    this.checks.push({ ...this.lastCheck, ms: Math.round((performance.now() - checkStarted) * 10) / 10 });
    if (this.checks.length > CHECK_HISTORY) this.checks.shift();
    this.metrics.checks.inc({ result: result.ok ? 'pass' : 'fail' });
    const before = this.health;
    this.health = nextHealth(before, result.ok, this.options.rise, this.options.fall);
    if (before.healthy !== this.health.healthy) {
      this.metrics.healthy.set(this.health.healthy ? 1 : 0);
      this.log.info({ check: describeCheck(this.options.check), detail: result.detail }, this.health.healthy ? 'healthy' : 'unhealthy');
    }
    const draining = this.options.drainFile !== undefined && existsSync(this.options.drainFile);
    if (draining !== this.draining) {
      this.draining = draining;
      this.log.info({ drainFile: this.options.drainFile }, draining ? 'drain file present: deregistering, checks go on' : 'drain file removed');
    }
    await this.reconcile(this.health.healthy && !draining);
  }

  /** Brings the store in line with what should be: registered or not. */
  private async reconcile(wanted: boolean): Promise<void> {
    if (wanted && this.lease && Date.now() >= this.verifyAt) {
      await this.verify(this.lease);
    } else if (wanted && !this.lease) {
      if (Date.now() < this.retryAt) return;
      try {
        await this.register();
        this.storeUp();
      } catch (err) {
        this.storeDown(err);
      }
    } else if (!wanted && this.lease) {
      await this.deregister('not healthy or draining');
    }
  }

  /**
   * Once per TTL: are our keys still there with our values? An operator's `etcdctl del`, a
   * restore from backup or a cleanup elsewhere would otherwise leave a healthy app unannounced.
   */
  private async verify(lease: Lease): Promise<void> {
    this.verifyAt = Date.now() + lease.ttlMs;
    try {
      const snapshot = await this.store.read(this.pairs.map(([key]) => key));
      const present = new Map(snapshot.kvs.map((kv) => [kv.key, kv]));
      const missing = this.pairs.filter(([key, value]) => present.get(key)?.value !== value || present.get(key)?.lease !== lease.id);
      if (missing.length === 0 || lease !== this.lease) return;
      this.log.warn({ keys: missing.map(([k]) => k), lease: lease.id }, 'registration keys missing or changed; writing them again');
      await lease.putAll(this.pairs);
      this.metrics.registrations.inc();
    } catch (err) {
      this.storeDown(err);
    }
  }

  private async register(): Promise<void> {
    const lease = await this.store.grantLease(this.options.registration.ttlMs);
    try {
      await lease.putAll(this.pairs);
    } catch (err) {
      await lease.revoke().catch(() => lease.release());
      throw err;
    }
    lease.onKeepalive((ok, error) => {
      if (lease !== this.lease) return;
      if (ok) {
        this.leaseAliveAt = Date.now();
        this.storeUp();
      } else {
        this.metrics.keepaliveFailures.inc();
        this.storeDown(error);
      }
    });
    lease.onLost((error) => {
      if (lease !== this.lease) return;
      this.lease = undefined;
      this.metrics.registered.set(0);
      this.log.warn({ lease: lease.id, err: error.message }, 'lease lost; registering again with a new lease');
      this.retryAt = 0;
      this.wake?.();
    });
    this.lease = lease;
    this.leaseAliveAt = Date.now();
    this.verifyAt = Date.now() + lease.ttlMs;
    this.metrics.registrations.inc();
    this.metrics.registered.set(1);
    this.log.info({ lease: lease.id, ttlMs: lease.ttlMs, keys: this.pairs.map(([k]) => k) }, 'registered');
  }

  private async deregister(reason: string): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    this.lease = undefined;
    this.metrics.registered.set(0);
    this.metrics.deregistrations.inc();
    try {
      await lease.revoke();
      this.log.info({ lease: lease.id, reason }, 'deregistered');
    } catch (err) {
      // Could not reach the store: stop the keepalive so the keys expire with the lease.
      lease.release();
      this.storeDown(err);
      this.log.warn({ lease: lease.id, reason, err: describeCause(err) }, 'deregistered by letting the lease expire (store unreachable)');
    }
  }

  private storeUp(): void {
    this.retryDelay = 500;
    this.retryAt = 0;
    if (this.storeState === 'down') {
      this.metrics.storeReconnects.inc();
      this.log.info({ store: this.store.description }, 'store back');
    }
    this.storeState = 'up';
  }

  private storeDown(err: unknown): void {
    this.metrics.storeErrors.inc();
    this.lastStoreError = { message: describeCause(err), at: new Date().toISOString() };
    this.retryAt = Date.now() + this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, 10_000);
    if (this.storeState !== 'down') {
      this.log.warn({ store: this.store.description, err: describeCause(err) }, 'store lost; checks go on, retrying with backoff');
    }
    this.storeState = 'down';
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.drainWatcher?.close();
    await this.deregister('shutting down');
  }

  ready(): boolean {
    return this.storeState !== 'down';
  }

  status(): unknown {
    const r = this.options.registration;
    return {
      mode: 'announce',
      service: r.service,
      id: r.id,
      address: `${r.host}:${r.port}`,
      check: describeCheck(this.options.check),
      healthy: this.health.healthy,
      draining: this.draining,
      registered: this.lease !== undefined,
      lease: this.lease?.id,
      ...(this.lease ? { leaseTtlMs: this.lease.ttlMs, leaseLeftMs: Math.max(0, this.leaseAliveAt + this.lease.ttlMs - Date.now()) } : {}),
      keys: this.pairs.map(([k]) => k),
      store: { url: this.store.description, state: this.storeState, connected: this.storeState === 'up', ...(this.lastStoreError ? { lastError: this.lastStoreError } : {}) },
      checkKind: this.options.check.kind,
      lastCheck: this.lastCheck,
      checks: [...this.checks],
    };
  }
}
