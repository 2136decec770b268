/**
 * The proxy's TLS side, wired: the certificate store fed by --tls-cert-dir and the store's
 * --tls-prefix, the --tls-listen listener handing connections to the HTTP engine, and the
 * --https-redirect hook for the plain listener. The engine owns one when --tls-listen is set.
 */
import type { Registry } from 'prom-client';
import type { Catalog, CatalogChange } from '../../catalog/catalog.js';
import { parseHostPort } from '../../config/address.js';
import type { Logger } from '../../log.js';
import type { Route } from '../../routes/route.js';
import type { Store } from '../../store/store.js';
import type { FrontDoor } from '../front-door.js';
import type { AcmeConfig } from '../acme/flags.js';
import { AcmeIssuer, type AcmeStatus } from '../acme/issuer.js';
import { CertificateStore, type CertificateStatus } from './cert-store.js';
import { CertDirSource } from './dir-source.js';
import { CertEtcdSource } from './etcd-source.js';
import { checkTlsFlags, type TlsConfig } from './flags.js';
import { TlsListener } from './listener.js';
import { TlsMetrics } from './metrics.js';
import { httpsRedirect, type PlainRedirect } from './redirect.js';
import { AcmeTokens } from './acme-tokens.js';
import { readSealKey } from './seal.js';

/** how often served certificates are checked for expiry */
const EXPIRY_CHECK_MS = 60_000;

const slash = (p: string): string => (p.endsWith('/') ? p : `${p}/`);

/** The raw prefixes the catalog mirrors for TLS: certificates and ACME tokens. */
export function tlsWatchPrefixes(config: Pick<TlsConfig, 'tlsPrefix' | 'acmePrefix'>): string[] {
  return [slash(config.tlsPrefix), slash(config.acmePrefix)];
}

export class TlsEdge {
  readonly certificates: CertificateStore;
  readonly etcd: CertEtcdSource;
  /** HTTP-01 key authorizations any proxy answers on the plain listener */
  readonly acme: AcmeTokens;
  /** orders certificates for routes with "tls": "acme" (while this proxy holds the ACME lock) */
  private readonly issuer: AcmeIssuer;
  private readonly dir: CertDirSource | undefined;
  private listener: TlsListener | undefined;
  private readonly metrics: TlsMetrics;
  private bound: number;
  private expiry: NodeJS.Timeout | undefined;
  address: string | undefined;

  constructor(
    private readonly config: TlsConfig & AcmeConfig & { tlsListen: string },
    catalog: Catalog,
    private readonly log: Logger,
    registry: Registry,
    store: Store,
    routes: () => Iterable<Route>,
  ) {
    checkTlsFlags(config);
    this.bound = parseHostPort(config.tlsListen)!.port;
    this.metrics = new TlsMetrics(registry, () => this.certificates.certificates());
    this.certificates = new CertificateStore(config.tlsDefaultCert, log, this.metrics);
    const sealKey = readSealKey(config.tlsSealKey);
    this.etcd = new CertEtcdSource(config.tlsPrefix, catalog, this.certificates, sealKey);
    this.acme = new AcmeTokens(config.acmePrefix, catalog);
    const served = (): { hosts: readonly string[]; notAfter: number }[] => this.certificates.certificates().map((c) => ({ hosts: c.hosts, notAfter: c.notAfter.getTime() }));
    this.issuer = new AcmeIssuer({ config, sealKey, store, log, registry, routes, certificates: served, answers: (token) => this.acme.has(token) });
    this.certificates.onChange(() => this.issuer.changed());
    if (config.tlsCertDir !== undefined) this.dir = new CertDirSource(config.tlsCertDir, this.certificates);
  }

  changed(change: CatalogChange): void {
    this.etcd.changed(change);
    this.acme.changed(change);
    if (change.routes) this.issuer.changed();
  }

  /**
   * The engine's hook for plain-HTTP requests: ACME challenge answers first (a CA validates over
   * plain HTTP), then --https-redirect when set.
   */
  plainHook(): PlainRedirect {
    const acme = this.acme;
    if (!this.config.httpsRedirect) return (_host, url) => acme.answer(url);
    return (host, url) => acme.answer(url) ?? httpsRedirect(host, url, this.bound);
  }

  /** the port HTTPS is served on (the flag's, then the one bound: `:0` picks one) */
  get port(): number {
    return this.bound;
  }

  /** Reads the directory, then listens and hands connections to `front`. */
  async start(front: FrontDoor): Promise<void> {
    await this.dir?.start();
    this.expiry = setInterval(() => this.certificates.dropExpired(), EXPIRY_CHECK_MS);
    this.expiry.unref();
    const listener = (this.listener = new TlsListener({ store: this.certificates, metrics: this.metrics, log: this.log, accept: (socket) => front.accept(socket), acceptH2: (socket) => front.acceptH2(socket) }));
    const { host, port } = parseHostPort(this.config.tlsListen)!;
    const where = await listener.listen(host, port);
    this.bound = where.port;
    this.address = `${where.address}:${where.port}`;
    this.log.info({ listen: this.address, certificates: this.certificates.size, default: this.config.tlsDefaultCert ?? null }, 'proxy TLS listening');
    this.issuer.start();
  }

  get isListening(): boolean {
    return this.listener?.isListening ?? false;
  }

  /** Stops accepting (the engine then finishes what it was handed); resolves when all is closed. */
  close(): Promise<void> {
    return this.listener?.close() ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    clearInterval(this.expiry);
    await this.issuer.stop();
    this.listener?.destroyAll();
    await this.dir?.stop();
  }

  status(): CertificateStatus[] {
    return this.certificates.status();
  }

  acmeStatus(): AcmeStatus {
    return this.issuer.status();
  }
}
