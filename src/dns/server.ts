/**
 * The I/O shell of the dns mode: UDP and TCP sockets on one address, the index kept current from
 * the catalog, lease expiries, UDP workers, metrics. Every answer is the Responder's (and so
 * answerFor's).
 *
 * UDP workers: Node spends most of a cached answer in the kernel round trip of one recvmsg and
 * one sendmsg, so throughput scales with threads, not with cleverer JavaScript. Each worker binds
 * the same address with SO_REUSEPORT (the kernel spreads clients over the sockets) and answers
 * from its own copy of the index, sent to it on every change.
 *
 * The forward cache (forward-resolver.ts) is per thread too, by decision: sharing one across
 * threads would cost a message round trip or a lock on every forwarded query, which is the very
 * kernel-bound hot path the workers exist for. The kernel keeps a client on one socket, so its
 * repeats hit; an upstream sees up to 1 + --udp-workers queries per name and TTL, and
 * --forward-cache-size bounds each thread.
 */
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Registry } from 'prom-client';
import type { RunningMode } from '../mode.js';
import { Catalog, type SkyEntry } from '../catalog/catalog.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { LeaseClock } from '../catalog/leases.js';
import { collectGarbage, SETTLE_HEAP_ENTRIES } from '../heap.js';
import { pollUntil } from '../wait.js';
import { exportMetrics, Stats, sumStats, type StatsSnapshot } from './metrics.js';
import { dnsStatus } from './status.js';
import type { ToWorker, FromWorker, WorkerInit } from './worker-protocol.js';
import { SkyIndex } from './records.js';
import { Responder, type Reply } from './responder.js';
import { bindUdp } from './udp.js';
import { resolveSettings, resolvConfNameservers, type DnsSettings, type ExplicitSettings, type Nameserver } from './settings.js';
import { registerCatalogMetrics } from '../catalog/metrics.js';

export interface DnsServerOptions {
  listen: { host: string; port: number };
  explicit: ExplicitSettings;
  prefix: string;
  store: Store;
  log: Logger;
  metrics: Registry;
  /** extra UDP sockets in worker threads; undefined = 0 on up to 2 CPUs, else one fewer than the CPUs, at most 3 */
  udpWorkers?: number;
  logLevel?: string;
  resolvConf?: string;
  /** how long start() waits for the first store sync before serving anyway */
  syncWaitMs?: number;
}

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 1000;
/** records put into a new index per turn of the event loop while it is rebuilt (queries run between) */
const REBUILD_SLICE = 2000;
/** per TCP connection: queries being answered at once; reading pauses beyond */
const TCP_MAX_INFLIGHT = 64;
/** per TCP connection: reply bytes waiting for the client before reading pauses */
const TCP_WRITE_BUFFER = 64 * 1024;

interface WorkerHandle {
  worker: Worker;
  stats?: StatsSnapshot;
  exited: Promise<void>;
}

export class DnsServer implements RunningMode {
  private readonly log: Logger;
  private readonly catalog: Catalog;
  private readonly leases: LeaseClock;
  private readonly stats = new Stats();
  private readonly responder: Responder;
  private readonly resolvConf: Nameserver[];
  private workerCount: number;
  private readonly workers: WorkerHandle[] = [];
  private index: SkyIndex = new SkyIndex([]);
  private settings: DnsSettings;
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  private bound: { address: string; port: number } | undefined;
  private stopping = false;
  private synced = false;
  private readonly started = Date.now();

  constructor(private readonly options: DnsServerOptions) {
    this.log = options.log;
    this.resolvConf = resolvConfNameservers(options.resolvConf);
    this.settings = this.resolve(undefined);
    // measured on 2 CPUs shared with the load generator: a worker thread did not add throughput
    const cpus = availableParallelism();
    this.workerCount = options.udpWorkers ?? (cpus > 2 ? Math.min(cpus - 1, 3) : 0);
    this.catalog = new Catalog({ store: options.store, log: options.log, skydns: { prefix: options.prefix } });
    this.leases = new LeaseClock(options.store, options.log);
    this.responder = new Responder(this.settings, this.stats, this.log, (id, now) => this.leases.seconds(id, now));
    this.leases.onUpdate(() => {
      // fresh lease expiries change TTLs: answers cached meanwhile are stale
      this.responder.invalidate();
      this.toWorkers({ type: 'leases', expiry: this.leases.entries() });
    });
    exportMetrics(options.metrics, () => this.totals(), () => this.index.size, () => this.rebuilds);
    registerCatalogMetrics(options.metrics, () => this.catalog);
    this.catalog.on('change', (change) => {
      // a whole new view (first sync, watch reset) is rebuilt; watch events change the index in place
      if (change.reset) this.rebuild();
      else if (change.skydns) this.applyChanges(change.keys);
    });
    this.catalog.on('ready', (ready) => {
      this.log.info({ ready, staleTtl: this.settings.staleTtl }, ready ? 'dns store synced' : 'dns store lost; answering from the last known records with short TTLs');
      this.setStale(!ready);
    });
  }

  private totals(): StatsSnapshot {
    return sumStats([this.stats, this.retired, ...this.workers.flatMap((w) => (w.stats ? [w.stats] : []))]);
  }

  private resolve(skyConfig: unknown): DnsSettings {
    const { settings, ignored } = resolveSettings(this.options.explicit, skyConfig, this.resolvConf);
    const said = ignored.join(',');
    if (said !== this.ignoredConfig) {
      this.ignoredConfig = said;
      if (ignored.length > 0) this.log.warn({ ignored }, 'ignoring invalid /skydns/config fields');
    }
    // never forward to ourselves (resolv.conf pointing at this very server)
    const self = this.bound;
    const nameservers = settings.nameservers.filter((ns) => !(self && ns.port === self.port && (ns.host === self.address || ((self.address === '0.0.0.0' || self.address === '::') && /^(127\.|::1$)/.test(ns.host)))));
    return { ...settings, nameservers };
  }

  /** index rebuilds so far (status, metrics): the first sync and every watch reset */
  private rebuilds = 0;
  /** keys applied to the index in place (status) */
  private updates = 0;
  /** a rebuild in progress (reset while the old index keeps answering): keys changed meanwhile */
  private building: { pending: Set<string> } | undefined;

  /**
   * A whole new view: a new index is built from it. The first one at once (nothing to answer
   * from yet); later ones (watch resets) a slice per turn of the event loop while the current
   * index keeps answering, then swapped in with the keys that changed meanwhile applied on top.
   */
  private rebuild(): void {
    this.rebuilds++;
    const entries = [...this.catalog.skydnsEntries().values()];
    if (!this.synced) {
      this.swapIn(new SkyIndex(entries, this.options.prefix), entries);
      // before anything is answered: the first view's garbage, collected now rather than in pauses
      if (entries.length >= SETTLE_HEAP_ENTRIES) collectGarbage();
      return;
    }
    const build = { pending: new Set<string>() };
    this.building = build;
    const index = new SkyIndex([], this.options.prefix);
    let next = 0;
    const step = (): void => {
      if (this.building !== build || this.stopping) return;
      const end = Math.min(entries.length, next + REBUILD_SLICE);
      for (; next < end; next++) index.put(entries[next]!);
      if (next < entries.length) {
        setImmediate(step);
        return;
      }
      this.building = undefined;
      const live = this.catalog.skydnsEntries();
      for (const key of build.pending) {
        const entry = live.get(key);
        if (entry) index.put(entry);
        else index.remove(key);
      }
      this.swapIn(index, build.pending.size > 0 ? [...live.values()] : entries);
    };
    step();
  }

  /** a complete index becomes the one answering, here and in the workers */
  private swapIn(index: SkyIndex, entries: SkyEntry[]): void {
    const before = this.settings;
    this.index = index;
    this.settings = this.resolve(this.catalog.skydnsConfig());
    this.synced = true;
    // lost once ready, not "not yet connected": the first snapshot comes a moment before the watch
    const stale = this.responder.stale;
    this.responder.update({ index: this.index, settings: this.settings, synced: true, stale });
    this.toWorkers({ type: 'view', entries, settings: this.settings, synced: true, stale });
    if (this.leases.size > 0) this.toWorkers({ type: 'leases', expiry: this.leases.entries() });
    this.leaseEpoch = index.leaseEpoch;
    void this.leases.track(this.index.leases);
    if (JSON.stringify(before) !== JSON.stringify(this.settings)) this.log.info({ settings: this.settings }, 'dns settings');
    if (this.responder.synced && !this.loggedReady) {
      this.loggedReady = true;
      this.log.info({ records: this.index.size, revision: this.catalog.revision, udpWorkers: this.workerCount }, 'dns index ready');
    }
  }

  private leaseEpoch = 0;

  /** Watch events: the records of these keys change in the index, and only answers reading them are dropped. */
  private applyChanges(keys: ReadonlySet<string>): void {
    if (this.building) {
      for (const key of keys) this.building.pending.add(key);
      return;
    }
    if (!this.synced) return;
    const live = this.catalog.skydnsEntries();
    const touched: (readonly string[])[] = [];
    const changes: [string, SkyEntry | null][] = [];
    for (const key of keys) {
      const entry = live.get(key);
      const segments = entry ? this.index.put(entry) : this.index.remove(key);
      if (!segments) continue;
      touched.push(segments);
      changes.push([key, entry ?? null]);
    }
    this.updates += touched.length;
    const settings = keys.has(`${this.options.prefix.replace(/\/+$/, '')}/config`) ? this.resolve(this.catalog.skydnsConfig()) : this.settings;
    const settingsChanged = settings !== this.settings && JSON.stringify(settings) !== JSON.stringify(this.settings);
    if (settingsChanged) {
      this.settings = settings;
      this.log.info({ settings }, 'dns settings');
      this.responder.update({ settings });
    } else this.responder.changed(touched);
    if (touched.length > 0 || settingsChanged) this.toWorkers({ type: 'changes', changes, ...(settingsChanged ? { settings } : {}) });
    if (this.index.leaseEpoch !== this.leaseEpoch) {
      this.leaseEpoch = this.index.leaseEpoch;
      void this.leases.track(this.index.leases);
    }
  }

  /** store lost or back: TTLs capped at settings.staleTtl while lost (every cached answer is dropped) */
  private setStale(stale: boolean): void {
    if (stale === this.responder.stale) return;
    this.responder.update({ stale });
    this.toWorkers({ type: 'stale', stale });
  }

  private loggedReady = false;
  private ignoredConfig = '';

  private toWorkers(message: ToWorker): void {
    for (const w of this.workers) w.worker.postMessage(message);
  }

  async start(): Promise<void> {
    const { host, port } = this.options.listen;
    const onError = (err: Error): void => this.log.error({ err: err.message }, 'udp socket error');
    let udp: UdpSocket;
    try {
      udp = await bindUdp(host, port, this.workerCount > 0, this.responder, onError);
    } catch (err) {
      if (this.workerCount === 0) throw err;
      // no SO_REUSEPORT here: serve from the main thread alone
      this.log.warn({ err: (err as Error).message }, 'cannot share the UDP address between threads; running without UDP workers');
      this.workerCount = 0;
      udp = await bindUdp(host, port, false, this.responder, onError);
    }
    this.udp = udp;
    const bound = udp.address();
    this.bound = { address: bound.address, port: bound.port };
    const tcp = createServer({ noDelay: true }, (socket) => this.onTcp(socket));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    this.tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: bound.port, host, exclusive: true }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    tcp.on('error', (err) => this.log.error({ err: err.message }, 'tcp server error'));
    this.settings = this.resolve(this.catalog.skydnsConfig());
    this.responder.update({ settings: this.settings });
    for (let i = 1; i <= this.workerCount; i++) this.startWorker(i, bound.port);
    this.log.info({ address: bound.address, port: bound.port, udpWorkers: this.workerCount, domain: this.settings.domain, forward: this.settings.nameservers.map((n) => `${n.host}:${n.port}`) }, 'dns listening');
    this.leases.start();
    const sync = this.catalog.start();
    await Promise.race([sync, new Promise((r) => setTimeout(r, this.options.syncWaitMs ?? 5000).unref())]);
    if (!this.synced) this.log.warn({ store: this.options.store.description }, 'store not synced yet; in-zone queries get SERVFAIL until it is');
  }

  /** A worker binds its socket once it has a synced view, so it never answers from an empty index. */
  private startWorker(id: number, port: number): void {
    const init: WorkerInit = { listen: { host: this.options.listen.host, port }, prefix: this.options.prefix, settings: this.settings, logLevel: this.options.logLevel ?? 'info', id };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    const handle: WorkerHandle = { worker, exited: new Promise((resolve) => worker.once('exit', () => resolve())) };
    this.workers.push(handle);
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'listening') this.log.debug({ worker: id }, 'udp worker listening');
      else if (m.type === 'stats') handle.stats = m.stats;
      else if (m.type === 'error') this.log.error({ worker: id, err: m.message }, 'udp worker cannot serve');
    });
    worker.once('error', (err) => this.log.error({ worker: id, err: err.message }, 'udp worker failed'));
    worker.once('exit', (code) => {
      const i = this.workers.indexOf(handle);
      if (i === -1 || this.stopping) return;
      this.workers.splice(i, 1);
      if (handle.stats) this.retired = sumStats([this.retired, handle.stats]);
      this.log.error({ worker: id, code }, 'udp worker exited; the other sockets keep serving');
    });
  }

  private retired: StatsSnapshot = new Stats();

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.building = undefined;
    this.leases.stop();
    await this.catalog.stop().catch(() => undefined);
    const tcp = this.tcp;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    this.toWorkers({ type: 'stop' });
    // in-flight forwarded queries get up to 2 s to finish
    await pollUntil(() => this.responder.inflight === 0, Date.now() + 2000);
    for (const socket of this.connections) socket.destroy();
    const udp = this.udp;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    await Promise.all(
      this.workers.map((w) =>
        Promise.race([w.exited, new Promise<void>((r) => setTimeout(r, 3000).unref())]).then(() => w.worker.terminate()),
      ),
    );
  }

  ready(): boolean {
    return this.catalog.ready;
  }

  /**
   * The records stored at or under a name, as the admin page's search box shows them (read-only,
   * from the index; no query is answered or counted). Bounded to `limit` records.
   */
  lookup(name: string, limit = 100): { name: string; records: unknown[]; truncated: boolean } {
    const labels = name.trim().toLowerCase().replace(/\.+$/, '').split('.').filter(Boolean).reverse();
    const found = labels.length === 0 ? [] : this.index.lookup(labels).services;
    const records = found.slice(0, limit).map((r) => ({
      name: r.name,
      key: r.key,
      ...(r.host !== undefined ? { host: r.host } : {}),
      ...(r.port ? { port: r.port } : {}),
      ...(r.text !== undefined ? { text: r.text } : {}),
      ...(r.ttl ? { ttl: r.ttl } : {}),
      priority: r.priority,
      weight: r.weight,
      ...(r.group !== undefined ? { group: r.group } : {}),
      ...(r.lease !== undefined ? { lease: r.lease } : {}),
    }));
    return { name, records, truncated: found.length > limit };
  }

  status(): unknown {
    return dnsStatus({
      listen: this.bound ?? this.options.listen,
      totals: this.totals(),
      settings: this.settings,
      head: {
        ready: this.catalog.ready,
        revision: this.catalog.revision,
        records: this.index.size,
        indexRebuilds: this.rebuilds,
        indexUpdates: this.updates,
        leases: this.leases.size,
        malformedValues: this.catalog.malformed,
        udpWorkers: this.workers.length,
      },
      inflight: this.responder.inflight,
      tcpConnections: this.connections.size,
      stale: this.responder.stale,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      store: this.catalog.storeState(),
    });
  }

  /**
   * DNS over TCP (RFC 7766): pipelined queries, answered as they complete. Backpressure: reading
   * stops while replies wait for the client (the socket's write buffer is full) or while
   * TCP_MAX_INFLIGHT queries of this connection are unanswered, and resumes on 'drain' or as they
   * complete. A client that stops reading thus costs a bounded buffer, and the idle timeout (no
   * bytes either way) closes its connection.
   */
  private onTcp(socket: Socket): void {
    this.connections.add(socket);
    const client = socket.remoteAddress ?? '';
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    let data: Buffer = Buffer.alloc(0);
    let inflight = 0;
    let blocked = false;
    let pumping = false;
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(socket));
    const send = (reply: Reply): void => {
      if (socket.destroyed) return;
      const frame = Buffer.allocUnsafe(2 + reply.length);
      frame.writeUInt16BE(reply.length);
      frame.set(reply, 2);
      if (!socket.write(frame) || socket.writableLength > TCP_WRITE_BUFFER) blocked = true;
    };
    const done = (): void => {
      inflight--;
      if (!pumping) pump();
    };
    const pump = (): void => {
      pumping = true;
      try {
        while (!blocked && inflight < TCP_MAX_INFLIGHT && data.length >= 2 && !socket.destroyed) {
          const len = data.readUInt16BE(0);
          if (len < 12) {
            socket.destroy();
            return;
          }
          if (data.length < 2 + len) break;
          const msg = Buffer.from(data.subarray(2, 2 + len));
          data = data.subarray(2 + len);
          inflight++;
          this.responder.serve(msg, 'tcp', client, send, done);
        }
      } finally {
        pumping = false;
      }
      if (socket.destroyed) return;
      if (blocked || inflight >= TCP_MAX_INFLIGHT) socket.pause();
      else if (socket.isPaused()) socket.resume();
    };
    socket.on('drain', () => {
      blocked = false;
      pump();
    });
    socket.on('data', (chunk: Buffer) => {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      pump();
    });
  }
}
