import type { Logger } from '../log.js';
import type { Instance } from '../catalog/catalog.js';
import { newPeer, peerState, type Peer, type PeerState } from './balancer.js';
import { pollUntil } from '../wait.js';

/** What the table needs of an engine's connection pool to one upstream address. */
export interface UpstreamPoolLike {
  /** open connections */
  readonly size: number;
  /** no new connections; idle ones close now, busy ones when their response ends */
  close(): void;
  /** cuts everything still open */
  destroy(): void;
  /** ages out idle connections */
  sweep(now: number): void;
}

/** Opens the pool for one upstream address. */
export type PoolFactory<P extends UpstreamPoolLike> = (id: string, host: string, port: number) => P;

/** One instance of a service, as the balancer and the I/O shell see it. */
export interface Upstream<P extends UpstreamPoolLike = UpstreamPoolLike> extends Peer {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly origin: string;
  readonly pool: P;
  /** instance ids registered at this address (usually one) */
  readonly instanceIds: readonly string[];
}

export interface ServiceUpstreams<P extends UpstreamPoolLike = UpstreamPoolLike> {
  readonly service: string;
  readonly peers: readonly Upstream<P>[];
}

interface PoolEntry<P> {
  pool: P;
  refs: number;
}

export interface UpstreamStatus {
  id: string;
  instances: readonly string[];
  weight: number;
  state: PeerState;
  fails: number;
  ejectedForMs?: number;
  /** attempts in flight on it now (what least-conn balances on) */
  inflight: number;
  /** time left on the lease of its registration (see instance-status.ts) */
  leaseLeftMs?: number;
}

/**
 * The live routing table: service -> peers, each with a keep-alive connection pool. Rebuilt per
 * service from the catalog's view on every change (no store I/O here); a peer whose address
 * stays keeps its balancing state and its pool, a removed one has its pool closed gracefully
 * (in-flight requests finish).
 */
export class UpstreamTable<P extends UpstreamPoolLike = UpstreamPoolLike> {
  private readonly byService = new Map<string, ServiceUpstreams<P>>();
  private readonly pools = new Map<string, PoolEntry<P>>();
  private readonly openPool: PoolFactory<P>;
  private readonly log: Logger;

  constructor(openPool: PoolFactory<P>, log: Logger) {
    this.openPool = openPool;
    this.log = log;
  }

  get(service: string): ServiceUpstreams<P> | undefined {
    return this.byService.get(service);
  }

  services(): IterableIterator<ServiceUpstreams<P>> {
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
    const peers: Upstream<P>[] = [];
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
      const peer: Upstream<P> = Object.assign(newPeer(id, weight), {
        service,
        host: first.host,
        port: first.port,
        origin,
        pool: old ? old.pool : this.acquire(id, first.host, first.port),
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
    for (const gone of oldById.values()) this.release(gone.id);
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
          inflight: p.active,
          ...(state === 'ejected' ? { ejectedForMs: p.ejectedUntil - now } : {}),
        };
      });
    }
    return out;
  }

  private acquire(id: string, host: string, port: number): P {
    const entry = this.pools.get(id);
    if (entry) {
      entry.refs++;
      return entry.pool;
    }
    const pool = this.openPool(id, host, port);
    this.pools.set(id, { pool, refs: 1 });
    return pool;
  }

  private release(id: string): void {
    const entry = this.pools.get(id);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.pools.delete(id);
    // in-flight responses finish on their connections; idle ones close now
    entry.pool.close();
  }

  /** Ages out idle upstream connections (called from the front door's timer). */
  sweep(now: number): void {
    for (const { pool } of this.pools.values()) pool.sweep(now);
  }

  /** Closes every pool: idle connections now, busy ones after `deadlineMs`. */
  async close(deadlineMs: number): Promise<void> {
    const pools = [...this.pools.values()].map((e) => e.pool);
    this.pools.clear();
    this.byService.clear();
    for (const pool of pools) pool.close();
    await pollUntil(() => pools.every((p) => p.size === 0), Date.now() + deadlineMs);
    for (const pool of pools) pool.destroy();
  }
}

export function addressId(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
