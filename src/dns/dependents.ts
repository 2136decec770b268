/**
 * Which cached answers read which names, so that a change to one key drops only the answers it
 * can alter. An answer depends on every index look-up made for it (the question, CNAME targets
 * followed in the zone, SRV/MX glue, the apex NS list, PTR names): a look-up of a name returns
 * the records at and under it, so a change at key segments `s` alters the look-ups of `s` and of
 * each of its ancestors, and of every wildcard pattern that matches one of those.
 */
import { isWildcard } from './records.js';

interface Pattern {
  readonly labels: readonly string[];
  readonly keys: Set<string>;
}

export class NameDependents {
  /** look-up path (labels joined by '/') -> cache keys of the answers that made it */
  private readonly byPath = new Map<string, Set<string>>();
  /** look-ups with a wildcard label, matched against each change */
  private readonly patterns = new Map<string, Pattern>();
  /** (path, key) pairs recorded since the last clear */
  private pairs = 0;

  get size(): number {
    return this.pairs;
  }

  /** `key`'s answer made these look-ups (reversed lowercase labels) */
  record(key: string, lookups: readonly (readonly string[])[]): void {
    for (const labels of lookups) {
      const path = labels.join('/');
      if (labels.some(isWildcard)) {
        let p = this.patterns.get(path);
        if (!p) {
          p = { labels, keys: new Set() };
          this.patterns.set(path, p);
        }
        p.keys.add(key);
      } else {
        let keys = this.byPath.get(path);
        if (!keys) {
          keys = new Set();
          this.byPath.set(path, keys);
        }
        keys.add(key);
      }
      this.pairs++;
    }
  }

  /** The cache keys whose answers a change at `segments` may alter; they are forgotten here. */
  take(segments: readonly string[], out: Set<string> = new Set()): Set<string> {
    let path = '';
    for (let i = 0; i <= segments.length; i++) {
      if (i > 0) path = i === 1 ? segments[0]! : `${path}/${segments[i - 1]!}`;
      const keys = this.byPath.get(path);
      if (keys) {
        for (const k of keys) out.add(k);
        this.byPath.delete(path);
      }
    }
    for (const [path, p] of this.patterns) {
      if (!matches(p.labels, segments)) continue;
      for (const k of p.keys) out.add(k);
      this.patterns.delete(path);
    }
    return out;
  }

  clear(): void {
    this.byPath.clear();
    this.patterns.clear();
    this.pairs = 0;
  }
}

/** whether the look-up `labels` reads the node at `segments` (it or one of its ancestors matches) */
function matches(labels: readonly string[], segments: readonly string[]): boolean {
  if (labels.length > segments.length) return false;
  for (let i = 0; i < labels.length; i++) if (!isWildcard(labels[i]!) && labels[i] !== segments[i]) return false;
  return true;
}
