/**
 * The certificates the TLS listener serves, from every source (--tls-cert-dir, etcd). Each source
 * offers pairs by name; a valid pair replaces what that name served, an invalid one is logged with
 * its source and reason, counted, and leaves the previous valid certificate in place. New
 * handshakes read the current index (see certs.ts selectFor); open connections keep theirs.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../../log.js';
import { buildIndex, selectFor, validatePair, type CertPair, type SniIndex, type ValidCert } from './certs.js';
import type { TlsMetrics } from './metrics.js';

/**
 * Protocol versions and TLS 1.2 suites (Mozilla "intermediate" without DHE): forward secret AEAD
 * only. TLS 1.3 suites are OpenSSL's defaults (all AEAD).
 */
export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_MAX_VERSION = 'TLSv1.3';
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface ServedCert {
  readonly cert: ValidCert;
  readonly context: SecureContext;
}

/** One line of /status `certificates[]`. */
export interface CertificateStatus {
  name: string;
  hosts: string[];
  notAfter: string;
  issuer: string;
  source: string;
  /** the certificate answers at least one name (or is the default) */
  inUse: boolean;
}

export class CertificateStore {
  /** `source/name` -> the valid certificate it serves */
  private readonly served = new Map<string, ServedCert>();
  private index: SniIndex<ServedCert>;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly defaultName: string | undefined,
    private readonly log: Logger,
    private readonly metrics: TlsMetrics | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.index = buildIndex([], defaultName);
  }

  /**
   * A source's current pair for `name` (undefined: gone, or unreadable with `problem`).
   * Returns whether the pair is now served.
   */
  offer(source: string, name: string, pair: CertPair | undefined, problem?: string): boolean {
    const id = `${source}/${name}`;
    if (pair === undefined && problem === undefined) {
      if (this.served.delete(id)) {
        this.log.info({ source, name }, 'certificate removed');
        this.rebuild();
      }
      return false;
    }
    const result = pair === undefined ? { ok: false as const, reason: problem! } : validatePair(name, source, pair, this.now());
    if (!result.ok) {
      const kept = this.served.has(id);
      this.log.warn({ source, name, reason: result.reason, kept: kept ? 'previous certificate stays in use' : 'none' }, 'skipping invalid certificate');
      this.metrics?.invalidPair(source);
      return false;
    }
    const old = this.served.get(id);
    if (old !== undefined && old.cert.fingerprint === result.cert.fingerprint && old.cert.pair.key === pair!.key) return true;
    const context = createSecureContext({ cert: pair!.cert, key: pair!.key, minVersion: TLS_MIN_VERSION, maxVersion: TLS_MAX_VERSION, ciphers: TLS_CIPHERS });
    this.served.set(id, { cert: result.cert, context });
    this.log.info({ source, name, hosts: result.cert.hosts, notAfter: result.cert.notAfter.toISOString() }, old ? 'certificate replaced' : 'certificate loaded');
    this.rebuild();
    return true;
  }

  /**
   * Certificates that expired while served stop being served (logged, counted as invalid): a
   * client would refuse them anyway, and the default or a wildcard may still cover the name.
   */
  dropExpired(): number {
    const now = this.now();
    let dropped = 0;
    for (const [id, s] of this.served) {
      if (s.cert.notAfter.getTime() > now) continue;
      this.served.delete(id);
      dropped++;
      this.log.warn({ source: s.cert.source, name: s.cert.name, notAfter: s.cert.notAfter.toISOString() }, 'certificate expired; no longer served');
      this.metrics?.invalidPair(s.cert.source);
    }
    if (dropped > 0) this.rebuild();
    return dropped;
  }

  /** Every name a source no longer has goes (e.g. after a full re-read). */
  retain(source: string, names: ReadonlySet<string>): void {
    let changed = false;
    for (const [id, s] of this.served) {
      if (s.cert.source === source && !names.has(s.cert.name)) {
        this.served.delete(id);
        changed = true;
      }
    }
    if (changed) this.rebuild();
  }

  private rebuild(): void {
    this.index = buildIndex(this.served.values(), this.defaultName);
    for (const fn of this.listeners) fn();
  }

  /** called after every change of what is served */
  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  select(servername: string | undefined): ServedCert | undefined {
    return selectFor(this.index, servername);
  }

  get fallback(): ServedCert | undefined {
    return this.index.fallback;
  }

  get size(): number {
    return this.served.size;
  }

  certificates(): ValidCert[] {
    return [...this.served.values()].map((s) => s.cert);
  }

  status(): CertificateStatus[] {
    const used = new Set<ServedCert>([...this.index.exact.values(), ...this.index.wildcard.values()]);
    if (this.index.fallback) used.add(this.index.fallback);
    return [...this.served.values()]
      .map((s) => ({ name: s.cert.name, hosts: [...s.cert.hosts], notAfter: s.cert.notAfter.toISOString(), issuer: s.cert.issuer, source: s.cert.source, inUse: used.has(s) }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.source.localeCompare(b.source));
  }
}
