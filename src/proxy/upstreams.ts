import { Pool } from 'undici';
import type { Logger } from '../log.js';
import type { Instance } from '../catalog/catalog.js';
import { newPeer, peerState, type Peer, type PeerState } from './balancer.js';

export interface PoolOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** max connections per upstream; 0 = unlimited */
  connections: number;
}

/** One instance of a service, as the balancer and the I/O shell see it. */
export interface Upstream extends Peer {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly origin: string;
  readonly pool: Pool;
  /** instance ids registered at this address (usually one) */
  readonly instanceIds: readonly string[];
}

export interface ServiceUpstreams {
  readonly service: string;
  readonly peers: readonly Upstream[];
}

interface PoolEntry {
  pool: Pool;
  refs: number;
}

export interface UpstreamStatus {
  id: string;
  instances: readonly string[];
  weight: number;
  state: PeerState;
  fails: number;
  ejectedForMs?: number;
}

/**
 * The live routing table: service -> peers, each with a keep-alive undici Pool. Rebuilt per
 * service from the catalog's view on every change (no store I/O here); a peer whose address
 * stays keeps its balancing state and its pool, a removed one has its pool closed gracefully
 * (in-flight requests finish).
 */
export class UpstreamTable {
  private readonly byService = new Map<string, ServiceUpstreams>();
  private readonly pools = new Map<string, PoolEntry>();
  private readonly options: PoolOptions;
  private readonly log: Logger;

  constructor(options: PoolOptions, log: Logger) {
    this.options = options;
    this.log = log;
  }

  get(service: string): ServiceUpstreams | undefined {
    return this.byService.get(service);
  }

  services(): IterableIterator<ServiceUpstreams> {
    return this.byService.values();
  }

  /** Replaces the peers of one service with the catalog's current instances. */
  update(service: string, instances: readonly Instance[]): void {
    const previous = this.byService.get(service)?.peers ?? [];
    const oldById = new Map(previous.map((p) => [p.id, p]));
    const grouped = new Map<string, Instance[]>();
    for (const instance of instances) {
      const id = addressId(instance.host, instance.port);
      const list = grouped.get(id);
      if (list) list.push(instance);
      else grouped.set(id, [instance]);
    }
    const peers: Upstream[] = [];
    const added: string[] = [];
    for (const [id, group] of grouped) {
      const first = group[0]!;
      const weight = group.reduce((sum, i) => sum + (i.weight ?? 1), 0);
      const ids = group.map((i) => i.id);
      const old = oldById.get(id);
      if (old && old.weight === weight && sameIds(old.instanceIds, ids)) {
        peers.push(old);
        oldById.delete(id);
        continue;
      }
      const origin = `http://${id}`;
      const peer: Upstream = Object.assign(newPeer(id, weight), {
        service,
        host: first.host,
        port: first.port,
        origin,
        pool: old ? old.pool : this.acquire(origin),
        instanceIds: ids,
      });
      if (!old) added.push(id);
      if (old) {
        peer.current = old.current;
        peer.fails = old.fails;
        peer.firstFailAt = old.firstFailAt;
        peer.ejectedUntil = old.ejectedUntil;
        // Not `probing`: an in-flight probe reports on the old object, so a copied flag would
        // never be cleared and this peer would stay excluded. The new peer may probe again.
        oldById.delete(id);
      }
      peers.push(peer);
    }
    for (const gone of oldById.values()) this.release(gone.origin);
    if (added.length > 0 || oldById.size > 0) {
      this.log.info({ service, added, removed: [...oldById.keys()], upstreams: peers.length }, 'upstreams changed');
    }
    if (peers.length === 0) this.byService.delete(service);
    else this.byService.set(service, { service, peers });
  }

  /** Services that have disappeared from the catalog entirely. */
  retain(live: ReadonlySet<string>): void {
    for (const service of [...this.byService.keys()]) if (!live.has(service)) this.update(service, []);
  }

  status(now: number): Record<string, UpstreamStatus[]> {
    const out: Record<string, UpstreamStatus[]> = {};
    for (const { service, peers } of this.byService.values()) {
      out[service] = peers.map((p) => {
        const state = peerState(p, now);
        return {
          id: p.id,
          instances: p.instanceIds,
          weight: p.weight,
          state,
          fails: p.fails,
          ...(state === 'ejected' ? { ejectedForMs: p.ejectedUntil - now } : {}),
        };
      });
    }
    return out;
  }

  private acquire(origin: string): Pool {
    const entry = this.pools.get(origin);
    if (entry) {
      entry.refs++;
      return entry.pool;
    }
    const o = this.options;
    const pool = new Pool(origin, {
      connections: o.connections > 0 ? o.connections : null,
      connectTimeout: o.connectTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      keepAliveMaxTimeout: Math.max(o.keepAliveTimeoutMs, 1000),
      pipelining: 1,
    });
    // Connection errors reach the request handlers; this only keeps the emitter from throwing.
    pool.on('connectionError', () => undefined);
    this.pools.set(origin, { pool, refs: 1 });
    return pool;
  }

  private release(origin: string): void {
    const entry = this.pools.get(origin);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.pools.delete(origin);
    entry.pool.close().catch((err: Error) => this.log.debug({ origin, err: err.message }, 'closing upstream pool'));
  }

  /** Closes every pool, waiting for in-flight requests up to `deadlineMs`, then destroys. */
  async close(deadlineMs: number): Promise<void> {
    const pools = [...this.pools.values()].map((e) => e.pool);
    this.pools.clear();
    this.byService.clear();
    await Promise.all(
      pools.map(async (pool) => {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)));
        await Promise.race([pool.close().catch(() => undefined), deadline]);
        clearTimeout(timer);
        await pool.destroy().catch(() => undefined);
      }),
    );
  }
}

export function addressId(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
