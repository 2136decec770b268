/**
 * The instances of one service as TCP peers: grouped by address (two ids on one host:port are one
 * peer, weights summed), ordered by instance id (what `first` follows), each with the connections
 * open to it. Rebuilt from the catalog on every change; a peer whose address stays keeps its
 * balancing state and its connections.
 */
import type { Instance } from '../../catalog/catalog.js';
import { newPeer, peerState, type PeerState } from '../balancer.js';
import { addressId } from '../upstreams.js';
import type { LoadedPeer } from './balance.js';

/** What a peer needs of a connection: to close it when its instance is drained. */
export interface Closable {
  close(reason: string): void;
}

export interface TcpPeer extends LoadedPeer {
  readonly host: string;
  readonly port: number;
  /** sorted */
  readonly instanceIds: readonly string[];
}

export interface TcpPeerStatus {
  id: string;
  instances: readonly string[];
  weight: number;
  state: PeerState;
  open: number;
}

export class ServicePeers {
  /** in instance-id order */
  peers: TcpPeer[] = [];
  /** address -> open connections, kept across updates (also for removed, draining addresses) */
  private readonly open = new Map<string, Set<Closable>>();

  constructor(readonly service: string) {}

  /** Replaces the peers; returns the addresses that went away. */
  update(instances: readonly Instance[]): string[] {
    const old = new Map(this.peers.map((p) => [p.id, p]));
    const grouped = new Map<string, Instance[]>();
    for (const instance of instances) {
      const id = addressId(instance.host, instance.port);
      const list = grouped.get(id);
      if (list) list.push(instance);
      else grouped.set(id, [instance]);
    }
    const peers: TcpPeer[] = [];
    for (const [id, group] of grouped) {
      const weight = group.reduce((sum, i) => sum + (i.weight ?? 1), 0);
      const ids = group.map((i) => i.id).sort();
      const before = old.get(id);
      old.delete(id);
      if (before && before.weight === weight && before.instanceIds.join() === ids.join()) {
        peers.push(before);
        continue;
      }
      const peer: TcpPeer = Object.assign(newPeer(id, weight), { host: group[0]!.host, port: group[0]!.port, instanceIds: ids, active: this.open.get(id)?.size ?? 0 });
      if (before) {
        peer.current = before.current;
        peer.fails = before.fails;
        peer.firstFailAt = before.firstFailAt;
        peer.ejectedUntil = before.ejectedUntil;
      }
      peers.push(peer);
    }
    peers.sort((a, b) => (a.instanceIds[0]! < b.instanceIds[0]! ? -1 : a.instanceIds[0]! > b.instanceIds[0]! ? 1 : 0));
    this.peers = peers;
    return [...old.keys()];
  }

  has(id: string): boolean {
    return this.peers.some((p) => p.id === id);
  }

  attach(peer: TcpPeer, conn: Closable): void {
    let set = this.open.get(peer.id);
    if (!set) this.open.set(peer.id, (set = new Set()));
    set.add(conn);
    this.recount(peer.id, set.size);
  }

  detach(id: string, conn: Closable): void {
    const set = this.open.get(id);
    if (!set?.delete(conn)) return;
    if (set.size === 0) this.open.delete(id);
    this.recount(id, set.size);
  }

  /** Closes the connections still open to `id` (after its instance left and the drain time passed). */
  closeAll(id: string, reason: string): number {
    const set = this.open.get(id);
    if (!set) return 0;
    const conns = [...set];
    for (const conn of conns) conn.close(reason);
    return conns.length;
  }

  openCount(id: string): number {
    return this.open.get(id)?.size ?? 0;
  }

  status(now: number): TcpPeerStatus[] {
    return this.peers.map((p) => ({ id: p.id, instances: p.instanceIds, weight: p.weight, state: peerState(p, now), open: p.active }));
  }

  private recount(id: string, size: number): void {
    const peer = this.peers.find((p) => p.id === id);
    if (peer) peer.active = size;
  }
}
