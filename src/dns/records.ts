/**
 * The record model: SkyDNS entries from the catalog arranged as a tree of key segments, so a
 * name's lookup (its exact key plus everything under `<key>/`, wildcards included) is a walk
 * and not a scan. Pure: built from a map of entries, never touches the store.
 */
import { isIP } from 'node:net';
import type { SkyEntry } from '../catalog/catalog.js';

/** One SkyDNS record as the answer logic needs it. */
export interface Service {
  readonly key: string;
  /** the name the key stands for, lowercase, with the trailing dot (`web1-8080.app.skydns.local.`) */
  readonly name: string;
  readonly host?: string;
  /** 4 or 6 for address hosts, 0 for names */
  readonly ip: 0 | 4 | 6;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
  readonly text?: string;
  readonly mail: boolean;
  /** the record's own `ttl`, 0 when unset */
  readonly ttl: number;
  readonly targetstrip: number;
  readonly group?: string;
  readonly lease?: string;
  /** key depth, for group resolution */
  readonly depth: number;
}

interface Node {
  children?: Map<string, Node>;
  /** the record stored at exactly this key (etcd v3 allows a key and keys below it) */
  service?: Service;
  /** cached: this node's record and every record below, in key order */
  subtree?: readonly Service[];
}

export interface Lookup {
  /** some key exists at or under the name */
  readonly exists: boolean;
  readonly services: readonly Service[];
}

const NONE: Lookup = { exists: false, services: [] };

function isWildcard(label: string): boolean {
  return label === '*' || label === 'any';
}

function compareSegments(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The in-memory index of every record under the SkyDNS prefix. */
export class SkyIndex {
  private readonly root: Node = {};
  readonly size: number;
  /** lease ids referenced by any record */
  readonly leases: ReadonlySet<string>;

  constructor(entries: Iterable<SkyEntry>, prefix = '/skydns') {
    const base = prefix.replace(/\/+$/, '');
    const leases = new Set<string>();
    let size = 0;
    for (const entry of entries) {
      if (!entry.key.startsWith(`${base}/`)) continue;
      const segments = entry.key.slice(base.length + 1).toLowerCase().split('/').filter(Boolean);
      if (segments.length === 0) continue;
      let node = this.root;
      for (const seg of segments) {
        node.children ??= new Map();
        let next = node.children.get(seg);
        if (!next) {
          next = {};
          node.children.set(seg, next);
        }
        node = next;
      }
      const r = entry.record;
      const host = r.host;
      const version = host === undefined ? 0 : isIP(host);
      node.service = {
        key: entry.key,
        name: `${[...segments].reverse().join('.')}.`,
        ...(host !== undefined ? { host } : {}),
        ip: version === 4 ? 4 : version === 6 ? 6 : 0,
        port: r.port ?? 0,
        priority: r.priority ?? 0,
        weight: r.weight ?? 0,
        ...(r.text !== undefined ? { text: r.text } : {}),
        mail: r.mail === true,
        ttl: r.ttl ?? 0,
        targetstrip: r.targetstrip ?? 0,
        ...(r.group !== undefined ? { group: r.group } : {}),
        ...(entry.lease ? { lease: entry.lease } : {}),
        depth: segments.length,
      };
      if (entry.lease) leases.add(entry.lease);
      size++;
    }
    this.size = size;
    this.leases = leases;
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
        for (const key of [...node.children.keys()].sort(compareSegments)) walk(node.children.get(key)!, i + 1);
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

function subtree(node: Node): readonly Service[] {
  if (node.subtree) return node.subtree;
  const out: Service[] = [];
  if (node.service) out.push(node.service);
  if (node.children) {
    for (const key of [...node.children.keys()].sort(compareSegments)) out.push(...subtree(node.children.get(key)!));
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
