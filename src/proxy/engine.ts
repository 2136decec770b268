import { pino } from 'pino';
import type { Registry } from 'prom-client';
import { Catalog, type CatalogChange } from '../catalog/catalog.js';
import type { RunningMode } from '../cli/mode.js';
import { parseHostPort } from '../config/flags.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { ProxyConfig } from './config.js';
import { accessLogDestination, type AccessLogDestination } from './access-log.js';
import { ProxyMetrics } from './metrics.js';
import { compileRoutes, HostRouter } from './routing.js';
import { DirectWriter } from './direct-write.js';
import { SharedReads } from './shared-reads.js';
import { FrontDoor, type AccessLog } from './server.js';
import { UpstreamTable } from './upstreams.js';
import { registerCatalogMetrics } from '../catalog/metrics.js';
import { TcpListeners, type TcpListenerStatus } from './tcp/listeners.js';
import { tcpOptions, tcpSpecs } from './tcp/flags.js';

/** How long start() waits for the first store snapshot before serving anyway (503s until then). */
const FIRST_SYNC_WAIT_MS = 3000;

/** Upstream response heads may be larger than what clients may send (cookies, CSP). */
const UPSTREAM_MAX_HEADER_SIZE = 64 * 1024;

export interface EngineDeps {
  config: ProxyConfig;
  store: Store;
  log: Logger;
  metrics: Registry;
}

/**
 * One proxy process: the catalog feeding the upstream table, and the front door serving it.
 * With --workers 1 this is the mode itself; with more, each cluster worker runs one.
 */
export class ProxyEngine implements RunningMode {
  private readonly config: ProxyConfig;
  private readonly log: Logger;
  private readonly catalog: Catalog;
  private readonly table: UpstreamTable;
  private readonly front: FrontDoor;
  private readonly accessDestination: AccessLogDestination | undefined;
  /** --tcp listeners, when any */
  private readonly tcp: TcpListeners | undefined;
  private address: string | undefined;
  private stopped: Promise<void> | undefined;

  constructor(deps: EngineDeps) {
    const config = deps.config;
    this.config = config;
    this.log = deps.log;
    this.catalog = new Catalog({ store: deps.store, log: deps.log, services: { prefix: config.servicesPrefix } });
    registerCatalogMetrics(deps.metrics, () => this.catalog);
    // one for both sides: it keeps a spare write request between writes
    const writer = new DirectWriter();
    this.table = new UpstreamTable(
      {
        connectTimeoutMs: config.connectTimeout,
        keepAliveTimeoutMs: config.upstreamKeepalive,
        connections: config.upstreamConnections,
        maxHeaderSize: UPSTREAM_MAX_HEADER_SIZE,
        readBuffer: Buffer.allocUnsafe(64 * 1024),
        writer,
      },
      deps.log,
    );
    const metrics = new ProxyMetrics(deps.metrics);
    let accessLog: AccessLog;
    if (config.accessLog) {
      // Its own asynchronous, bounded destination: a request never waits for a log write, and a
      // slow stdout costs dropped (counted) lines, not unbounded memory.
      this.accessDestination = accessLogDestination(1, (lines) => metrics.accessLogDropped(lines));
      accessLog = pino({ base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (l) => ({ level: l }) } }, this.accessDestination);
    }
    this.front = new FrontDoor({
      router: new HostRouter(compileRoutes({ routes: config.route, domain: config.domain, defaultService: config.defaultService })),
      table: this.table,
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
      },
      metrics,
      log: deps.log,
      accessLog,
      writer,
      reads: new SharedReads(),
    });
    // proxy TCP: its own listeners beside the HTTP front door, fed by the same catalog
    const tcp = tcpSpecs(config);
    if (tcp.length > 0) this.tcp = new TcpListeners({ specs: tcp, options: tcpOptions(config), log: deps.log, metrics: deps.metrics, accessLog });
    this.catalog.on('change', (change) => this.onChange(change));
  }

  private onChange(change: CatalogChange): void {
    const services = this.catalog.services();
    if (change.reset) this.table.retain(new Set(services.keys()));
    for (const service of change.services) this.table.update(service, services.get(service) ?? []);
    if (change.reset) for (const [service, instances] of services) if (!change.services.has(service)) this.table.update(service, instances);
    for (const service of this.tcp?.services ?? []) if (change.reset || change.services.has(service)) this.tcp!.update(service, services.get(service) ?? []);
    if (change.services.size > 0) {
      this.log.debug({ services: [...change.services], revision: this.catalog.revision }, 'upstreams updated');
    }
  }

  async start(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.catalog.start(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_SYNC_WAIT_MS))),
    ]);
    clearTimeout(timer);
    const { host, port } = parseHostPort(this.config.listen)!;
    const where = await this.front.listen(host, port);
    this.address = `${where.address}:${where.port}`;
    await this.tcp?.start();
    this.log.info({ listen: this.address, services: this.catalog.services().size, ready: this.catalog.ready }, 'proxy listening');
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const [{ unfinished }, tcp] = await Promise.all([this.front.stop(this.config.shutdownTimeout), this.tcp?.stop(this.config.shutdownTimeout)]);
      if (unfinished > 0) this.log.warn({ unfinished }, 'shutdown deadline passed; cut requests still in flight');
      if (tcp && tcp.unfinished > 0) this.log.warn({ unfinished: tcp.unfinished }, 'shutdown deadline passed; cut TCP connections still open');
      await this.table.close(1000);
      await this.catalog.stop();
      await flushWithin(this.accessDestination, 2000);
      this.log.info({ requests: this.front.requests }, 'proxy stopped');
    })();
    return this.stopped;
  }

  ready(): boolean {
    return this.catalog.ready && this.front.isListening && (this.tcp?.isListening ?? true);
  }

  status(): ProxyStatus {
    const now = Date.now();
    return {
      listen: this.address ?? this.config.listen,
      ready: this.ready(),
      revision: this.catalog.revision,
      inflight: this.front.inflightRequests,
      requests: this.front.requests,
      services: this.table.status(now),
      ...(this.tcp ? { tcp: this.tcp.status(now) } : {}),
    };
  }
}

export interface ProxyStatus {
  listen: string;
  ready: boolean;
  revision: number;
  inflight: number;
  requests: number;
  services: ReturnType<UpstreamTable['status']>;
  tcp?: TcpListenerStatus[];
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
