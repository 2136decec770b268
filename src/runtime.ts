/**
 * The supported runtime, stated once: package.json's `engines.node` (">=X[.Y[.Z]]"). src/cli.ts
 * checks it before any other beacon or dependency module is evaluated, so an older Node.js gets
 * one line and exit 2 instead of a stack trace from whichever dependency breaks first. Pure, and
 * written to run on old versions too (no imports).
 */

export type Version = readonly [major: number, minor: number, patch: number];

/** The lowest version a `>=X[.Y[.Z]]` range admits; undefined for any other form of range. */
export function minimumOf(range: string): Version | undefined {
  const m = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** `24.21.0` -> [24, 21, 0]; a pre-release or build suffix is ignored. */
export function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function isBelow(version: Version, minimum: Version): boolean {
  for (let i = 0; i < 3; i++) if (version[i] !== minimum[i]) return version[i]! < minimum[i]!;
  return false;
}

/** What to tell the user when `version` (process.versions.node) is below `range`, or undefined. */
export function runtimeProblem(range: string, version: string): string | undefined {
  const minimum = minimumOf(range);
  const running = parseVersion(version);
  if (!minimum || !running || !isBelow(running, minimum)) return undefined;
  return `beacon needs Node.js >= ${range.replace(/^\s*>=\s*v?/, '').trim()} (this is ${version})`;
}
