/**
 * The record model: SkyDNS entries from the catalog arranged as a tree of key segments, so a
 * name's lookup (its exact key plus everything under `<key>/`, wildcards included) is a walk
 * and not a scan, and a change to one key is a walk too. Pure: fed entries, never touches the store.
 */
import { isIP } from 'node:net';
import type { SkyEntry } from '../catalog/catalog.js';

/** One SkyDNS record as the answer logic needs it. */
export interface Service {
  readonly key: string;
  /** the name the key stands for, lowercase, with the trailing dot (`web1-8080.app.skydns.local.`) */
  readonly name: string;
  readonly host?: string | undefined;
  /** 4 or 6 for address hosts, 0 for names */
  readonly ip: 0 | 4 | 6;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
  readonly text?: string | undefined;
  readonly mail: boolean;
  /** the record's own `ttl`, 0 when unset */
  readonly ttl: number;
  readonly targetstrip: number;
  readonly group?: string | undefined;
  readonly lease?: string | undefined;
  /** key depth, for group resolution */
  readonly depth: number;
}

/**
 * A record in the index: one shape for all (absent fields are undefined, not missing), and the
 * name computed from the key when asked (SRV/MX targets of address records only) instead of one
 * more string per record.
 */
class StoredRecord implements Service {
  readonly key: string;
  /** where the key's segments start (after `<prefix>/`) */
  private readonly start: number;
  readonly host: string | undefined;
  readonly ip: 0 | 4 | 6;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
  readonly text: string | undefined;
  readonly mail: boolean;
  readonly ttl: number;
  readonly targetstrip: number;
  readonly group: string | undefined;
  readonly lease: string | undefined;
  readonly depth: number;

  constructor(entry: SkyEntry, start: number, depth: number) {
    const r = entry.record;
    const host = r.host;
    const version = host === undefined ? 0 : isIP(host);
    this.key = entry.key;
    this.start = start;
    this.host = host;
    this.ip = version === 4 ? 4 : version === 6 ? 6 : 0;
    this.port = r.port ?? 0;
    this.priority = r.priority ?? 0;
    this.weight = r.weight ?? 0;
    this.text = r.text;
    this.mail = r.mail === true;
    this.ttl = r.ttl ?? 0;
    this.targetstrip = r.targetstrip ?? 0;
    this.group = r.group;
    this.lease = entry.lease || undefined;
    this.depth = depth;
  }

  get name(): string {
    return `${this.key.slice(this.start).toLowerCase().split('/').filter(Boolean).reverse().join('.')}.`;
  }
}

interface Node {
  children?: Map<string, Node>;
  /** cached: the children's segments in order, dropped when a child comes or goes */
  sorted?: readonly string[] | undefined;
  /** the record stored at exactly this key (etcd v3 allows a key and keys below it) */
  service?: StoredRecord | undefined;
  /**
   * Keys spelled differently (case) that name the same node, in the order they were put: the
   * last one put answers; when it goes, the one put before it answers again.
   */
  shadowed?: StoredRecord[] | undefined;
  /** cached: this node's record and every record below, in key order; dropped on any change below */
  subtree?: readonly Service[] | undefined;
}

export interface Lookup {
  /** some key exists at or under the name */
  readonly exists: boolean;
  readonly services: readonly Service[];
}

/** What answerFor reads of the index (a responder wraps it to see which names an answer read). */
export interface RecordLookup {
  lookup(labels: readonly string[], exact?: boolean): Lookup;
}

const NONE: Lookup = { exists: false, services: [] };

export function isWildcard(label: string): boolean {
  return label === '*' || label === 'any';
}

function compareSegments(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The lowercase segments of a key under the prefix (the name's labels, reversed:
 * `/skydns/local/skydns/app` -> `['local','skydns','app']`); undefined outside the prefix.
 */
export function keySegments(key: string, prefix = '/skydns'): string[] | undefined {
  const base = prefix.replace(/\/+$/, '');
  if (!key.startsWith(`${base}/`)) return undefined;
  const segments = key.slice(base.length + 1).toLowerCase().split('/').filter(Boolean);
  return segments.length === 0 ? undefined : segments;
}

/**
 * The in-memory index of every record under the SkyDNS prefix, kept current one key at a time:
 * `put` and `remove` touch the nodes on the key's path only (their cached subtree listings and
 * child orders are dropped, to be rebuilt when next read). Groups, SRV weights and dedupe are
 * computed per lookup from those listings, so they follow.
 */
export class SkyIndex implements RecordLookup {
  private readonly root: Node = {};
  private readonly base: string;
  private count = 0;
  private readonly leaseRefs = new Map<string, number>();
  private readonly leaseSet = new Set<string>();
  /** bumped whenever a lease id comes into use or goes out of it */
  leaseEpoch = 0;

  constructor(entries: Iterable<SkyEntry> = [], prefix = '/skydns') {
    this.base = prefix.replace(/\/+$/, '');
    for (const entry of entries) this.put(entry);
  }

  get size(): number {
    return this.count;
  }

  /** lease ids referenced by any record (live: changes with the index) */
  get leases(): ReadonlySet<string> {
    return this.leaseSet;
  }

  /**
   * Adds or replaces the record of `entry.key`. Returns the key's segments (what changed), or
   * undefined when the key is outside the prefix.
   */
  put(entry: SkyEntry): readonly string[] | undefined {
    const segments = keySegments(entry.key, this.base);
    if (!segments) return undefined;
    let node = this.root;
    node.subtree = undefined;
    for (const seg of segments) {
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) {
        next = {};
        node.children.set(seg, next);
        node.sorted = undefined;
      }
      node = next;
      node.subtree = undefined;
    }
    const old = node.service;
    if (old && old.key === entry.key) this.unref(old.lease);
    else {
      this.count++;
      if (node.shadowed) {
        const i = node.shadowed.findIndex((r) => r.key === entry.key);
        if (i >= 0) {
          this.count--;
          this.unref(node.shadowed[i]!.lease);
          node.shadowed.splice(i, 1);
        }
      }
      if (old) (node.shadowed ??= []).push(old);
    }
    node.service = new StoredRecord(entry, this.base.length + 1, segments.length);
    this.ref(node.service.lease);
    return segments;
  }

  /** Removes the record of `key`; returns its segments, or undefined when there was none. */
  remove(key: string): readonly string[] | undefined {
    const segments = keySegments(key, this.base);
    if (!segments) return undefined;
    const path: Node[] = [this.root];
    let node: Node | undefined = this.root;
    for (const seg of segments) {
      node = node.children?.get(seg);
      if (!node) return undefined;
      path.push(node);
    }
    const old = node.service;
    if (!old) return undefined;
    if (old.key !== key) {
      // a shadowed spelling goes: what answers stays the same
      const i = node.shadowed?.findIndex((r) => r.key === key) ?? -1;
      if (i < 0) return undefined;
      this.count--;
      this.unref(node.shadowed![i]!.lease);
      node.shadowed!.splice(i, 1);
      return segments;
    }
    node.service = node.shadowed?.pop();
    if (node.shadowed?.length === 0) node.shadowed = undefined;
    this.count--;
    this.unref(old.lease);
    for (const n of path) n.subtree = undefined;
    // prune nodes left with neither a record nor children
    for (let i = segments.length; i > 0; i--) {
      const n = path[i]!;
      if (n.service || (n.children && n.children.size > 0)) break;
      const parent = path[i - 1]!;
      parent.children!.delete(segments[i - 1]!);
      parent.sorted = undefined;
      if (parent.children!.size === 0) parent.children = undefined;
    }
    return segments;
  }

  private ref(lease: string | undefined): void {
    if (lease === undefined) return;
    const n = this.leaseRefs.get(lease) ?? 0;
    this.leaseRefs.set(lease, n + 1);
    if (n === 0) {
      this.leaseSet.add(lease);
      this.leaseEpoch++;
    }
  }

  private unref(lease: string | undefined): void {
    if (lease === undefined) return;
    const n = (this.leaseRefs.get(lease) ?? 1) - 1;
    if (n > 0) {
      this.leaseRefs.set(lease, n);
      return;
    }
    this.leaseRefs.delete(lease);
    this.leaseSet.delete(lease);
    this.leaseEpoch++;
  }

  /**
   * Records for a name given as reversed lowercase labels (`['local','skydns','app']`).
   * `exact`: only the record at the name itself (CNAME queries). Identical records under
   * different keys are returned once; SkyDNS groups are applied.
   */
  lookup(labels: readonly string[], exact = false): Lookup {
    if (!labels.some(isWildcard)) {
      let node: Node | undefined = this.root;
      for (const label of labels) {
        node = node.children?.get(label);
        if (!node) return NONE;
      }
      const found = exact ? (node.service ? [node.service] : []) : subtree(node);
      return { exists: true, services: group(dedupe(found)) };
    }
    const found: Service[] = [];
    let matched = false;
    const walk = (node: Node, i: number): void => {
      if (i === labels.length) {
        matched = true;
        if (exact) {
          if (node.service) found.push(node.service);
        } else found.push(...subtree(node));
        return;
      }
      const label = labels[i]!;
      if (!node.children) return;
      if (isWildcard(label)) {
        for (const key of sortedChildren(node)) walk(node.children.get(key)!, i + 1);
      } else {
        const next = node.children.get(label);
        if (next) walk(next, i + 1);
      }
    };
    walk(this.root, 0);
    if (!matched) return NONE;
    return { exists: found.length > 0 || exact, services: group(dedupe(found)) };
  }

  /** Every record, in key order (status, tests). */
  all(): readonly Service[] {
    return subtree(this.root);
  }
}

function sortedChildren(node: Node): readonly string[] {
  if (!node.children) return [];
  node.sorted ??= [...node.children.keys()].sort(compareSegments);
  return node.sorted;
}

function subtree(node: Node): readonly Service[] {
  if (node.subtree) return node.subtree;
  const out: Service[] = [];
  if (node.service) out.push(node.service);
  if (node.children) {
    for (const key of sortedChildren(node)) {
      const below = subtree(node.children.get(key)!);
      for (let i = 0; i < below.length; i++) out.push(below[i]!);
    }
  }
  node.subtree = out;
  return out;
}

/** SkyDNS answers identical records (host, port, priority, weight, text) once. */
function dedupe(services: readonly Service[]): readonly Service[] {
  if (services.length < 2) return services;
  const seen = new Set<string>();
  const out: Service[] = [];
  for (const s of services) {
    const id = `${s.host ?? ''}\u0000${s.port}\u0000${s.priority}\u0000${s.weight}\u0000${s.text ?? ''}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(s);
  }
  return out;
}

/**
 * SkyDNS `msg.Group`: the shortest keys decide the group of the set; when one is found, only
 * records of that group (or of none) are returned. Shortest keys that disagree cancel it.
 */
export function group(sx: readonly Service[]): readonly Service[] {
  if (sx.length === 0) return sx;
  let groupName = sx[0]!.group;
  let depth = sx[0]!.depth;
  for (const s of sx) {
    if (s.depth < depth) {
      if (s.group === undefined) break;
      depth = s.depth;
      groupName = s.group;
    }
  }
  if (groupName === undefined) return sx;
  const out: Service[] = [];
  for (const s of sx) {
    if (s.group === undefined) {
      out.push(s);
      continue;
    }
    if (s.depth === depth && s.group !== groupName) return sx;
    if (s.group === groupName) out.push(s);
  }
  return out;
}
