/**
 * Pure balancing for TCP listeners (and any front door with long-lived connections): `first`
 * (failover in a fixed order) and `least-conn`, beside balancer.ts's smooth weighted round robin,
 * with the same passive-ejection rules: ejected peers are skipped, a peer whose cool-down is over
 * is handed out once as the half-open probe, and when every untried peer is ejected one is used
 * anyway (a passive detector must not turn a blip into an outage). No timers, no I/O.
 */
import { pickUpstream, type Peer } from '../balancer.js';
import type { TcpBalance } from './spec.js';

/** A peer that knows how many connections it holds now. */
export interface LoadedPeer extends Peer {
  /** open connections to this peer */
  active: number;
}

const NONE: readonly Peer[] = [];

function available(peer: Peer, now: number, tried: readonly Peer[], ignoreEjection: boolean): boolean {
  if (tried.length !== 0 && tried.includes(peer)) return false;
  if (ignoreEjection || peer.ejectedUntil === 0) return true;
  return !peer.probing && now >= peer.ejectedUntil;
}

function markProbe(peer: Peer | undefined, now: number): Peer | undefined {
  if (peer !== undefined && peer.ejectedUntil !== 0 && now >= peer.ejectedUntil && !peer.probing) peer.probing = true;
  return peer;
}

/**
 * The first available peer in the order given (callers sort by instance id). Weight does not
 * matter here, except that weight-0 peers come after every weighted one, as in round robin.
 */
export function pickFirst<P extends Peer>(peers: readonly P[], now: number, tried: readonly Peer[] = NONE): P | undefined {
  for (const ignoreEjection of [false, true]) {
    for (const zeroWeight of [false, true]) {
      for (const peer of peers) {
        if ((peer.weight === 0) !== zeroWeight) continue;
        if (available(peer, now, tried, ignoreEjection)) return markProbe(peer, now) as P;
      }
    }
  }
  return undefined;
}

/**
 * The available peer with the fewest open connections per unit of weight (nginx `least_conn`);
 * ties go round robin by smooth weighted round robin among the tied peers, so equal peers with
 * no load still share new connections.
 */
export function pickLeastConn<P extends LoadedPeer>(peers: readonly P[], now: number, tried: readonly Peer[] = NONE): P | undefined {
  for (const ignoreEjection of [false, true]) {
    for (const zeroWeight of [false, true]) {
      let best: P[] = [];
      for (const peer of peers) {
        if ((peer.weight === 0) !== zeroWeight || !available(peer, now, tried, ignoreEjection)) continue;
        const w = zeroWeight ? 1 : peer.weight;
        if (best.length === 0) {
          best = [peer];
          continue;
        }
        const other = best[0]!;
        const ow = zeroWeight ? 1 : other.weight;
        // peer.active / w vs other.active / ow without division
        const diff = peer.active * ow - other.active * w;
        if (diff < 0) best = [peer];
        else if (diff === 0) best.push(peer);
      }
      if (best.length === 1) return markProbe(best[0], now) as P;
      if (best.length > 1) {
        // smooth WRR among the tied peers: the same interleaving round robin gives
        const pick = pickUpstream(best, now, tried) as P | undefined;
        if (pick !== undefined) return pick;
      }
    }
  }
  return undefined;
}

/** The peer for a new connection under `balance`, skipping the ones this connection tried. */
export function pickTcp<P extends LoadedPeer>(balance: TcpBalance, peers: readonly P[], now: number, tried: readonly Peer[] = NONE): P | undefined {
  switch (balance) {
    case 'first':
      return pickFirst(peers, now, tried);
    case 'least-conn':
      return pickLeastConn(peers, now, tried);
    case 'round-robin':
      return pickUpstream(peers, now, tried) as P | undefined;
  }
}
