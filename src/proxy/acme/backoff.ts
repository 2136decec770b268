/**
 * A host's failed orders, shared through the store so that a proxy which takes the ACME lock
 * over (the holder died, was restarted or stopped) keeps waiting out the backoff instead of
 * asking the CA again at once: a restart loop must not become an order loop against the CA's rate
 * limits. `<acme-prefix>-backoff/<host>` = `{"failures":N,"nextTry":"ISO","lastError":"..."}`,
 * written after a failure and deleted after a success. Pure encoding and merging here; the issuer
 * does the reads and writes.
 */
import type { HostRecord } from './plan.js';

/** `/beacon/acme` -> `/beacon/acme-backoff/`: beside the lock, outside the tokens' prefix */
export function backoffPrefix(acmePrefix: string): string {
  return `${acmePrefix.replace(/\/+$/, '')}-backoff/`;
}

export function encodeBackoff(record: HostRecord): string {
  return JSON.stringify({ failures: record.failures, nextTry: new Date(record.nextTry).toISOString(), ...(record.lastError === undefined ? {} : { lastError: record.lastError }) });
}

export type DecodedBackoff = { ok: true; record: HostRecord } | { ok: false; reason: string };

export function decodeBackoff(value: string): DecodedBackoff {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: 'not a JSON object' };
  const { failures, nextTry, lastError } = v as Record<string, unknown>;
  if (typeof failures !== 'number' || !Number.isInteger(failures) || failures < 1) return { ok: false, reason: 'failures: not a whole number of at least 1' };
  const at = typeof nextTry === 'string' ? Date.parse(nextTry) : NaN;
  if (!Number.isFinite(at)) return { ok: false, reason: 'nextTry: not an ISO date' };
  if (lastError !== undefined && typeof lastError !== 'string') return { ok: false, reason: 'lastError: not a string' };
  return { ok: true, record: { failures, nextTry: at, ...(lastError === undefined ? {} : { lastError }) } };
}

/**
 * What the lock holder keeps for a host after reading the store: the stored failures when they
 * wait longer than what it remembers itself (a certificate it stored itself stays known as
 * issuedNotAfter).
 */
export function mergeBackoff(own: HostRecord | undefined, stored: HostRecord): HostRecord {
  if (own !== undefined && own.nextTry >= stored.nextTry) return own;
  return { ...stored, ...(own?.issuedNotAfter === undefined ? {} : { issuedNotAfter: own.issuedNotAfter }) };
}
