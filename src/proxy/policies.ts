/**
 * Balancing policies per route beside smooth weighted round robin (balancer.ts): least-conn,
 * ip-hash (rendezvous hashing) and sticky cookies. Pure: peers, the clock and the client's key
 * in, a peer out. Every policy keeps balancer.ts's rules: `tried` peers are skipped, ejected
 * ones are used only when every untried peer is ejected, a peer past its cool-down is handed
 * out as the single half-open probe, weight-0 peers only when no weighted one is left.
 */
import { createHash } from 'node:crypto';
import type { Peer } from './balancer.js';
import type { BalancePolicy } from '../routes/route.js';

const NONE: readonly Peer[] = [];

/** The four tiers balancer.ts picks from, in order: [ignore ejection, treat weight 0 as 1]. */
const TIERS: readonly (readonly [boolean, boolean])[] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

function eligible(peer: Peer, now: number, tried: readonly Peer[], ignoreEjection: boolean): boolean {
  if (tried.length !== 0 && tried.includes(peer)) return false;
  if (ignoreEjection || peer.ejectedUntil === 0) return true;
  return !peer.probing && now >= peer.ejectedUntil;
}

function probeIfDue(peer: Peer | undefined, now: number): Peer | undefined {
  if (peer !== undefined && peer.ejectedUntil !== 0 && now >= peer.ejectedUntil && !peer.probing) peer.probing = true;
  return peer;
}

/** Highest `score(peer, weight)` in the first tier that has a peer; ties go to the earlier peer. */
function bestByScore(peers: readonly Peer[], now: number, tried: readonly Peer[], score: (peer: Peer, weight: number) => number): Peer | undefined {
  for (const [ignoreEjection, zeroWeight] of TIERS) {
    let best: Peer | undefined;
    let bestScore = -Infinity;
    for (const peer of peers) {
      if (!eligible(peer, now, tried, ignoreEjection)) continue;
      const weight = zeroWeight ? 1 : peer.weight;
      if (weight === 0) continue;
      const s = score(peer, weight);
      if (best === undefined || s > bestScore) {
        best = peer;
        bestScore = s;
      }
    }
    if (best !== undefined) return probeIfDue(best, now);
  }
  return undefined;
}

/**
 * Least connections, weights respected (nginx's least_conn): the fewest in-flight requests per
 * unit of weight; among equals, smooth weighted round robin.
 */
export function pickLeastConn(peers: readonly Peer[], now: number, tried: readonly Peer[] = NONE): Peer | undefined {
  for (const [ignoreEjection, zeroWeight] of TIERS) {
    let min = Infinity;
    for (const peer of peers) {
      if (!eligible(peer, now, tried, ignoreEjection)) continue;
      const weight = zeroWeight ? 1 : peer.weight;
      if (weight !== 0 && peer.active / weight < min) min = peer.active / weight;
    }
    if (min === Infinity) continue;
    let best: Peer | undefined;
    let total = 0;
    for (const peer of peers) {
      if (!eligible(peer, now, tried, ignoreEjection)) continue;
      const weight = zeroWeight ? 1 : peer.weight;
      if (weight === 0 || peer.active / weight !== min) continue;
      peer.current += weight;
      total += weight;
      if (best === undefined || peer.current > best.current) best = peer;
    }
    best!.current -= total;
    return probeIfDue(best, now);
  }
  return undefined;
}

/** FNV-1a, then murmur3's finaliser: 32 well-mixed bits of a string. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Rendezvous (highest random weight) hashing of `key` (the client address): every client has a
 * fixed order of peers, so adding one of N+1 peers moves only the clients that now rank it
 * first (about 1/(N+1)), removing one moves only its own clients. Weighted as in
 * Schindelhauer and Schomaker's logarithmic method: score = weight / -ln(u).
 */
export function pickHashed(peers: readonly Peer[], now: number, key: string, tried: readonly Peer[] = NONE): Peer | undefined {
  if (peers.length === 0) return undefined;
  return bestByScore(peers, now, tried, (p, w) => {
    const u = (hash32(`${key}\u0000${p.id}`) + 0.5) / 4294967296;
    return w / -Math.log(u);
  });
}

/** The opaque cookie value naming one instance: not its address, stable across restarts of the proxy. */
export function stickyId(service: string, instanceIds: readonly string[]): string {
  return createHash('sha256').update(`${service}/${instanceIds[0] ?? ''}`).digest('base64url').slice(0, 16);
}

/**
 * The peer a sticky cookie names, when it is live, not ejected and not tried already;
 * undefined sends the request to round robin (and the response re-issues the cookie).
 */
export function pickSticky<T extends Peer>(peers: readonly T[], now: number, wanted: string, idOf: (peer: T) => string, tried: readonly Peer[] = NONE): T | undefined {
  if (wanted === '') return undefined;
  for (const peer of peers) {
    if (idOf(peer) !== wanted) continue;
    if (peer.ejectedUntil !== 0 || (tried.length !== 0 && tried.includes(peer))) return undefined;
    return peer;
  }
  return undefined;
}

/** One cookie's value in a Cookie header value ('' when absent). */
function cookieIn(header: string, name: string): string {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return '';
}

/** A cookie's value from a request's headers: a flat `[name, value, ...]` list or header lines. */
export function cookieValue(headers: readonly string[] | string, name: string): string {
  if (typeof headers === 'string') {
    const re = /(?:^|\r\n)cookie[ \t]*:([^\r\n]*)/gi;
    for (let m = re.exec(headers); m !== null; m = re.exec(headers)) {
      const v = cookieIn(m[1]!, name);
      if (v !== '') return v;
    }
    return '';
  }
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length !== 6 || n.toLowerCase() !== 'cookie') continue;
    const v = cookieIn(headers[i + 1]!, name);
    if (v !== '') return v;
  }
  return '';
}

/** What a request carries for its route's policy: the client address, the cookie, or nothing. */
export function affinityKey(policy: BalancePolicy, cookie: string, client: string, headers: readonly string[] | string): string {
  if (policy === 'ip-hash') return client;
  if (policy === 'cookie') return cookieValue(headers, cookie);
  return '';
}

/** The Set-Cookie line (with CRLF) sticking the client to `id`. */
export function stickyCookieLine(name: string, id: string): string {
  return `set-cookie: ${name}=${id}; Path=/; HttpOnly; SameSite=Lax\r\n`;
}
