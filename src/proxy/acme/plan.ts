/**
 * ACME decisions, pure (the clock passed in): which hosts want a certificate from the routes,
 * which of them need an order now given the certificates served, the retry schedule after a
 * failure, and when to look again.
 */
import type { Route } from '../../routes/route.js';

/** first retry after a failed order; doubled per failure in a row up to BACKOFF_MAX_MS */
export const BACKOFF_MIN_MS = 60_000;
export const BACKOFF_MAX_MS = 3_600_000;

/** A certificate as far as ACME cares: the names it serves and until when. */
export interface Coverage {
  readonly hosts: readonly string[];
  readonly notAfter: number;
}

/** What the issuer remembers of one host between rounds. */
export interface HostRecord {
  /** failed orders in a row */
  readonly failures: number;
  /** no order before this (ms); 0 = any time */
  readonly nextTry: number;
  readonly lastError?: string;
  /** notAfter of the certificate this issuer stored last (the watch may not have brought it yet) */
  readonly issuedNotAfter?: number;
}

export interface AcmeHosts {
  /** exact host names, sorted */
  readonly hosts: readonly string[];
  /** routes asking for ACME that HTTP-01 cannot serve, with why */
  readonly skipped: readonly { readonly route: string; readonly reason: string }[];
}

/** The hosts of routes with `"tls": "acme"`: exact names only (HTTP-01 issues no wildcards). */
export function acmeHosts(routes: Iterable<Route>): AcmeHosts {
  const hosts = new Set<string>();
  const skipped: { route: string; reason: string }[] = [];
  for (const r of routes) {
    if (!r.acme) continue;
    if (r.host === undefined) skipped.push({ route: r.name, reason: 'a route without host names no certificate' });
    else if (r.host.startsWith('*.')) skipped.push({ route: r.name, reason: `${r.host}: HTTP-01 cannot issue wildcard certificates` });
    else hosts.add(r.host);
  }
  return { hosts: [...hosts].sort(), skipped };
}

/** notAfter of the longest-valid certificate serving `host` (exact or one-label wildcard). */
export function coveredUntil(host: string, certs: Iterable<Coverage>): number | undefined {
  const dot = host.indexOf('.');
  const wildcard = dot > 0 ? `*.${host.slice(dot + 1)}` : undefined;
  let until: number | undefined;
  for (const c of certs) {
    if (!c.hosts.includes(host) && (wildcard === undefined || !c.hosts.includes(wildcard))) continue;
    if (until === undefined || c.notAfter > until) until = c.notAfter;
  }
  return until;
}

/** When `host` wants a new certificate: now when none is served, else renewBefore ahead of expiry. */
export function renewalDue(host: string, certs: Iterable<Coverage>, record: HostRecord | undefined, renewBeforeMs: number): number {
  const served = coveredUntil(host, certs);
  const until = Math.max(served ?? 0, record?.issuedNotAfter ?? 0);
  return until === 0 ? 0 : until - renewBeforeMs;
}

/** The hosts to order for now: due for a certificate and not waiting out a failure. */
export function hostsToOrder(hosts: readonly string[], certs: readonly Coverage[], records: ReadonlyMap<string, HostRecord>, now: number, renewBeforeMs: number): string[] {
  return hosts.filter((h) => {
    const record = records.get(h);
    return renewalDue(h, certs, record, renewBeforeMs) <= now && (record?.nextTry ?? 0) <= now;
  });
}

/** When to look again: the earliest renewal or retry ahead, but no later than `now + everyMs`. */
export function nextCheck(hosts: readonly string[], certs: readonly Coverage[], records: ReadonlyMap<string, HostRecord>, now: number, renewBeforeMs: number, everyMs: number): number {
  let next = now + everyMs;
  for (const h of hosts) {
    const record = records.get(h);
    const at = Math.max(renewalDue(h, certs, record, renewBeforeMs), record?.nextTry ?? 0);
    if (at > now && at < next) next = at;
  }
  return next;
}

/** Delay before the next order after `failures` failures in a row: 1 min, 2, 4, ... capped at 1 h. */
export function backoffMs(failures: number, minMs = BACKOFF_MIN_MS, maxMs = BACKOFF_MAX_MS): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30));
}

/** The record after an order: success clears failures; failure schedules the next try. */
export function afterOrder(record: HostRecord | undefined, now: number, outcome: { ok: true; notAfter: number } | { ok: false; error: string }): HostRecord {
  if (outcome.ok) return { failures: 0, nextTry: 0, issuedNotAfter: outcome.notAfter };
  const failures = (record?.failures ?? 0) + 1;
  return { failures, nextTry: now + backoffMs(failures), lastError: outcome.error, ...(record?.issuedNotAfter === undefined ? {} : { issuedNotAfter: record.issuedNotAfter }) };
}
