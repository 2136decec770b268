/**
 * What the dns mode runs with: explicit flags (flag, env or config file) over `/skydns/config`
 * over `/etc/resolv.conf` and the defaults. Re-resolved whenever `/skydns/config` changes.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isDnsLabel, normalizeDomain } from '../catalog/names.js';
import { parseDuration } from '../config/duration.js';
import { DEFAULT_ALLOW_RECURSION } from './cidr.js';
import type { ForwardCacheConfig } from './forward-cache.js';

export interface Nameserver {
  readonly host: string;
  readonly port: number;
}

export interface DnsSettings {
  readonly domain: string;
  readonly ttl: number;
  readonly minTtl: number;
  readonly noRecursion: boolean;
  readonly nameservers: readonly Nameserver[];
  /** per nameserver attempt */
  readonly forwardTimeoutMs: number;
  /** CIDRs of the clients whose out-of-zone queries are forwarded; others get REFUSED */
  readonly allowRecursion: readonly string[];
  /** seconds: the TTL cap while the store is unreachable and answers come from the last view */
  readonly staleTtl: number;
  /** `/skydns/config` `local`: the name (lowercase, trailing dot) answering `local.dns.<domain>` */
  readonly local?: string;
  /** the cache of forwarded answers (flags only; per thread) */
  readonly forwardCache: ForwardCacheConfig;
}

/** Values the operator gave (flag, env or config file); undefined = not given. */
export interface ExplicitSettings {
  domain?: string;
  /** seconds */
  ttl?: number;
  minTtl?: number;
  noRecursion?: boolean;
  forward?: readonly string[];
  forwardTimeoutMs?: number;
  allowRecursion?: readonly string[];
  /** seconds */
  staleTtl?: number;
  /** entries; 0 = no forward cache */
  forwardCacheSize?: number;
  /** seconds */
  forwardCacheMaxTtl?: number;
  /** seconds */
  forwardStaleMax?: number;
}

export const DEFAULTS = {
  domain: 'skydns.local',
  ttl: 30,
  minTtl: 60,
  forwardTimeoutMs: 2000,
  staleTtl: 5,
  forwardCacheSize: 10_000,
  forwardCacheMaxTtl: 3600,
  forwardStaleMax: 3600,
} as const;

/** `8.8.8.8`, `8.8.8.8:53`, `[2001:db8::1]:53`, `2001:db8::1` -> host and port; undefined if invalid. */
export function parseNameserver(text: string): Nameserver | undefined {
  const t = text.trim();
  if (isIP(t)) return { host: t, port: 53 };
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(t);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (!isIP(host) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export function isValidDomain(domain: string): boolean {
  const d = normalizeDomain(domain);
  return d !== '' && d.split('.').every((l) => isDnsLabel(l) || /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l));
}

/** nameserver lines of a resolv.conf */
export function resolvConfNameservers(path = '/etc/resolv.conf'): Nameserver[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: Nameserver[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1]!.replace(/%.*$/, '');
    if (isIP(host)) out.push({ host, port: 53 });
  }
  return out;
}

/** the forward timeout (per nameserver attempt) is kept within these bounds, in ms */
export const FORWARD_TIMEOUT_BOUNDS = { min: 50, max: 60_000 } as const;

export function clampForwardTimeout(ms: number): number {
  return Math.min(FORWARD_TIMEOUT_BOUNDS.max, Math.max(FORWARD_TIMEOUT_BOUNDS.min, Math.round(ms)));
}

/**
 * SkyDNS's `read_timeout` is a Go `time.Duration`, so a JSON number is nanoseconds
 * (2000000000 = 2 s); a string is read as a duration (`2s`, `500ms`). Milliseconds, undefined if
 * invalid; 0 means unset.
 */
export function skydnsDurationMs(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v / 1e6 : undefined;
  if (typeof v === 'string') return parseDuration(v);
  return undefined;
}

function seconds(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.floor(v);
  if (typeof v === 'string') {
    const ms = parseDuration(v);
    if (ms !== undefined) return Math.floor(ms / 1000);
  }
  return undefined;
}

/**
 * Merges the layers. `skyConfig` is the parsed `/skydns/config` (SkyDNS field names: `domain`,
 * `ttl`, `min_ttl`, `nameservers`, `no_rec`, `read_timeout`, `local`); fields of the wrong type are ignored.
 * As in SkyDNS, `ttl: 0` and `min_ttl: 0` mean unset; `read_timeout` is nanoseconds when a number.
 * Returns the settings and what in `/skydns/config` was ignored.
 */
export function resolveSettings(explicit: ExplicitSettings, skyConfig: unknown, resolvConf: readonly Nameserver[]): { settings: DnsSettings; ignored: string[] } {
  const ignored: string[] = [];
  const c = typeof skyConfig === 'object' && skyConfig !== null && !Array.isArray(skyConfig) ? (skyConfig as Record<string, unknown>) : {};
  let domain: string | undefined;
  if (typeof c.domain === 'string') {
    if (isValidDomain(c.domain)) domain = normalizeDomain(c.domain);
    else ignored.push('domain');
  }
  // SkyDNS treats 0 (Go's zero value) as unset: its defaults apply
  const ttl = c.ttl === undefined ? undefined : seconds(c.ttl);
  if (c.ttl !== undefined && ttl === undefined) ignored.push('ttl');
  const minTtl = c.min_ttl === undefined ? undefined : seconds(c.min_ttl);
  if (c.min_ttl !== undefined && minTtl === undefined) ignored.push('min_ttl');
  let nameservers: Nameserver[] | undefined;
  if (Array.isArray(c.nameservers)) {
    nameservers = c.nameservers.flatMap((n) => {
      const parsed = typeof n === 'string' ? parseNameserver(n) : undefined;
      if (!parsed) ignored.push(`nameservers ${JSON.stringify(n)}`);
      return parsed ? [parsed] : [];
    });
  } else if (c.nameservers !== undefined) ignored.push('nameservers');
  const noRec = typeof c.no_rec === 'boolean' ? c.no_rec : undefined;
  if (c.no_rec !== undefined && noRec === undefined) ignored.push('no_rec');
  const readTimeout = c.read_timeout === undefined ? undefined : skydnsDurationMs(c.read_timeout);
  if (c.read_timeout !== undefined && readTimeout === undefined) ignored.push('read_timeout');

  let local: string | undefined;
  if (typeof c.local === 'string' && c.local !== '') {
    if (isValidDomain(c.local)) local = `${normalizeDomain(c.local)}.`;
    else ignored.push('local');
  } else if (c.local !== undefined && c.local !== '') ignored.push('local');

  const forward = explicit.forward && explicit.forward.length > 0 ? explicit.forward.map((f) => parseNameserver(f)!).filter(Boolean) : undefined;
  return {
    settings: {
      domain: explicit.domain !== undefined ? normalizeDomain(explicit.domain) : (domain ?? DEFAULTS.domain),
      ttl: explicit.ttl ?? (ttl || undefined) ?? DEFAULTS.ttl,
      minTtl: explicit.minTtl ?? (minTtl || undefined) ?? DEFAULTS.minTtl,
      noRecursion: explicit.noRecursion ?? noRec ?? false,
      nameservers: forward ?? (nameservers && nameservers.length > 0 ? nameservers : [...resolvConf]),
      forwardTimeoutMs: clampForwardTimeout(explicit.forwardTimeoutMs ?? (readTimeout && readTimeout > 0 ? readTimeout : DEFAULTS.forwardTimeoutMs)),
      allowRecursion: explicit.allowRecursion ?? DEFAULT_ALLOW_RECURSION,
      staleTtl: explicit.staleTtl ?? DEFAULTS.staleTtl,
      ...(local !== undefined ? { local } : {}),
      forwardCache: {
        size: explicit.forwardCacheSize ?? DEFAULTS.forwardCacheSize,
        maxTtl: explicit.forwardCacheMaxTtl ?? DEFAULTS.forwardCacheMaxTtl,
        staleMax: explicit.forwardStaleMax ?? DEFAULTS.forwardStaleMax,
      },
    },
    ignored,
  };
}
