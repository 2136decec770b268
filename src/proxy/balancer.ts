/**
 * Pure balancing: smooth weighted round robin (nginx's algorithm) over the peers of one service,
 * with passive ejection (nginx `max_fails`/`fail_timeout`) and a half-open probe back.
 * No timers, no I/O: callers pass `now` and report each outcome.
 */

export interface EjectionPolicy {
  /** failures within `failTimeoutMs` that eject a peer; 0 disables ejection */
  readonly maxFails: number;
  /** the window failures are counted in, and how long an ejected peer sits out */
  readonly failTimeoutMs: number;
}

export type PeerState = 'up' | 'ejected' | 'probing';

export interface Peer {
  /** `host:port` */
  readonly id: string;
  /** >= 0; 0 = used only when no weighted peer is available */
  readonly weight: number;
  /** smooth WRR running weight */
  current: number;
  fails: number;
  firstFailAt: number;
  /** 0 when not ejected; otherwise when the cool-down ends */
  ejectedUntil: number;
  /** a half-open probe request is in flight */
  probing: boolean;
  /** requests in a row another instance answered first (hedged) */
  hedges: number;
  /** attempts in flight on it (least-conn), kept by Traffic */
  active: number;
}

export function newPeer(id: string, weight = 1): Peer {
  return { id, weight: Number.isFinite(weight) && weight >= 0 ? weight : 1, current: 0, fails: 0, firstFailAt: 0, ejectedUntil: 0, probing: false, hedges: 0, active: 0 };
}

export function peerState(peer: Peer, now: number): PeerState {
  if (peer.ejectedUntil === 0) return 'up';
  if (peer.probing) return 'probing';
  return now >= peer.ejectedUntil ? 'probing' : 'ejected';
}

const NONE: readonly Peer[] = [];

function eligible(peer: Peer, now: number, tried: readonly Peer[], ignoreEjection: boolean): boolean {
  if (tried.length !== 0 && tried.includes(peer)) return false;
  if (ignoreEjection || peer.ejectedUntil === 0) return true;
  return !peer.probing && now >= peer.ejectedUntil;
}

function smoothPick(peers: readonly Peer[], now: number, tried: readonly Peer[], ignoreEjection: boolean, zeroWeight: boolean): Peer | undefined {
  let best: Peer | undefined;
  let total = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i]!;
    if (!eligible(peer, now, tried, ignoreEjection)) continue;
    const weight = zeroWeight ? 1 : peer.weight;
    if (weight === 0) continue;
    peer.current += weight;
    total += weight;
    if (best === undefined || peer.current > best.current) best = peer;
  }
  if (best !== undefined) best.current -= total;
  return best;
}

/**
 * The next peer for a request, skipping `tried` (earlier attempts of the same request).
 * Order of preference: available weighted peers; available weight-0 peers; when every untried
 * peer is ejected, any untried peer (a passive detector must not turn a blip into an outage).
 * A peer whose cool-down is over is handed out as the single half-open probe.
 */
export function pickUpstream(peers: readonly Peer[], now: number, tried: readonly Peer[] = NONE): Peer | undefined {
  if (peers.length === 0) return undefined;
  const peer =
    smoothPick(peers, now, tried, false, false) ??
    smoothPick(peers, now, tried, false, true) ??
    smoothPick(peers, now, tried, true, false) ??
    smoothPick(peers, now, tried, true, true);
  if (peer !== undefined && peer.ejectedUntil !== 0 && now >= peer.ejectedUntil && !peer.probing) peer.probing = true;
  return peer;
}

/** After a response came back (any status): the peer is healthy. Returns true if it was ejected. */
export function reportSuccess(peer: Peer): boolean {
  peer.fails = 0;
  peer.hedges = 0;
  if (peer.ejectedUntil === 0) return false;
  peer.ejectedUntil = 0;
  peer.probing = false;
  return true;
}

/** After a connection-level failure or timeout. Returns true when this failure ejects the peer. */
export function reportFailure(peer: Peer, now: number, policy: EjectionPolicy): boolean {
  if (policy.maxFails <= 0) return false;
  if (peer.ejectedUntil !== 0) {
    failedWhileEjected(peer, now, policy);
    return false;
  }
  if (peer.fails === 0 || now - peer.firstFailAt > policy.failTimeoutMs) {
    peer.fails = 0;
    peer.firstFailAt = now;
  }
  peer.fails++;
  if (peer.fails < policy.maxFails) return false;
  peer.fails = 0;
  peer.ejectedUntil = now + policy.failTimeoutMs;
  return true;
}

/** Hedged requests in a row that eject an instance (it answers nothing in time: a hung app). */
export const HEDGE_STREAK = 3;

/**
 * Another instance answered a request first, after it was hedged because this peer sent no
 * response head in time. HEDGE_STREAK in a row (no response from it in between) eject it for
 * the fail timeout; a probe that needs a hedge sits out another cool-down. Returns true when
 * this ejects the peer. `maxFails` 0 disables it as it disables failure ejection.
 */
export function reportHedged(peer: Peer, now: number, policy: EjectionPolicy, streak = HEDGE_STREAK): boolean {
  if (policy.maxFails <= 0) return false;
  if (peer.ejectedUntil !== 0) {
    failedWhileEjected(peer, now, policy);
    return false;
  }
  if (++peer.hedges < streak) return false;
  peer.hedges = 0;
  peer.ejectedUntil = now + policy.failTimeoutMs;
  return true;
}

/**
 * A failure or a hedge on a peer already ejected: a failed probe (or a straggler of the batch that
 * ejected it) sits out another cool-down.
 */
function failedWhileEjected(peer: Peer, now: number, policy: EjectionPolicy): void {
  const wasProbe = peer.probing || now >= peer.ejectedUntil;
  peer.probing = false;
  if (wasProbe) peer.ejectedUntil = now + policy.failTimeoutMs;
}

/** The request ended without telling anything about the peer (client went away). */
export function reportNeutral(peer: Peer): void {
  peer.probing = false;
}
