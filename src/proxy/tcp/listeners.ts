/**
 * `--tcp` listeners of one proxy process: a server per listener, the services' peers fed from the
 * catalog (`update`, like UpstreamTable), drain of removed instances, graceful stop and status.
 * In `--workers` mode every worker runs one of these, each with a listening socket of its own on
 * the same port (SO_REUSEPORT: the kernel spreads new connections over the workers), instead of
 * node:cluster's default of the primary accepting every connection and handing it to a worker
 * over IPC, which made two workers slower than one on short connections (bench/RESULTS.md).
 */
import cluster from 'node:cluster';
import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { Instance } from '../../catalog/catalog.js';
import type { Logger } from '../../log.js';
import { pollUntil } from '../../wait.js';
import { connectTimedOut, ReadBuffers, TcpConnection, type ConnectionHost, type TcpOptions } from './connection.js';
import { ConnectDeadlines } from './deadlines.js';
import { TcpMetrics, type UpstreamCounts } from './metrics.js';
import { ServicePeers, type TcpPeer, type TcpPeerStatus } from './peers.js';
import type { TcpBalance, TcpListenerSpec } from './spec.js';

export interface TcpListenerStatus {
  listen: string;
  service: string;
  balance: TcpBalance;
  open: number;
  total: number;
  instances: TcpPeerStatus[];
}

export interface TcpListenersDeps {
  specs: readonly TcpListenerSpec[];
  options: TcpOptions;
  log: Logger;
  metrics: Registry;
  /** one line per closed connection; undefined = off */
  accessLog: Logger | undefined;
}

class TcpListener implements ConnectionHost {
  readonly conns = new Set<TcpConnection>();
  total = 0;
  address: string;
  private server: Server | undefined;
  stopping = false;
  readonly deadlines: ConnectDeadlines<Socket>;
  /** per peer object (a peer replaced by a catalog update gets a new entry, the old one is collected) */
  private readonly counts = new WeakMap<TcpPeer, UpstreamCounts>();

  constructor(
    readonly spec: TcpListenerSpec,
    readonly options: TcpOptions,
    readonly metrics: TcpMetrics,
    readonly log: Logger,
    readonly accessLog: Logger | undefined,
    readonly buffers: ReadBuffers,
    private readonly table: ServicePeers,
  ) {
    this.address = spec.listen;
    this.deadlines = new ConnectDeadlines(options.connectTimeoutMs, connectTimedOut);
  }

  countsFor(peer: TcpPeer): UpstreamCounts {
    let c = this.counts.get(peer);
    if (c === undefined) this.counts.set(peer, (c = this.metrics.entry(this.spec.listen, this.spec.service, peer.id)));
    return c;
  }

  peers(): ServicePeers {
    return this.table;
  }

  finished(conn: TcpConnection): void {
    this.conns.delete(conn);
  }

  listen(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    const options: ListenOptions = { host: this.spec.host, port: this.spec.port, backlog: 511 };
    if (cluster.isWorker) Object.assign(options, { exclusive: true, reusePort: true });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(options, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ listener: this.spec.listen, err: err.message }, 'tcp listener error'));
        const where = server.address();
        if (where && typeof where === 'object') this.address = where.family === 'IPv6' ? `[${where.address}]:${where.port}` : `${where.address}:${where.port}`;
        resolve();
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const max = this.options.maxConnections;
    if (max > 0 && this.conns.size >= max) {
      this.metrics.rejected(this.spec.listen, 'max-connections');
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    this.total++;
    this.conns.add(new TcpConnection(this, socket));
  }

  /** Stops accepting; open connections keep going (server.close's callback would wait for them). */
  close(): void {
    this.stopping = true;
    if (this.server?.listening) this.server.close();
  }
}

export class TcpListeners {
  private readonly listeners: TcpListener[];
  private readonly tables = new Map<string, ServicePeers>();
  private readonly drains = new Set<NodeJS.Timeout>();
  private readonly options: TcpOptions;
  private readonly log: Logger;
  private listening = false;

  constructor(deps: TcpListenersDeps) {
    this.options = deps.options;
    this.log = deps.log;
    const metrics = new TcpMetrics(deps.metrics);
    const buffers = new ReadBuffers();
    this.listeners = deps.specs.map((spec) => {
      let table = this.tables.get(spec.service);
      if (!table) this.tables.set(spec.service, (table = new ServicePeers(spec.service)));
      return new TcpListener(spec, deps.options, metrics, deps.log, deps.accessLog, buffers, table);
    });
    metrics.setLive(() => this.liveBytes());
  }

  /** The services the listeners forward to (the ones `update` cares about). */
  get services(): IterableIterator<string> {
    return this.tables.keys();
  }

  get isListening(): boolean {
    return this.listening;
  }

  /** Replaces the instances of `service` with the catalog's current ones. */
  update(service: string, instances: readonly Instance[]): void {
    const table = this.tables.get(service);
    if (!table) return;
    const before = table.peers.map((p) => p.id);
    const removed = table.update(instances);
    const added = table.peers.map((p) => p.id).filter((id) => !before.includes(id));
    if (added.length > 0 || removed.length > 0) this.log.info({ service, added, removed, instances: table.peers.length }, 'tcp upstreams changed');
    const drainMs = this.options.drainTimeoutMs;
    for (const id of removed) {
      if (drainMs <= 0 || table.openCount(id) === 0) continue;
      const timer = setTimeout(() => {
        this.drains.delete(timer);
        if (table.has(id)) return; // came back meanwhile
        const closed = table.closeAll(id, 'drained');
        if (closed > 0) this.log.info({ service, upstream: id, closed }, 'tcp connections to a removed instance closed after the drain timeout');
      }, drainMs);
      this.drains.add(timer);
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.listen()));
    this.listening = true;
    for (const l of this.listeners) this.log.info({ listen: l.address, service: l.spec.service, balance: l.spec.balance }, 'tcp listening');
  }

  /**
   * Stops accepting, lets open connections finish until `deadlineMs` from now, then closes the
   * rest. Returns how many were cut.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    this.listening = false;
    for (const l of this.listeners) l.close();
    for (const timer of this.drains) clearTimeout(timer);
    this.drains.clear();
    await pollUntil(() => this.listeners.every((l) => l.conns.size === 0), Date.now() + deadlineMs);
    let unfinished = 0;
    for (const l of this.listeners) {
      unfinished += l.conns.size;
      for (const conn of [...l.conns]) conn.close('shutdown');
    }
    return { unfinished };
  }

  status(now: number): TcpListenerStatus[] {
    return this.listeners.map((l) => ({
      listen: l.address,
      service: l.spec.service,
      balance: l.spec.balance,
      open: l.conns.size,
      total: l.total,
      instances: l.peers().status(now),
    }));
  }

  private *liveBytes(): Iterable<{ listener: string; upstream: string; bytesIn: number; bytesOut: number }> {
    for (const l of this.listeners) {
      for (const conn of l.conns) if (conn.peer) yield { listener: l.spec.listen, upstream: conn.peer.id, bytesIn: conn.bytesIn, bytesOut: conn.bytesOut };
    }
  }
}
