/**
 * The key/value view one template render sees (confd's memkv): keys relative to the resource's
 * prefix, read from one store revision. Lookups follow memkv: glob patterns with path.Match
 * semantics, results sorted.
 */
import { KVPair } from './template/values.js';

export class KeyValues {
  private readonly map: ReadonlyMap<string, string>;
  /** every key, sorted once: the view never changes, and lookups narrow it by literal prefix */
  private readonly sorted: readonly string[];
  constructor(entries: Iterable<readonly [string, string]>) {
    this.map = new Map(entries);
    this.sorted = [...this.map.keys()].sort();
  }

  get size(): number {
    return this.map.size;
  }

  keys(): string[] {
    return [...this.sorted];
  }

  exists(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): KVPair {
    const v = this.map.get(key);
    if (v === undefined) throw new Error(`key does not exist: ${key}`);
    return new KVPair(key, v);
  }

  /** every pair whose key matches the glob, sorted by key */
  getAll(pattern: string): KVPair[] {
    const re = globToRegExp(pattern);
    const out: KVPair[] = [];
    const [from, to] = this.range(literalPrefix(pattern));
    for (let i = from; i < to; i++) {
      const k = this.sorted[i]!;
      if (re.test(k)) out.push(new KVPair(k, this.map.get(k)!));
    }
    return out;
  }

  /** the values of every key matching the glob, sorted by value (as confd does) */
  getAllValues(pattern: string): string[] {
    return this.getAll(pattern)
      .map((kv) => kv.Value)
      .sort(compareStrings);
  }

  /** names of the direct children of `dir` (leaves and subdirectories), sorted */
  list(dir: string): string[] {
    const names = new Set<string>();
    if (this.map.has(dir)) names.add(pathBase(dir));
    const [from, to] = this.range(dir.endsWith('/') ? dir : `${dir}/`);
    for (let i = from; i < to; i++) {
      const rest = under(this.sorted[i]!, dir);
      if (rest !== undefined) names.add(rest.split('/')[0]!);
    }
    return [...names].sort(compareStrings);
  }

  /** names of the direct children of `dir` that have children themselves, sorted */
  listDir(dir: string): string[] {
    const names = new Set<string>();
    const [from, to] = this.range(dir.endsWith('/') ? dir : `${dir}/`);
    for (let i = from; i < to; i++) {
      const rest = under(this.sorted[i]!, dir);
      if (rest === undefined) continue;
      const parts = rest.split('/');
      if (parts.length >= 2) names.add(parts[0]!);
    }
    return [...names].sort(compareStrings);
  }

  /** [from, to) of the sorted keys that start with `prefix` (contiguous in sorted order) */
  private range(prefix: string): [number, number] {
    if (prefix === '') return [0, this.sorted.length];
    const from = lowerBound(this.sorted, prefix);
    let to = from;
    while (to < this.sorted.length && this.sorted[to]!.startsWith(prefix)) to++;
    return [from, to];
  }
}

/** first index whose key is >= `key` (same order as Array.prototype.sort) */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The part of a glob before its first `*`, `?`, `[` or `\`: every match starts with it. */
function literalPrefix(pattern: string): string {
  const i = pattern.search(/[*?[\\]/);
  return i === -1 ? pattern : pattern.slice(0, i);
}

/** The part of `key` below `dir` (a whole path element boundary: `/a` never matches `/ab/c`). */
function under(key: string, dir: string): string | undefined {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  if (!key.startsWith(d)) return undefined;
  const rest = key.slice(d.length);
  return rest === '' ? undefined : rest;
}

export function compareStrings(a: string, b: string): number {
  // Go compares strings bytewise; for UTF-8 that equals code point order
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

const globCache = new Map<string, RegExp>();

/** Go's path.Match as a regular expression: `*` and `?` never cross `/`; `[a-z]`, `[^x]`, `\` escapes. */
export function globToRegExp(pattern: string): RegExp {
  const cached = globCache.get(pattern);
  if (cached) return cached;
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const n = pattern[++i];
      if (n === undefined) throw new Error('syntax error in pattern');
      re += escapeRe(n);
    } else if (c === '[') {
      let j = i + 1;
      const negated = pattern[j] === '^';
      if (negated) j++;
      let body = '';
      const start = j;
      for (; j < pattern.length && (pattern[j] !== ']' || j === start); j++) {
        let ch = pattern[j]!;
        if (ch === '\\') {
          ch = pattern[++j] ?? '';
          if (ch === '') throw new Error('syntax error in pattern');
          body += escapeClass(ch);
        } else if (ch === '-' && j > start && pattern[j + 1] !== ']') body += '-';
        else body += escapeClass(ch);
      }
      if (pattern[j] !== ']' || body === '') throw new Error('syntax error in pattern');
      re += negated ? `(?!/)[^${body}]` : `[${body}]`;
      i = j;
    } else re += escapeRe(c);
  }
  const out = new RegExp(re + '$', 'u');
  globCache.set(pattern, out);
  return out;
}

function escapeClass(c: string): string {
  return /[\]\\^\-[]/.test(c) ? `\\${c}` : c;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Go's path.Clean */
export function pathClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(part);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/** Go's path.Base */
export function pathBase(p: string): string {
  if (p === '') return '.';
  const s = p.replace(/\/+$/, '');
  if (s === '') return '/';
  return s.slice(s.lastIndexOf('/') + 1);
}

/** Go's path.Dir */
export function pathDir(p: string): string {
  return pathClean(p.slice(0, p.lastIndexOf('/') + 1));
}

/** Go's path.Join */
export function pathJoin(...parts: string[]): string {
  const nonEmpty = parts.filter((x) => x !== '');
  return nonEmpty.length === 0 ? '' : pathClean(nonEmpty.join('/'));
}
