import { readFileSync } from 'node:fs';

/** beacon's version from its package.json (dist/admin/ -> ../../package.json), read once. */
export function beaconVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
