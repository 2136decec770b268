/**
 * Tolerant readers for a mode's status() JSON: modes change in parallel with the pages, so a
 * missing or differently typed field reads as undefined and the page leaves it out.
 */
export type Fields = Readonly<Record<string, unknown>>;

export function asObject(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined;
}

export function asArray(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function asBoolean(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

/** `get(status, 'store', 'lastError', 'message')` */
export function get(value: unknown, ...path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    const o = asObject(at);
    if (!o) return undefined;
    at = o[key];
  }
  return at;
}
