import { pino } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { Catalog, type CatalogChange, type CatalogStoreState } from '../catalog/catalog.js';
import type { RunningMode } from '../mode.js';
import { parseHostPort } from '../config/address.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { ProxyConfig } from './config.js';
import { accessLogDestination, type AccessLogDestination } from './access-log.js';
import { ProxyMetrics } from './metrics.js';
import { Router } from './routing.js';
import { compileTable, type RouteTable } from '../routes/table.js';
import { parseRouteFlag, type Route } from '../routes/route.js';
import type { AccessLog } from './traffic.js';
import type { UpstreamStatus, UpstreamTable } from './upstreams.js';
import { LeaseClock } from '../catalog/leases.js';
import { addLeaseTimes } from './instance-status.js';
import { registerCatalogMetrics } from '../catalog/metrics.js';
import { decideEngine, probeInternals, type Decision } from './engine-choice.js';
import type { BuiltEngine, EngineParts } from './front-door.js';
import { TcpListeners, type TcpListenerStatus } from './tcp/listeners.js';
import { tcpOptions, tcpSpecs } from './tcp/flags.js';
import type { CertificateStatus } from './tls/cert-store.js';
import { TlsEdge, tlsWatchPrefixes } from './tls/edge.js';
import type { AcmeStatus } from './acme/issuer.js';
import { collectGarbage, SETTLE_HEAP_ENTRIES } from '../heap.js';

/** How long start() waits for the first store snapshot before serving anyway (503s until then). */
const FIRST_SYNC_WAIT_MS = 3000;

export interface EngineDeps {
  config: ProxyConfig;
  store: Store;
  log: Logger;
  metrics: Registry;
}

/**
 * One proxy process: the catalog feeding the upstream table, and the HTTP engine serving it
 * (chosen at start: see engine-choice.ts). With --workers 1 this is the mode itself; with more,
 * each cluster worker runs one.
 */
export class ProxyEngine implements RunningMode {
  private readonly config: ProxyConfig;
  private readonly log: Logger;
  private readonly registry: Registry;
  private readonly catalog: Catalog;
  /** lease time left of the instances, for /status only (never on the request path) */
  private readonly leases: LeaseClock;
  private readonly parts: EngineParts;
  private built: BuiltEngine | undefined;
  private decision: Decision | undefined;
  private readonly invalidGauge: Gauge;
  private readonly accessDestination: AccessLogDestination | undefined;
  /** --tcp listeners, when any */
  private readonly tcp: TcpListeners | undefined;
  /** --tls-listen, when set */
  private readonly tls: TlsEdge | undefined;
  private address: string | undefined;
  /** --route flags, parsed */
  private readonly flagRoutes: readonly Route[];
  /** the live route table (flags and store), swapped when the store's routes change */
  private readonly router: Router;
  private stopped: Promise<void> | undefined;
  /** routes asked for ACME without --tls-listen (said once) */
  private acmeWarned = false;

  constructor(deps: EngineDeps) {
    const config = deps.config;
    this.config = config;
    this.log = deps.log;
    // certificates and ACME tokens come through the catalog as raw prefixes
    const tlsPrefixes = config.tlsListen === undefined ? [] : tlsWatchPrefixes(config);
    this.catalog = new Catalog({ store: deps.store, log: deps.log, services: { prefix: config.servicesPrefix }, routes: { prefix: config.routesPrefix }, extraPrefixes: tlsPrefixes });
    if (config.tlsListen !== undefined) this.tls = new TlsEdge({ ...config, tlsListen: config.tlsListen }, this.catalog, deps.log, deps.metrics, deps.store, () => this.catalog.routes().values());
    this.leases = new LeaseClock(deps.store, deps.log);
    // validated as flags already: a bad one cannot reach here
    this.flagRoutes = config.route.map((text) => {
      const r = parseRouteFlag(text);
      if (!r.ok) throw new Error(r.error);
      return r.value;
    });
    this.router = new Router(this.compile());
    registerCatalogMetrics(deps.metrics, () => this.catalog);
    this.invalidGauge = new Gauge({
      name: 'beacon_proxy_routes_invalid',
      help: 'route values under --routes-prefix skipped because they are invalid (now; /status lists them)',
      registers: [deps.metrics],
    });
    this.invalidGauge.set(0);
    this.registry = deps.metrics;
    const metrics = new ProxyMetrics(deps.metrics);
    let accessLog: AccessLog;
    if (config.accessLog) {
      // Its own asynchronous, bounded destination: a request never waits for a log write, and a
      // slow stdout costs dropped (counted) lines, not unbounded memory.
      this.accessDestination = accessLogDestination(1, (lines) => metrics.accessLogDropped(lines));
      accessLog = pino({ base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } }, this.accessDestination);
    }
    this.parts = {
      router: this.router,
      policy: { maxFails: config.maxFails, failTimeoutMs: config.failTimeout },
      limits: {
        clientHeaderTimeoutMs: config.clientHeaderTimeout,
        clientRequestTimeoutMs: config.clientRequestTimeout,
        idleTimeoutMs: config.idleTimeout,
        maxHeaderSize: config.maxHeaderSize,
        maxTries: config.maxTries,
        connectTimeoutMs: config.connectTimeout,
        upstreamHeaderTimeoutMs: config.upstreamHeaderTimeout,
        upstreamBodyTimeoutMs: config.upstreamBodyTimeout,
        hedgeAfterMs: config.hedgeAfter,
      },
      metrics,
      log: deps.log,
      accessLog,
      upstreamKeepAliveMs: config.upstreamKeepalive,
      upstreamConnections: config.upstreamConnections,
      plainAnswer: this.tls?.plainHook(),
      hsts: this.tls !== undefined && config.hsts > 0 ? `max-age=${config.hsts}` : undefined,
      httpsPort: () => this.tls?.port,
    };
    // proxy TCP: its own listeners beside the HTTP front door, fed by the same catalog
    const tcp = tcpSpecs(config);
    if (tcp.length > 0) this.tcp = new TcpListeners({ specs: tcp, options: tcpOptions(config), log: deps.log, metrics: deps.metrics, accessLog });
    this.catalog.on('change', (change) => this.onChange(change));
  }

  /** The table from the flags, the store's routes, --domain and --default-service. */
  private compile(): RouteTable {
    const config = this.config;
    return compileTable({ routes: [...this.flagRoutes, ...this.catalog.routes().values()], domain: config.domain, defaultService: config.defaultService });
  }

  private onChange(change: CatalogChange): void {
    this.tls?.changed(change);
    if (change.routes && this.tls === undefined && !this.acmeWarned && [...this.catalog.routes().values()].some((r) => r.acme)) {
      this.acmeWarned = true;
      this.log.warn({}, 'routes ask for "tls": "acme" but --tls-listen is not set: no certificates are ordered');
    }
    if (change.routes) {
      // a new table for the next request; requests in flight keep the route they matched
      this.router.swap(this.compile());
      this.invalidGauge.set(this.catalog.routesInvalid().size);
      this.log.debug({ routes: this.router.table.routes.length, invalid: this.catalog.routesInvalid().size, revision: this.catalog.revision }, 'routes updated');
    }
    const table = this.built?.table;
    // before the engine is built the first snapshot fills the table (see start)
    if (table === undefined) return;
    const services = this.catalog.services();
    if (change.reset) table.retain(new Set(services.keys()));
    for (const service of change.services) table.update(service, services.get(service) ?? []);
    if (change.reset) for (const [service, instances] of services) if (!change.services.has(service)) table.update(service, instances);
    for (const service of this.tcp?.services ?? []) if (change.reset || change.services.has(service)) this.tcp!.update(service, services.get(service) ?? []);
    if (change.services.size > 0) {
      this.log.debug({ services: [...change.services], revision: this.catalog.revision }, 'upstreams updated');
    }
  }

  /** Chooses the engine (probing Node's internals for `auto`) and builds it. */
  private async buildEngine(): Promise<BuiltEngine> {
    const requested = this.config.engine;
    const decision = decideEngine(requested, requested === 'portable' ? [] : await probeInternals());
    this.decision = decision;
    const { buildEngine } = decision.engine === 'fast' ? await import('./fast/build.js') : await import('./portable/build.js');
    const built = buildEngine(this.parts);
    const info = new Gauge({ name: 'beacon_proxy_engine_info', help: 'the HTTP engine serving (1), with why it was chosen', labelNames: ['engine', 'reason'], registers: [this.registry] });
    info.labels(decision.engine, decision.reason).set(1);
    this.log.info({ engine: decision.engine, reason: decision.reason }, 'proxy engine chosen');
    return built;
  }

  async start(): Promise<void> {
    const built = (this.built = await this.buildEngine());
    this.leases.start();
    for (const [service, instances] of this.catalog.services()) built.table.update(service, instances);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.catalog.start(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_SYNC_WAIT_MS))),
    ]);
    clearTimeout(timer);
    // the first sync's garbage collected now, not in the pauses that would meet the first requests
    if (this.catalog.instanceCount >= SETTLE_HEAP_ENTRIES) collectGarbage();
    const { host, port } = parseHostPort(this.config.listen)!;
    const where = await built.front.listen(host, port);
    this.address = `${where.address}:${where.port}`;
    await this.tls?.start(built.front);
    await this.tcp?.start();
    this.log.info({ listen: this.address, services: this.catalog.services().size, ready: this.catalog.ready }, 'proxy listening');
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const built = this.built;
      const tcpStop = this.tcp?.stop(this.config.shutdownTimeout);
      const tlsClosed = this.tls?.close();
      if (built !== undefined) {
        const { unfinished } = await built.front.stop(this.config.shutdownTimeout);
        if (unfinished > 0) this.log.warn({ unfinished }, 'shutdown deadline passed; cut requests still in flight');
        await built.table.close(1000);
      }
      await this.tls?.stop();
      await tlsClosed;
      const tcp = await tcpStop;
      if (tcp && tcp.unfinished > 0) this.log.warn({ unfinished: tcp.unfinished }, 'shutdown deadline passed; cut TCP connections still open');
      this.leases.stop();
      await this.catalog.stop();
      await flushWithin(this.accessDestination, 2000);
      this.log.info({ requests: built?.traffic.requests ?? 0 }, 'proxy stopped');
    })();
    return this.stopped;
  }

  statusSize(): number {
    return this.catalog.instanceCount;
  }

  ready(): boolean {
    return this.catalog.ready && this.built !== undefined && this.built.front.isListening && (this.tcp?.isListening ?? true) && (this.tls?.isListening ?? true);
  }

  /** The table's view of each upstream, with lease time left (readings kept fresh in the background). */
  private servicesStatus(table: UpstreamTable, now: number): Record<string, UpstreamStatus[]> {
    const status = table.status(now);
    const inUse = addLeaseTimes(status, this.catalog.services(), (id) => this.leases.seconds(id, now));
    void this.leases.track(inUse);
    return status;
  }

  private routesStatus(): RoutesStatus {
    const table = this.router.table;
    return {
      table: table.routes.map(routeView),
      shadowed: table.shadowed.map((s) => ({ ...routeView(s.route), shadowedBy: s.by.name })),
      invalid: [...this.catalog.routesInvalid()].map(([key, reason]) => ({ key, reason })),
    };
  }

  status(): ProxyStatus {
    const built = this.built;
    return {
      listen: this.address ?? this.config.listen,
      ready: this.ready(),
      revision: this.catalog.revision,
      engine: this.decision === undefined ? undefined : { name: this.decision.engine, reason: this.decision.reason },
      inflight: built?.traffic.inflight ?? 0,
      requests: built?.traffic.requests ?? 0,
      services: built === undefined ? {} : this.servicesStatus(built.table, Date.now()),
      routes: this.routesStatus(),
      store: this.catalog.storeState(),
      ...(this.tcp ? { tcp: this.tcp.status(Date.now()) } : {}),
      ...(this.tls ? { tlsListen: this.tls.address ?? this.config.tlsListen, certificates: this.tls.status(), acme: this.tls.acmeStatus() } : {}),
    };
  }
}

export interface RoutesStatus {
  table: RouteView[];
  shadowed: (RouteView & { shadowedBy: string })[];
  invalid: { key: string; reason: string }[];
}

export interface RouteView {
  name: string;
  source: string;
  host: string | null;
  path: string;
  service: string | null;
  action: string;
  balance: string;
  priority: number;
}

export function routeView(r: Route): RouteView {
  const action = r.redirect ? `redirect ${r.redirect.code} ${r.redirect.to}${r.redirect.keepPath ? ' (+path)' : ''}` : r.stripPath ? `forward, strip ${r.path}` : 'forward';
  return { name: r.name, source: r.source, host: r.host ?? null, path: r.path, service: r.service ?? null, action, balance: r.balance, priority: r.priority };
}

export interface ProxyStatus {
  listen: string;
  ready: boolean;
  revision: number;
  /** the HTTP engine serving and why it was chosen (once started) */
  engine: { name: string; reason: string } | undefined;
  inflight: number;
  requests: number;
  services: ReturnType<UpstreamTable['status']>;
  routes: RoutesStatus;
  store: CatalogStoreState;
  tcp?: TcpListenerStatus[];
  /** --tls-listen's address and every certificate loaded (valid ones only) */
  tlsListen?: string;
  certificates?: CertificateStatus[];
  /** ACME: whether this proxy is the issuer, and each host's state */
  acme?: AcmeStatus;
}

/**
 * Hands buffered access-log lines to stdout, but gives up after `ms`: a reader that stopped
 * reading (a stuck pipe) must not keep the proxy from exiting on SIGTERM.
 */
function flushWithin(destination: { flush(cb: (err?: Error) => void): void } | undefined, ms: number): Promise<void> {
  if (!destination) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    try {
      destination.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      // not opened yet: nothing buffered
      clearTimeout(timer);
      resolve();
    }
  });
}
