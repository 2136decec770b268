/**
 * Request paths as routes see them. Pure. A route on `/admin` must not be walked around by
 * `/%61dmin`, `/x/../admin` or `//admin`, so matching uses the normalised path: unreserved
 * characters percent-decoded (RFC 3986 2.3, 6.2.2.2), dot segments removed (5.2.4), runs of
 * `/` merged (as nginx's merge_slashes). Other escapes stay as they are (`%2F` is not a `/`).
 */

/** `/a/b?q` -> `/a/b` normalised; the query is not part of matching. */
export function normalizePath(target: string): string {
  let end = target.indexOf('?');
  if (end === -1) end = target.length;
  const hash = target.indexOf('#');
  if (hash !== -1 && hash < end) end = hash;
  const path = end === target.length ? target : target.slice(0, end);
  if (!needsWork(path)) return path;
  return removeDotSegments(mergeSlashes(decodeUnreserved(path)));
}

/** The query with its `?` ('' when none). */
export function queryOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? '' : target.slice(q);
}

/** Anything to decode, merge or resolve? (the common path has none of `%`, `//`, `/.`) */
function needsWork(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 /* % */) return true;
    if (c === 47 /* / */) {
      const next = path.charCodeAt(i + 1);
      if (next === 47 || next === 46 /* . */) return true;
    }
  }
  return false;
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** `%61` -> `a`; `%2f` -> `%2F` (other escapes kept, hex uppercased as RFC 3986 6.2.2.1). */
export function decodeUnreserved(path: string): string {
  if (!path.includes('%')) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 && i + 2 < path.length) {
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        const byte = hi * 16 + lo;
        out += isUnreserved(byte) ? String.fromCharCode(byte) : `%${path[i + 1]!.toUpperCase()}${path[i + 2]!.toUpperCase()}`;
        i += 2;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

function mergeSlashes(path: string): string {
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : path;
}

/** RFC 3986 5.2.4 on an absolute path: `.` and `..` segments resolved, never above the root. */
export function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Whether `prefix` (normalised, no trailing `/` except the root) covers `path` on `/` boundaries. */
export function pathCovers(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47;
}

/** The path with the route's prefix removed, keeping a leading `/` (`/api/x` -> `/x`, `/api` -> `/`). */
export function stripPrefix(prefix: string, path: string): string {
  if (prefix === '/') return path;
  const rest = path.slice(prefix.length);
  return rest === '' ? '/' : rest;
}

/** `App.Example.com.:8080` -> `app.example.com`; `[::1]:80` -> `[::1]`. */
export function normalizeHost(header: string | undefined): string {
  if (!header) return '';
  let end = header.length;
  if (header.charCodeAt(0) === 91 /* [ */) {
    const close = header.indexOf(']');
    end = close === -1 ? end : close + 1;
  } else {
    const colon = header.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  while (end > 0 && header.charCodeAt(end - 1) === 46 /* . */) end--;
  const host = end === header.length ? header : header.slice(0, end);
  return host.toLowerCase();
}
