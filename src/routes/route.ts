/**
 * The route model (contract: "proxy routes"), shared by the catalog (which parses the values it
 * watches), the proxy (which compiles and matches them) and the `routes`/`explain` commands.
 * Pure: a stored JSON value or a `--route` flag in, a typed Route or the reason it is not one out.
 */
import { isDnsLabel, normalizeDomain } from '../catalog/names.js';
import { normalizePath } from './path.js';

export const BALANCE_POLICIES = ['round-robin', 'least-conn', 'ip-hash', 'cookie'] as const;
export type BalancePolicy = (typeof BALANCE_POLICIES)[number];

export const REDIRECT_CODES = [301, 302, 307, 308] as const;
export const DEFAULT_STICKY_COOKIE = 'beacon_sticky';

/** Where a route came from. */
export type RouteSource = 'flag' | 'etcd' | 'domain' | 'default';

export interface HeaderEdit {
  /** lowercase name -> value; replaces every header of that name */
  readonly set: readonly (readonly [name: string, value: string])[];
  /** lowercase names */
  readonly remove: readonly string[];
}

export interface Redirect {
  readonly to: string;
  readonly code: 301 | 302 | 307 | 308;
  /** append the request's path and query to `to` */
  readonly keepPath: boolean;
}

export interface Route {
  /** the key's last segment for store routes, `--route TEXT` for flags */
  readonly name: string;
  readonly source: RouteSource;
  /** lowercase exact host, `*.suffix`, or undefined (any host) */
  readonly host: string | undefined;
  /** normalised prefix without a trailing `/` (`/` for the root) */
  readonly path: string;
  readonly service: string | undefined;
  readonly stripPath: boolean;
  readonly redirect: Redirect | undefined;
  /** plain-HTTP requests get 308 to https */
  readonly httpsRedirect: boolean;
  readonly balance: BalancePolicy;
  readonly cookie: string;
  readonly priority: number;
  readonly requestHeaders: HeaderEdit | undefined;
  readonly responseHeaders: HeaderEdit | undefined;
  /** `"tls": "acme"` (the TLS side reads it) */
  readonly acme: boolean;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const HOST_NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const COOKIE_NAME = TOKEN;
/** headers a route may not edit: the framing and the connection are the proxy's */
const PROTECTED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer', 'proxy-connection', 'host']);

/** `www.example.com`, `*.example.com` (lowercased, no trailing dot), or the reason it is neither. */
export function parseRouteHost(text: string): Parsed<string> {
  const host = normalizeDomain(text);
  const name = host.startsWith('*.') ? host.slice(2) : host;
  if (host.length > 253 || !HOST_NAME.test(name) || name.split('.').some((l) => l.length > 63)) {
    return { ok: false, error: `host must be a name such as app.example.com or *.example.com, got ${JSON.stringify(text)}` };
  }
  return { ok: true, value: host };
}

/** A route path prefix: starts with `/`, normalised, no trailing `/` (except the root). */
export function parseRoutePath(text: string): Parsed<string> {
  if (!text.startsWith('/')) return { ok: false, error: `path must start with "/", got ${JSON.stringify(text)}` };
  if (/[?#\s]/.test(text)) return { ok: false, error: `path must be a plain path (no query, fragment or spaces), got ${JSON.stringify(text)}` };
  let path = normalizePath(text);
  while (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { ok: true, value: path };
}

function fail(error: string): Parsed<never> {
  return { ok: false, error };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseHeaderEdit(where: string, v: unknown): Parsed<HeaderEdit | undefined> {
  if (v === undefined) return { ok: true, value: undefined };
  if (!isObject(v)) return fail(`${where} must be an object {"set": {...}, "remove": [...]}`);
  const set: [string, string][] = [];
  const remove: string[] = [];
  if (v.set !== undefined) {
    if (!isObject(v.set)) return fail(`${where}.set must be an object of header -> value`);
    for (const [name, value] of Object.entries(v.set)) {
      if (!TOKEN.test(name) || PROTECTED.has(name.toLowerCase())) return fail(`${where}.set: ${JSON.stringify(name)} is not a header a route may set`);
      if (typeof value !== 'string' || !FIELD_VALUE.test(value)) return fail(`${where}.set.${name} must be a string without control characters`);
      set.push([name.toLowerCase(), value]);
    }
  }
  if (v.remove !== undefined) {
    if (!Array.isArray(v.remove)) return fail(`${where}.remove must be an array of header names`);
    for (const name of v.remove) {
      if (typeof name !== 'string' || !TOKEN.test(name) || PROTECTED.has(name.toLowerCase())) return fail(`${where}.remove: ${JSON.stringify(name)} is not a header a route may remove`);
      remove.push(name.toLowerCase());
    }
  }
  return { ok: true, value: set.length + remove.length === 0 ? undefined : { set, remove } };
}

function parseRedirect(v: unknown): Parsed<Redirect | undefined> {
  if (v === undefined) return { ok: true, value: undefined };
  const spec = typeof v === 'string' ? { to: v } : v;
  if (!isObject(spec)) return fail('redirect must be {"to": URL, "code": 301|302|307|308, "keepPath": bool}');
  const to = spec.to;
  if (typeof to !== 'string' || !/^https?:\/\/[^\s/?#]+[^\s]*$/.test(to) || !FIELD_VALUE.test(to)) return fail(`redirect.to must be an http(s) URL, got ${JSON.stringify(to)}`);
  const code = spec.code ?? 301;
  if (!(REDIRECT_CODES as readonly unknown[]).includes(code)) return fail(`redirect.code must be 301, 302, 307 or 308, got ${JSON.stringify(code)}`);
  const keepPath = spec.keepPath ?? false;
  if (typeof keepPath !== 'boolean') return fail('redirect.keepPath must be true or false');
  return { ok: true, value: { to: to.replace(/\/+$/, ''), code: code as Redirect['code'], keepPath } };
}

/** One stored route value (`/beacon/routes/<name>`), or why it is skipped. */
export function parseRouteValue(name: string, text: string): Parsed<Route> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return fail('not valid JSON');
  }
  if (!isObject(v)) return fail('not a JSON object');
  let host: string | undefined;
  if (v.host !== undefined && v.host !== '') {
    if (typeof v.host !== 'string') return fail('host must be a string');
    const h = parseRouteHost(v.host);
    if (!h.ok) return h;
    host = h.value;
  }
  let path = '/';
  if (v.path !== undefined) {
    if (typeof v.path !== 'string') return fail('path must be a string');
    const p = parseRoutePath(v.path);
    if (!p.ok) return p;
    path = p.value;
  }
  const redirect = parseRedirect(v.redirect);
  if (!redirect.ok) return redirect;
  let service: string | undefined;
  if (v.service !== undefined) {
    if (typeof v.service !== 'string' || !isDnsLabel(v.service)) return fail(`service must be a DNS label (a-z, 0-9, '-', 1-63 chars), got ${JSON.stringify(v.service)}`);
    service = v.service;
  }
  if (service === undefined && redirect.value === undefined) return fail('names no service and no redirect');
  if (v.stripPath !== undefined && typeof v.stripPath !== 'boolean') return fail('stripPath must be true or false');
  if (v.https !== undefined && v.https !== 'redirect') return fail(`https must be "redirect", got ${JSON.stringify(v.https)}`);
  const balance = v.balance ?? 'round-robin';
  if (!(BALANCE_POLICIES as readonly unknown[]).includes(balance)) return fail(`unknown balance ${JSON.stringify(balance)} (round-robin, least-conn, ip-hash, cookie)`);
  const cookie = v.cookie ?? DEFAULT_STICKY_COOKIE;
  if (typeof cookie !== 'string' || !COOKIE_NAME.test(cookie)) return fail(`cookie must be a cookie name, got ${JSON.stringify(v.cookie)}`);
  const priority = v.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isFinite(priority)) return fail('priority must be a number');
  if (v.tls !== undefined && v.tls !== 'acme') return fail(`tls must be "acme", got ${JSON.stringify(v.tls)}`);
  let requestHeaders: HeaderEdit | undefined;
  let responseHeaders: HeaderEdit | undefined;
  if (v.headers !== undefined) {
    if (!isObject(v.headers)) return fail('headers must be {"request": {...}, "response": {...}}');
    const extra = Object.keys(v.headers).find((k) => k !== 'request' && k !== 'response');
    if (extra !== undefined) return fail(`headers.${extra} is not request or response`);
    const req = parseHeaderEdit('headers.request', v.headers.request);
    if (!req.ok) return req;
    const res = parseHeaderEdit('headers.response', v.headers.response);
    if (!res.ok) return res;
    requestHeaders = req.value;
    responseHeaders = res.value;
  }
  return {
    ok: true,
    value: {
      name,
      source: 'etcd',
      host,
      path,
      service,
      stripPath: v.stripPath === true,
      redirect: redirect.value,
      httpsRedirect: v.https === 'redirect',
      balance: balance as BalancePolicy,
      cookie,
      priority,
      requestHeaders,
      responseHeaders,
      acme: v.tls === 'acme',
    },
  };
}

/** A route that only forwards (flags, `<service>.<domain>`, `--default-service`). */
export function plainRoute(name: string, source: RouteSource, host: string | undefined, path: string, service: string): Route {
  return { name, source, host, path, service, stripPath: false, redirect: undefined, httpsRedirect: false, balance: 'round-robin', cookie: DEFAULT_STICKY_COOKIE, priority: 0, requestHeaders: undefined, responseHeaders: undefined, acme: false };
}

/** `--route HOST=SERVICE`, `HOST/PATH=SERVICE` or `/PATH=SERVICE`. */
export function parseRouteFlag(text: string): Parsed<Route> {
  const eq = text.lastIndexOf('=');
  if (eq <= 0 || eq === text.length - 1) return fail(`expected HOST=SERVICE, HOST/PATH=SERVICE or /PATH=SERVICE, got ${JSON.stringify(text)}`);
  const left = text.slice(0, eq).trim();
  const service = text.slice(eq + 1).trim();
  if (!isDnsLabel(service)) return fail(`service must be a DNS label (a-z, 0-9, '-', 1-63 chars), got ${JSON.stringify(service)}`);
  const slash = left.indexOf('/');
  let host: string | undefined;
  if (slash !== 0) {
    const h = parseRouteHost(slash === -1 ? left : left.slice(0, slash));
    if (!h.ok) return h;
    host = h.value;
  }
  let path = '/';
  if (slash !== -1) {
    const p = parseRoutePath(left.slice(slash));
    if (!p.ok) return p;
    path = p.value;
  }
  return { ok: true, value: plainRoute(`--route ${text.trim()}`, 'flag', host, path, service) };
}

/** What is wrong with one `--route` value, or undefined (the flag's validator). */
export function routeFlagProblem(text: string): string | undefined {
  const r = parseRouteFlag(text);
  return r.ok ? undefined : r.error;
}
