/**
 * Pure retry decisions: which upstream failures may be replayed on another instance.
 */

import type { FailureKind } from './failures.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

export interface AttemptOutcome {
  readonly kind: FailureKind;
  readonly method: string;
  /** the client request carries a body (content-length > 0 or chunked) */
  readonly hasBody: boolean;
  /** some of the body was already read from the client (it cannot be replayed) */
  readonly bodyConsumed: boolean;
  /** the request head was fully written to the upstream */
  readonly requestSent: boolean;
  /** response bytes already went to the client */
  readonly responseStarted: boolean;
  /** tries made so far, including the failed one */
  readonly tries: number;
  readonly maxTries: number;
}

/**
 * Retry only what can be replayed without risk: never after the response started or the body
 * was consumed; a refused connection always (nothing was sent); a reset when the request never
 * left, or when it is an idempotent bodiless request; timeouts never (the upstream may be
 * working on it).
 */
export function shouldRetry(o: AttemptOutcome): boolean {
  if (o.tries >= o.maxTries || o.responseStarted) return false;
  if (o.hasBody && o.bodyConsumed) return false;
  switch (o.kind) {
    case 'connect':
      return true;
    case 'reset':
      return !o.requestSent || (!o.hasBody && isIdempotent(o.method));
    default:
      return false;
  }
}
