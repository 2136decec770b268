import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Registry, type MetricObjectWithValues, type MetricValue, type RegistryContentType } from 'prom-client';
import { STORE_FLAGS } from '../config/common.js';
import { envName } from '../config/flags.js';
import type { Logger } from '../log.js';
import type { RunningMode } from '../mode.js';
import type { ProxyConfig } from './config.js';
import type { ProxyStatus } from './engine.js';
import { METRIC_NAMES, ProxyMetrics } from './metrics.js';
import { TCP_METRIC_NAMES, TcpMetrics } from './tcp/metrics.js';
import { TLS_METRIC_NAMES, TlsMetrics } from './tls/metrics.js';
import { mergeTcpStatus } from './tcp/status.js';

export const MESSAGE_TAG = 'beacon-proxy';

/**
 * Environment variables a worker must not inherit: those of secret flags (the etcd password). The
 * worker gets its whole config, secrets included, over the IPC channel instead, so the secret is
 * in no worker's /proc/<pid>/environ (the primary's own environment is the operator's choice).
 */
export const SCRUBBED_ENV: readonly string[] = STORE_FLAGS.filter((spec) => 'secret' in spec && spec.secret).map((spec) => envName(spec.name));

export type WorkerMessage =
  /** the worker listens for messages now: the primary answers with its config */
  | { tag: typeof MESSAGE_TAG; kind: 'hello' }
  | { tag: typeof MESSAGE_TAG; kind: 'up'; status: ProxyStatus }
  | { tag: typeof MESSAGE_TAG; kind: 'failed'; error: string; usage?: boolean }
  | { tag: typeof MESSAGE_TAG; kind: 'status'; status: ProxyStatus }
  | { tag: typeof MESSAGE_TAG; kind: 'metrics'; id: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

export type PrimaryMessage =
  | { tag: typeof MESSAGE_TAG; kind: 'config'; config: ProxyConfig; index: number }
  | { tag: typeof MESSAGE_TAG; kind: 'stop' }
  | { tag: typeof MESSAGE_TAG; kind: 'metrics'; id: number };

interface Slot {
  index: number;
  worker: Worker | undefined;
  status: ProxyStatus | undefined;
  restarts: number;
}

const RESTART_DELAY_MS = 500;

/** a worker's answer to a scrape is awaited this long (busy workers answer late; scrapes wait ~10 s) */
const METRICS_ANSWER_MS = 2500;

/**
 * --workers N: the primary forks N workers that share the listen socket through node:cluster.
 * Each worker runs a whole ProxyEngine with its own catalog and store watch, so every worker
 * routes on the live table straight from the store: no IPC on the request path or the update
 * path, no table to ship around, and a restarted worker resyncs by itself. The price is N
 * watches on etcd (cheap) and per-worker ejection state (each worker learns failures itself).
 * The primary supervises (restarts crashed workers), drives graceful shutdown, and serves
 * admin: readiness and status gathered from the workers, metrics summed across them.
 */
export class ProxyPrimary implements RunningMode {
  private readonly config: ProxyConfig;
  private readonly log: Logger;
  private readonly slots: Slot[] = [];
  private stopping = false;
  private nextMetricsId = 1;
  private readonly pendingMetrics = new Map<number, (metrics: MetricObjectWithValues<MetricValue<string>>[]) => void>();
  private collecting: { at: number; promise: Promise<Registry<RegistryContentType>> } | undefined;
  /** each live worker's last metrics: a worker slow to answer a scrape counts with these, so sums never fall back */
  private readonly lastMetrics = new WeakMap<Worker, MetricObjectWithValues<MetricValue<string>>[]>();

  constructor(config: ProxyConfig, log: Logger, metrics: Registry) {
    this.config = config;
    this.log = log;
    for (let i = 0; i < config.workers; i++) this.slots.push({ index: i, worker: undefined, status: undefined, restarts: 0 });
    this.registerBridges(metrics);
  }

  async start(): Promise<void> {
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker.js', import.meta.url)), args: [], silent: false });
    await Promise.all(this.slots.map((slot) => this.fork(slot)));
    this.log.info({ listen: this.config.listen, workers: this.slots.length }, 'proxy workers listening');
  }

  private fork(slot: Slot): Promise<void> {
    return new Promise((resolve, reject) => {
      // undefined drops an inherited variable from the child's environment
      const worker = cluster.fork(Object.fromEntries(SCRUBBED_ENV.map((name) => [name, undefined])));
      slot.worker = worker;
      let up = false;
      worker.on('message', (msg: WorkerMessage) => {
        if (!msg || msg.tag !== MESSAGE_TAG) return;
        switch (msg.kind) {
          case 'hello':
            try {
              worker.send({ tag: MESSAGE_TAG, kind: 'config', config: this.config, index: slot.index } satisfies PrimaryMessage);
            } catch {
              /* it died already: its exit event reports it */
            }
            break;
          case 'up':
            up = true;
            slot.status = msg.status;
            resolve();
            break;
          case 'failed':
            if (!up) reject(new Error(`worker ${slot.index}: ${msg.error}`));
            break;
          case 'status':
            slot.status = msg.status;
            break;
          case 'metrics':
            this.pendingMetrics.get(msg.id)?.(msg.metrics);
            break;
        }
      });
      worker.on('error', (err) => this.log.warn({ worker: slot.index, err: err.message }, 'worker channel error'));
      worker.on('exit', (code, signal) => {
        if (slot.worker === worker) {
          slot.worker = undefined;
          slot.status = undefined;
        }
        if (!up) {
          reject(new Error(`worker ${slot.index} exited before listening (code ${code}, signal ${signal})`));
          return;
        }
        if (this.stopping) return;
        slot.restarts++;
        this.log.error({ worker: slot.index, pid: worker.process.pid, code, signal }, 'proxy worker died; starting a new one');
        setTimeout(() => {
          if (!this.stopping) this.fork(slot).catch((err: Error) => this.log.error({ worker: slot.index, err: err.message }, 'worker restart failed'));
        }, RESTART_DELAY_MS).unref();
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const deadline = this.config.shutdownTimeout + 5000;
    await Promise.all(
      this.slots.map(async (slot) => {
        const worker = slot.worker;
        if (!worker || worker.isDead()) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        try {
          worker.send({ tag: MESSAGE_TAG, kind: 'stop' } satisfies PrimaryMessage);
        } catch {
          /* channel already closed */
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline)))]);
        clearTimeout(timer);
        if (!worker.isDead()) {
          this.log.warn({ worker: slot.index }, 'worker did not stop in time; killing it');
          worker.process.kill('SIGKILL');
          await exited;
        }
      }),
    );
  }

  ready(): boolean {
    return this.slots.every((s) => s.worker !== undefined && s.status?.ready === true);
  }

  status(): unknown {
    const first = this.slots.find((s) => s.status)?.status;
    return {
      listen: first?.listen ?? this.config.listen,
      ready: this.ready(),
      workers: this.slots.map((s) => ({
        index: s.index,
        pid: s.worker?.process.pid,
        restarts: s.restarts,
        ready: s.status?.ready ?? false,
        inflight: s.status?.inflight,
        requests: s.status?.requests,
        revision: s.status?.revision,
      })),
      store: first?.store,
      // Every worker follows the same store; instance state (ejections) is per worker.
      services: mergeServices(this.slots.flatMap((s) => (s.status ? [s.status] : []))),
      ...(this.config.tcp.length > 0 ? { tcp: mergeTcpStatus(this.slots.map((s) => s.status?.tcp)) } : {}),
      // every worker loads the same certificates
      ...(first?.certificates ? { tlsListen: first.tlsListen, certificates: first.certificates } : {}),
    };
  }

  private registerBridges(registry: Registry): void {
    const template = new Registry();
    new ProxyMetrics(template);
    new TcpMetrics(template);
    new TlsMetrics(template, () => []);
    for (const name of [...METRIC_NAMES, ...TCP_METRIC_NAMES, ...(this.config.tlsListen === undefined ? [] : TLS_METRIC_NAMES)]) {
      const shape = template.getSingleMetric(name)!;
      registry.registerMetric({
        name,
        get: async () => {
          const aggregated = await this.collect();
          return (await (aggregated.getSingleMetric(name) ?? shape).get()) as MetricObjectWithValues<MetricValue<string>>;
        },
        reset: () => undefined,
      } as never);
    }
  }

  /** Metrics of every worker, summed; one round of IPC per scrape. */
  private collect(): Promise<Registry<RegistryContentType>> {
    const now = Date.now();
    if (this.collecting && now - this.collecting.at < 200) return this.collecting.promise;
    const promise = (async () => {
      const workers = this.slots.flatMap((s) => (s.worker && !s.worker.isDead() ? [s.worker] : []));
      const results = await Promise.all(
        workers.map(async (w) => {
          const got = await this.askMetrics(w);
          if (got !== undefined) this.lastMetrics.set(w, got);
          return got ?? this.lastMetrics.get(w);
        }),
      );
      return AggregatorRegistry.aggregate(results.filter((r) => r !== undefined));
    })();
    this.collecting = { at: now, promise };
    return promise;
  }

  private askMetrics(worker: Worker): Promise<MetricObjectWithValues<MetricValue<string>>[] | undefined> {
    const id = this.nextMetricsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingMetrics.delete(id);
        resolve(undefined);
      }, METRICS_ANSWER_MS);
      this.pendingMetrics.set(id, (metrics) => {
        clearTimeout(timer);
        this.pendingMetrics.delete(id);
        resolve(metrics);
      });
      try {
        worker.send({ tag: MESSAGE_TAG, kind: 'metrics', id } satisfies PrimaryMessage);
      } catch {
        clearTimeout(timer);
        this.pendingMetrics.delete(id);
        resolve(undefined);
      }
    });
  }
}

/** service -> instances with the state each worker holds for them. */
function mergeServices(statuses: readonly ProxyStatus[]): Record<string, unknown[]> {
  const out: Record<string, { id: string; instances: readonly string[]; weight: number; states: string[] }[]> = {};
  statuses.forEach((status) => {
    for (const [service, peers] of Object.entries(status.services)) {
      const list = (out[service] ??= []);
      for (const peer of peers) {
        let entry = list.find((e) => e.id === peer.id);
        if (!entry) {
          entry = { id: peer.id, instances: peer.instances, weight: peer.weight, states: [] };
          list.push(entry);
        }
        entry.states.push(peer.state);
      }
    }
  });
  const result: Record<string, unknown[]> = {};
  for (const [service, list] of Object.entries(out)) {
    result[service] = list.map((e) => ({
      id: e.id,
      instances: e.instances,
      weight: e.weight,
      // `up` when every worker has it up; otherwise the per-worker states
      state: e.states.every((s) => s === 'up') ? 'up' : e.states.some((s) => s === 'up') ? 'partly-ejected' : e.states[0],
      workerStates: e.states,
    }));
  }
  return result;
}
