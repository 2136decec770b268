import { isDnsLabel, normalizeDomain } from '../catalog/names.js';

/**
 * Host header -> service, per the contract: a `--route` match (exact, then the longest
 * `*.suffix` wildcard), else `<service>.<domain>`, else the default service, else nothing (404).
 * Pure: no I/O, no knowledge of which services have live instances.
 */
export interface RouteTable {
  readonly exact: ReadonlyMap<string, string>;
  /** `.example.com` -> service, longest suffix first */
  readonly wildcards: readonly (readonly [suffix: string, service: string])[];
  /** `.skydns.local`, or undefined */
  readonly domainSuffix: string | undefined;
  readonly defaultService: string | undefined;
  /** every service a flag names (routes and default): a bounded set, unlike `<label>.<domain>` */
  readonly named: ReadonlySet<string>;
}

export interface RouteSpec {
  routes: readonly string[];
  domain?: string | undefined;
  defaultService?: string | undefined;
}

/** What is wrong with one `--route` value, or undefined. */
export function routeProblem(text: string): string | undefined {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) return `expected HOST=SERVICE, got ${JSON.stringify(text)}`;
  const host = text.slice(0, eq).trim().toLowerCase();
  const service = text.slice(eq + 1).trim();
  if (!isDnsLabel(service)) return `service must be a DNS label (a-z, 0-9, '-', 1-63 chars), got ${JSON.stringify(service)}`;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (!/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/.test(name) || name.includes('..')) {
    return `host must be a name such as app.example.com or *.example.com, got ${JSON.stringify(host)}`;
  }
  return undefined;
}

/** Builds the table; throws on a bad route (callers validate flags first with routeProblem). */
export function compileRoutes(spec: RouteSpec): RouteTable {
  const exact = new Map<string, string>();
  const wildcards: [string, string][] = [];
  for (const text of spec.routes) {
    const problem = routeProblem(text);
    if (problem) throw new Error(problem);
    const eq = text.indexOf('=');
    const host = normalizeDomain(text.slice(0, eq));
    const service = text.slice(eq + 1).trim();
    if (host.startsWith('*.')) wildcards.push([host.slice(1), service]);
    else exact.set(host, service);
  }
  wildcards.sort((a, b) => b[0].length - a[0].length);
  const domain = spec.domain ? normalizeDomain(spec.domain) : '';
  const defaultService = spec.defaultService || undefined;
  const named = new Set([...exact.values(), ...wildcards.map(([, service]) => service), ...(defaultService ? [defaultService] : [])]);
  return { exact, wildcards, domainSuffix: domain ? `.${domain}` : undefined, defaultService, named };
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

/** The service for a normalized host, or undefined (-> 404). */
export function serviceFor(table: RouteTable, host: string): string | undefined {
  const exact = table.exact.get(host);
  if (exact !== undefined) return exact;
  for (const [suffix, service] of table.wildcards) {
    if (host.length > suffix.length && host.endsWith(suffix)) return service;
  }
  const suffix = table.domainSuffix;
  if (suffix !== undefined && host.length > suffix.length && host.endsWith(suffix)) {
    const label = host.slice(0, host.length - suffix.length);
    if (isDnsLabel(label)) return label;
  }
  return table.defaultService;
}

/**
 * serviceFor with a bounded memo: the hot path resolves a host once. The cache is dropped when
 * full, so a client sending random Host headers costs memory only up to the bound.
 */
const MAX_CACHED_HOST = 255;

export class HostRouter {
  private readonly cache = new Map<string, string | null>();
  private readonly table: RouteTable;
  private readonly limit: number;

  constructor(table: RouteTable, limit = 4096) {
    this.table = table;
    this.limit = limit;
  }

  /** whether a flag names this service (metrics label it; other names from Host headers are not trusted) */
  isNamed(service: string): boolean {
    return this.table.named.has(service);
  }

  /** memoized Host headers (for tests and status) */
  get cached(): number {
    return this.cache.size;
  }

  /** service for a raw Host header, or undefined */
  route(hostHeader: string | undefined): string | undefined {
    const key = hostHeader ?? '';
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const service = serviceFor(this.table, normalizeHost(hostHeader));
    // No host name is longer than 255 (with a port, 261): longer Host headers (up to
    // --max-header-size each) are answered but never kept.
    if (key.length > MAX_CACHED_HOST) return service;
    if (this.cache.size >= this.limit) this.cache.clear();
    this.cache.set(key, service ?? null);
    return service;
  }
}
