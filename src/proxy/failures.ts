/**
 * How an upstream attempt can fail, in one place: both engines report failures as an
 * UpstreamError whose kind the retry and ejection decisions read.
 */

/**
 * - `connect`: no connection was made (refused, unreachable, connect timeout): nothing was sent.
 * - `reset`: the connection broke before a response started (reset, closed by the other side).
 * - `timeout`: the upstream accepted the request but did not answer in time.
 * - `other`: anything else (bad response, protocol error).
 */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'other';

/** What went wrong, more precisely than the kind (logs and tests read it). */
export type UpstreamErrorCode =
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'ECONNREFUSED'
  | 'UPSTREAM_UPGRADE'
  | 'UPSTREAM_REMOVED'
  | 'UPSTREAM_HEADER_TIMEOUT'
  | 'UPSTREAM_BODY_TIMEOUT'
  | 'UPSTREAM_BAD_RESPONSE'
  /** a reused keep-alive connection closed before any response byte (the keep-alive race) */
  | 'UPSTREAM_STALE_CONNECTION'
  | 'UPSTREAM_FAILED';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  readonly kind: FailureKind;
  readonly code: UpstreamErrorCode;

  constructor(kind: FailureKind, code: UpstreamErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.kind = kind;
    this.code = code;
  }
}
