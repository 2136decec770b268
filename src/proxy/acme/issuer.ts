/**
 * The issuing side of ACME, one per proxy: while routes ask for `"tls": "acme"`, contend for the
 * store lock (lock.ts); the holder orders certificates for the hosts that need one (plan.ts),
 * answers HTTP-01 through the store (`<acme-prefix>/<token>` under a lease, answered by every
 * proxy), and stores each certificate as `<tls-prefix>/acme-<host>` so every proxy serves it.
 * Looks again every minute, soon after route or certificate changes, and when a renewal or a
 * retry falls due. Failures back off per host (plan.ts backoffMs) with a log line naming the host
 * and the CA's answer; the backoff is kept in the store (backoff.ts) and read by the holder at
 * every look, so a proxy that takes the lock over waits out the others' failures.
 */
import { readFileSync } from 'node:fs';
import { Counter, type Registry } from 'prom-client';
import { UsageError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Route } from '../../routes/route.js';
import type { Store } from '../../store/store.js';
import { validatePair } from '../tls/certs.js';
import { tlsValue } from '../tls/seal.js';
import { accountKeyName, loadAccountKey } from './account.js';
import { backoffPrefix, decodeBackoff, encodeBackoff, mergeBackoff } from './backoff.js';
import type { AcmeConfig } from './flags.js';
import { ACME_LOCK_TTL_MS, AcmeLock, lockKeyName } from './lock.js';
import type { Issued, OrderInput } from './order.js';
import { acmeHosts, afterOrder, BACKOFF_MAX_MS, coveredUntil, hostsToOrder, nextCheck, renewalDue, type AcmeHosts, type Coverage, type HostRecord } from './plan.js';

/** the longest time between two looks */
export const ACME_CHECK_MS = 60_000;
/** a burst of route or certificate changes makes one look, this long after the first */
const CHANGE_SETTLE_MS = 300;
/** a challenge token lives at most this long in the store */
const TOKEN_TTL_MS = 600_000;
/** after our own watch shows a token, give the other proxies' watches this long */
const TOKEN_SETTLE_MS = 500;
const TOKEN_VISIBLE_WAIT_MS = 10_000;
/** how long stop() lets an order under way finish */
const STOP_WAIT_MS = 2000;

export interface AcmeIssuerDeps {
  config: AcmeConfig & { acmePrefix: string; tlsPrefix: string };
  sealKey: Buffer | undefined;
  store: Store;
  log: Logger;
  registry: Registry;
  /** every route of the live table's sources (flags and store) */
  routes(): Iterable<Route>;
  /** the certificates served now */
  certificates(): readonly Coverage[];
  /** whether this proxy answers `token` yet (its watch has it) */
  answers(token: string): boolean;
  now?: () => number;
  /** the order itself (tests stub it); default: order.ts through acme-client */
  order?: (input: OrderInput) => Promise<Issued>;
}

/** One host in /status `acme.hosts`. */
export interface AcmeHostStatus {
  host: string;
  /** `valid` (served, not due), `pending` (no certificate or due), `ordering`, `failed` (waiting for nextTry) */
  state: 'valid' | 'pending' | 'ordering' | 'failed';
  validUntil: string | null;
  renewAt: string | null;
  lastError: string | null;
  nextTry: string | null;
  failures: number;
}

export interface AcmeStatus {
  directory: string;
  /** this proxy holds the lock, so it is the one that orders */
  issuer: boolean;
  hosts: AcmeHostStatus[];
  skipped: { route: string; reason: string }[];
}

const iso = (ms: number | undefined): string | null => (ms === undefined || ms <= 0 ? null : new Date(ms).toISOString());

export class AcmeIssuer {
  private readonly records = new Map<string, HostRecord>();
  private wanted: AcmeHosts = { hosts: [], skipped: [] };
  private readonly lock: AcmeLock;
  private readonly orders: Counter;
  private readonly now: () => number;
  private readonly caPem: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private ordering: string | undefined;
  private accountKey: string | undefined;
  private readonly warned = new Set<string>();
  private orderFn: ((input: OrderInput) => Promise<Issued>) | undefined;

  constructor(private readonly deps: AcmeIssuerDeps) {
    this.now = deps.now ?? Date.now;
    this.lock = new AcmeLock(deps.store, deps.log, lockKeyName(deps.config.acmePrefix));
    this.orderFn = deps.order;
    const ca = deps.config.acmeCa;
    if (ca !== undefined) {
      try {
        this.caPem = readFileSync(ca, 'utf8');
      } catch (err) {
        throw new UsageError('--acme-ca', `cannot read ${JSON.stringify(ca)}: ${(err as Error).message}`);
      }
      if (!this.caPem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError('--acme-ca', `${JSON.stringify(ca)} holds no PEM certificate`);
    }
    this.orders = new Counter({ name: 'beacon_proxy_acme_orders_total', help: 'ACME orders this proxy placed, by result (ok, error)', labelNames: ['result'], registers: [deps.registry] });
    this.orders.labels('ok').inc(0);
    this.orders.labels('error').inc(0);
  }

  start(): void {
    this.schedule(0);
  }

  /** Routes or certificates changed: look again soon. */
  changed(): void {
    this.schedule(CHANGE_SETTLE_MS, true);
  }

  private schedule(ms: number, onlySooner = false): void {
    if (this.stopped) return;
    if (this.round !== undefined) {
      // a change during a look: look again right after it
      if (ms <= CHANGE_SETTLE_MS) this.again = true;
      return;
    }
    const at = this.now() + ms;
    if (onlySooner && this.timer !== undefined && this.dueAt <= at) return;
    clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.round = this.look()
        .catch((err: Error) => {
          this.deps.log.error({ err: err.message }, 'ACME check failed');
          return ACME_CHECK_MS;
        })
        .then((next) => {
          this.round = undefined;
          const again = this.again;
          this.again = false;
          this.schedule(again ? CHANGE_SETTLE_MS : next);
        });
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    this.timer.unref();
  }

  private dueAt = 0;

  /** One look: lock, then every due host in turn; returns when to look next (ms from now). */
  private async look(): Promise<number> {
    const wanted = (this.wanted = acmeHosts(this.deps.routes()));
    for (const s of wanted.skipped) {
      if (this.warned.has(`${s.route} ${s.reason}`)) continue;
      this.warned.add(`${s.route} ${s.reason}`);
      this.deps.log.warn({ route: s.route, reason: s.reason }, 'route asks for ACME; skipped');
    }
    for (const host of [...this.records.keys()]) if (!wanted.hosts.includes(host)) this.records.delete(host);
    if (wanted.hosts.length === 0) {
      // nothing to issue: let another proxy (or none) hold the lock
      await this.lock.release();
      return ACME_CHECK_MS;
    }
    let held: boolean;
    try {
      held = await this.lock.acquire();
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'cannot reach the store for the ACME lock; trying again');
      return ACME_CHECK_MS;
    }
    // not the holder: ask again within one lease time, so a dead holder's hosts wait at most
    // about two lease times (its lease running out, then this look) rather than a whole check
    if (!held) return ACME_LOCK_TTL_MS;
    // the store is the backoff's memory, read at every look: a proxy new to the lock, or back to
    // it after another held it, waits out the failures of the others for every host it wants
    try {
      await this.readBackoff(wanted.hosts);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'cannot read the stored ACME backoff; going on with what this proxy remembers');
    }
    const renewBefore = this.deps.config.acmeRenewBefore;
    const due = hostsToOrder(wanted.hosts, this.deps.certificates(), this.records, this.now(), renewBefore);
    for (const host of due) {
      if (this.stopped || !this.lock.held) break;
      await this.orderFor(host);
    }
    const now = this.now();
    return nextCheck(wanted.hosts, this.deps.certificates(), this.records, now, renewBefore, ACME_CHECK_MS) - now;
  }

  /**
   * Merges the stored backoff records of `hosts` (the later retry wins). Records of other hosts
   * are left alone (another proxy's routes may want them, or this one's watch has not shown them
   * yet), unless malformed or past any backoff, which are deleted.
   */
  private async readBackoff(hosts: readonly string[]): Promise<void> {
    const prefix = backoffPrefix(this.deps.config.acmePrefix);
    const { kvs } = await this.deps.store.read([prefix]);
    const now = this.now();
    for (const kv of kvs) {
      const host = kv.key.slice(prefix.length);
      const decoded = decodeBackoff(kv.value);
      if (!decoded.ok) {
        this.deps.log.warn({ key: kv.key, reason: decoded.reason }, 'malformed ACME backoff record deleted');
        await this.deps.store.delete(kv.key).catch(() => undefined);
        continue;
      }
      if (decoded.record.nextTry + BACKOFF_MAX_MS < now) {
        await this.deps.store.delete(kv.key).catch(() => undefined);
        continue;
      }
      if (hosts.includes(host)) this.records.set(host, mergeBackoff(this.records.get(host), decoded.record));
    }
  }

  /**
   * The host's backoff for the next holder: written after a failure, deleted after a success;
   * only while this proxy holds the lock (an order that outlived it must not overwrite the new
   * holder's record).
   */
  private async shareBackoff(host: string, record: HostRecord): Promise<void> {
    if (!this.lock.held) return;
    const key = `${backoffPrefix(this.deps.config.acmePrefix)}${host}`;
    try {
      if (record.failures > 0) await this.deps.store.put(key, encodeBackoff(record));
      else await this.deps.store.delete(key);
    } catch (err) {
      this.deps.log.warn({ host, key, err: (err as Error).message }, 'cannot store the ACME backoff; another holder would retry sooner');
    }
  }

  private async orderFor(host: string): Promise<void> {
    const { config, log } = this.deps;
    this.ordering = host;
    const started = this.now();
    log.info({ host, directory: config.acmeDirectory }, 'ACME order started');
    try {
      const order = await this.orderer();
      const accountKey = await this.account();
      const issued = await order({ directory: config.acmeDirectory, accountKey, email: config.acmeEmail, host, publish: (token, keyAuth) => this.publish(token, keyAuth) });
      const name = `acme-${host}`;
      const checked = validatePair(name, 'acme', issued, this.now());
      if (!checked.ok) throw new Error(`the CA's certificate is unusable: ${checked.reason}`);
      const prefix = config.tlsPrefix.endsWith('/') ? config.tlsPrefix : `${config.tlsPrefix}/`;
      await this.deps.store.put(`${prefix}${name}`, tlsValue(issued, this.deps.sealKey));
      const notAfter = checked.cert.notAfter.getTime();
      const record = afterOrder(this.records.get(host), this.now(), { ok: true, notAfter });
      this.records.set(host, record);
      await this.shareBackoff(host, record);
      this.orders.labels('ok').inc();
      log.info({ host, key: `${prefix}${name}`, notAfter: checked.cert.notAfter.toISOString(), issuer: checked.cert.issuer, ms: this.now() - started }, 'ACME certificate issued');
    } catch (err) {
      const error = (err as Error).message;
      const record = afterOrder(this.records.get(host), this.now(), { ok: false, error });
      this.records.set(host, record);
      await this.shareBackoff(host, record);
      this.orders.labels('error').inc();
      log.warn({ host, directory: config.acmeDirectory, error, failures: record.failures, nextTry: new Date(record.nextTry).toISOString() }, 'ACME order failed');
    } finally {
      this.ordering = undefined;
    }
  }

  /** acme-client is loaded on the first order only. */
  private async orderer(): Promise<(input: OrderInput) => Promise<Issued>> {
    if (this.orderFn === undefined) {
      const { orderCertificate, trustAcmeCa } = await import('./order.js');
      trustAcmeCa(this.caPem);
      this.orderFn = orderCertificate;
    }
    return this.orderFn;
  }

  private async account(): Promise<string> {
    if (this.accountKey !== undefined) return this.accountKey;
    const { acmePrefix, acmeDirectory } = this.deps.config;
    const { key, created } = await loadAccountKey(this.deps.store, accountKeyName(acmePrefix, acmeDirectory), acmeDirectory, this.deps.sealKey, async () => (await import('./order.js')).newAccountKey());
    if (created) this.deps.log.info({ directory: this.deps.config.acmeDirectory }, 'ACME account key created and stored');
    return (this.accountKey = key);
  }

  /** Puts the key authorization under a lease, and waits until this proxy's watch answers it. */
  private async publish(token: string, keyAuthorization: string): Promise<() => Promise<void>> {
    const prefix = this.deps.config.acmePrefix.endsWith('/') ? this.deps.config.acmePrefix : `${this.deps.config.acmePrefix}/`;
    const lease = await this.deps.store.grantLease(TOKEN_TTL_MS);
    await lease.putAll([[`${prefix}${token}`, keyAuthorization]]);
    const until = Date.now() + TOKEN_VISIBLE_WAIT_MS;
    while (!this.deps.answers(token) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, TOKEN_SETTLE_MS));
    return () => lease.revoke();
  }

  /** Stops looking; an order under way gets STOP_WAIT_MS to finish, then the lock goes anyway. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.round, new Promise((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
    clearTimeout(timer);
    await this.lock.release();
  }

  status(): AcmeStatus {
    const now = this.now();
    const certs = this.deps.certificates();
    const renewBefore = this.deps.config.acmeRenewBefore;
    const hosts = this.wanted.hosts.map((host): AcmeHostStatus => {
      const record = this.records.get(host);
      const served = coveredUntil(host, certs);
      const validUntil = Math.max(served ?? 0, record?.issuedNotAfter ?? 0);
      const renewAt = validUntil > 0 ? renewalDue(host, certs, record, renewBefore) : 0;
      const failed = (record?.failures ?? 0) > 0;
      const state = this.ordering === host ? 'ordering' : failed ? 'failed' : validUntil > 0 && renewAt > now ? 'valid' : 'pending';
      return { host, state, validUntil: iso(validUntil), renewAt: iso(renewAt), lastError: record?.lastError ?? null, nextTry: failed ? iso(record?.nextTry) : null, failures: record?.failures ?? 0 };
    });
    return { directory: this.deps.config.acmeDirectory, issuer: this.lock.held, hosts, skipped: [...this.wanted.skipped] };
  }
}
