/** Bad flags, env or config: exit code 2, message names the field. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

/** The store could not be reached or refused an operation. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly operation: string,
    readonly target: string,
    options?: { cause?: unknown },
  ) {
    super(`store ${operation} ${target}: ${describeCause(options?.cause)}`, options);
  }
}

/** A value in the store that beacon cannot interpret. */
export class MalformedValueError extends Error {
  override readonly name = 'MalformedValueError';
  constructor(
    readonly key: string,
    readonly detail: string,
  ) {
    super(`${key}: ${detail}`);
  }
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (cause === undefined) return 'unknown error';
  return String(cause);
}
