/**
 * The compiled route table and matching (contract: "proxy routes"). Pure.
 *
 * Match order: the most specific host (exact, then the longest `*.` wildcard, then routes with
 * no host), then the longest path prefix on `/` boundaries, then the higher `priority`, then
 * the name (code-unit order; flag routes are named `--route TEXT`). `<service>.<domain>` and
 * `--default-service` apply when no route matches.
 *
 * Everything is precomputed when the table changes: per exact host and per wildcard suffix, the
 * list of candidates in match order (its own routes, then the shorter wildcards', then the
 * host-less ones). A request costs the host lookup (one map hit, or one per label of the host
 * for wildcards) and a walk down that host's path prefixes.
 */
import { isDnsLabel, normalizeDomain } from '../catalog/names.js';
import { pathCovers } from './path.js';
import { plainRoute, type Route } from './route.js';

export interface TableInput {
  /** store routes and flag routes, already parsed */
  readonly routes: readonly Route[];
  readonly domain?: string | undefined;
  readonly defaultService?: string | undefined;
}

/** Why a route matched (for `beacon explain`). */
export type HostMatch = 'exact' | 'wildcard' | 'any' | 'domain' | 'default';

export interface Candidate {
  readonly route: Route;
  readonly hostMatch: HostMatch;
}

/** A route that lost to another with the same host and path. */
export interface Shadowed {
  readonly route: Route;
  readonly by: Route;
}

export interface RouteTable {
  /** every route in match order for its host (flags and store), winners only */
  readonly routes: readonly Route[];
  readonly shadowed: readonly Shadowed[];
  /** exact host -> candidates */
  readonly exact: ReadonlyMap<string, readonly Candidate[]>;
  /** `.example.com` -> candidates for hosts under it */
  readonly wildcard: ReadonlyMap<string, readonly Candidate[]>;
  /** routes without a host */
  readonly anyHost: readonly Candidate[];
  readonly domainSuffix: string | undefined;
  readonly defaultRoute: Route | undefined;
  /** services a route names (a bounded set for metrics labels) */
  readonly named: ReadonlySet<string>;
}

function compareRoutes(a: Route, b: Route): number {
  if (a.path.length !== b.path.length) return b.path.length - a.path.length;
  if (a.priority !== b.priority) return b.priority - a.priority;
  // flag routes are named `--route TEXT`: "-" sorts before letters and digits, so at equal
  // host, path and priority a flag wins over a store route (unless that one's name starts with "-")
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Sorted; the second of two routes with the same host and path is shadowed. */
function winners(routes: Route[], shadowed: Shadowed[]): Route[] {
  routes.sort(compareRoutes);
  const out: Route[] = [];
  const byPath = new Map<string, Route>();
  for (const r of routes) {
    const first = byPath.get(r.path);
    if (first !== undefined) shadowed.push({ route: r, by: first });
    else {
      byPath.set(r.path, r);
      out.push(r);
    }
  }
  return out;
}

export function compileTable(input: TableInput): RouteTable {
  const exactRoutes = new Map<string, Route[]>();
  const wildRoutes = new Map<string, Route[]>();
  const anyRoutes: Route[] = [];
  for (const route of input.routes) {
    const host = route.host;
    if (host === undefined) anyRoutes.push(route);
    else if (host.startsWith('*.')) push(wildRoutes, host.slice(1), route);
    else push(exactRoutes, host, route);
  }
  const shadowed: Shadowed[] = [];
  const anyHost = winners(anyRoutes, shadowed).map((route): Candidate => ({ route, hostMatch: 'any' }));
  const wildWinners = new Map<string, Route[]>();
  for (const [suffix, list] of wildRoutes) wildWinners.set(suffix, winners(list, shadowed));
  // a host under a wildcard also falls back to the shorter wildcards above it
  const wildcard = new Map<string, Candidate[]>();
  for (const suffix of wildWinners.keys()) {
    wildcard.set(suffix, [...wildcardChain(suffix, wildWinners), ...anyHost]);
  }
  const exact = new Map<string, Candidate[]>();
  for (const [host, list] of exactRoutes) {
    const own = winners(list, shadowed).map((route): Candidate => ({ route, hostMatch: 'exact' }));
    exact.set(host, [...own, ...wildcardChain(host, wildWinners), ...anyHost]);
  }
  const domain = input.domain ? normalizeDomain(input.domain) : '';
  const defaultRoute = input.defaultService ? plainRoute('--default-service', 'default', undefined, '/', input.defaultService) : undefined;
  const routes: Route[] = [];
  for (const list of exact.values()) for (const c of list) if (c.hostMatch === 'exact') routes.push(c.route);
  for (const list of wildWinners.values()) routes.push(...list);
  for (const c of anyHost) routes.push(c.route);
  const named = new Set<string>();
  for (const r of routes) if (r.service !== undefined) named.add(r.service);
  if (defaultRoute?.service) named.add(defaultRoute.service);
  return { routes, shadowed, exact, wildcard, anyHost, domainSuffix: domain ? `.${domain}` : undefined, defaultRoute, named };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The wildcard candidates for `host` (`a.b.c` or `.b.c`), longest suffix first. */
function wildcardChain(host: string, wild: ReadonlyMap<string, readonly Route[]>): Candidate[] {
  const out: Candidate[] = [];
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    const list = wild.get(host.slice(dot));
    if (list) for (const route of list) out.push({ route, hostMatch: 'wildcard' });
  }
  return out;
}

/**
 * The candidates for a normalised host (see routing's normalizeHost), in match order. Callers
 * memoize it per Host header: it does not depend on the path.
 */
export function candidatesFor(table: RouteTable, host: string): readonly Candidate[] {
  // an exact host's list already holds the wildcard and host-less routes below it
  let found: readonly Candidate[] | undefined = table.exact.get(host);
  if (found !== undefined) {
    const fallback = fallbackFor(table, host);
    return fallback === undefined ? found : [...found, fallback];
  }
  found = table.anyHost;
  if (table.wildcard.size > 0) {
    // the longest suffix under which a wildcard is registered
    let dot = host.indexOf('.');
    while (dot !== -1) {
      const list = table.wildcard.get(host.slice(dot));
      if (list !== undefined) {
        found = list;
        break;
      }
      dot = host.indexOf('.', dot + 1);
    }
  }
  const fallback = fallbackFor(table, host);
  return fallback === undefined ? found : [...found, fallback];
}

/** `<service>.<domain>`, else `--default-service`: the last candidate. */
function fallbackFor(table: RouteTable, host: string): Candidate | undefined {
  const suffix = table.domainSuffix;
  if (suffix !== undefined && host.length > suffix.length && host.endsWith(suffix)) {
    const label = host.slice(0, host.length - suffix.length);
    if (isDnsLabel(label)) return { route: plainRoute(`<service>${suffix}`, 'domain', undefined, '/', label), hostMatch: 'domain' };
  }
  return table.defaultRoute === undefined ? undefined : { route: table.defaultRoute, hostMatch: 'default' };
}

/** The first candidate whose path prefix covers the (normalised) path. */
export function matchPath(candidates: readonly Candidate[], path: string): Candidate | undefined {
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (pathCovers(c.route.path, path)) return c;
  }
  return undefined;
}

/** Both steps, for one-off lookups (explain, tests). */
export function matchRoute(table: RouteTable, host: string, path: string): Candidate | undefined {
  return matchPath(candidatesFor(table, host), path);
}

/** A sentence saying why `c` matched (for `beacon explain`). */
export function describeMatch(c: Candidate, host: string, path: string): string {
  const r = c.route;
  const hostWhy =
    c.hostMatch === 'exact'
      ? `host "${host}" matches exactly`
      : c.hostMatch === 'wildcard'
        ? `host "${host}" matches wildcard "${r.host}" (no exact route for it covers the path)`
        : c.hostMatch === 'any'
          ? `no route for host "${host}" covers the path; this route has no host`
          : c.hostMatch === 'domain'
            ? `no route matches; host "${host}" is <service>.<domain>`
            : 'no route matches; --default-service applies';
  const pathWhy = r.path === '/' ? `path "${path}" under "/"` : `path "${path}" under prefix "${r.path}" (the longest that covers it)`;
  return `${hostWhy}; ${pathWhy}`;
}
