/**
 * confd template resources: `conf.d/*.toml` with a `[template]` table naming the template,
 * the destination file, the keys it reads and the commands that check and reload it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { commandProblem } from './apply.js';
import { pathJoin } from './kv.js';

export interface TemplateResource {
  /** the .toml file it came from */
  readonly file: string;
  /** short name for logs and metrics: the toml file name */
  readonly name: string;
  /** absolute template path (`templates/<src>`) */
  readonly src: string;
  readonly dest: string;
  /** store keys read for this resource, each with the keys below it (already joined with prefix); may be empty */
  readonly keys: readonly string[];
  /** prefix stripped from keys before the template sees them */
  readonly prefix: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly checkCmd?: string;
  readonly reloadCmd?: string;
}

export class ResourceError extends Error {
  override readonly name = 'ResourceError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** Parses one resource file's text. `globalPrefix` is `--prefix`: when set, it replaces the file's `prefix`. */
export function parseResource(file: string, text: string, confdir: string, globalPrefix = ''): TemplateResource {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ResourceError(file, `invalid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const t = doc.template;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new ResourceError(file, 'missing [template] table');
  const tpl = t as Record<string, unknown>;
  const strField = (name: string, required: boolean): string | undefined => {
    const v = tpl[name];
    if (v === undefined) {
      if (required) throw new ResourceError(file, `missing "${name}"`);
      return undefined;
    }
    if (typeof v !== 'string' || (required && v === '')) throw new ResourceError(file, `"${name}" must be a string`);
    return v;
  };
  const intField = (name: string): number | undefined => {
    const v = tpl[name];
    if (v === undefined) return undefined;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new ResourceError(file, `"${name}" must be a non-negative integer`);
    return n;
  };
  const src = strField('src', true)!;
  const dest = strField('dest', true)!;
  if (!dest.startsWith('/')) throw new ResourceError(file, `"dest" must be an absolute path, got ${JSON.stringify(dest)}`);
  // confd: no `keys` (or `keys = []`) reads nothing; the template still renders (getenv, lookups)
  const rawKeys = tpl.keys ?? [];
  if (!Array.isArray(rawKeys) || !rawKeys.every((k) => typeof k === 'string' && k !== '')) {
    throw new ResourceError(file, '"keys" must be a list of key prefixes');
  }
  // confd (since 0.12): -prefix replaces the resource's prefix, it is not prepended to it
  const filePrefix = strField('prefix', false) ?? '';
  const prefix = pathJoin('/', globalPrefix !== '' ? globalPrefix : filePrefix);
  let mode: number | undefined;
  const rawMode = tpl.mode;
  if (rawMode !== undefined) {
    if (typeof rawMode !== 'string' || !/^0?[0-7]{3,4}$/.test(rawMode)) throw new ResourceError(file, `"mode" must be an octal string such as "0644", got ${JSON.stringify(rawMode)}`);
    mode = parseInt(rawMode, 8);
  }
  const uid = intField('uid');
  const gid = intField('gid');
  const checkCmd = strField('check_cmd', false);
  const reloadCmd = strField('reload_cmd', false);
  const problem = commandProblem({ ...(checkCmd ? { checkCmd } : {}), ...(reloadCmd ? { reloadCmd } : {}) });
  if (problem) throw new ResourceError(file, problem);
  const name = file.replace(/^.*\//, '');
  return {
    file,
    name,
    src: src.startsWith('/') ? src : join(confdir, 'templates', src),
    dest,
    // confd reads each key as a prefix under the resource's prefix
    keys: (rawKeys as string[]).map((k) => (prefix === '/' ? pathJoin('/', k) : pathJoin(prefix, k))),
    prefix,
    ...(mode !== undefined ? { mode } : {}),
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
    ...(checkCmd ? { checkCmd } : {}),
    ...(reloadCmd ? { reloadCmd } : {}),
  };
}

export interface LoadedResources {
  readonly resources: TemplateResource[];
  readonly errors: ResourceError[];
}

/** Every `conf.d/*.toml` under confdir, sorted by file name; bad files are reported, not fatal. */
export function loadResources(confdir: string, globalPrefix = ''): LoadedResources {
  const dir = join(confdir, 'conf.d');
  const resources: TemplateResource[] = [];
  const errors: ResourceError[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.toml') && !n.startsWith('.')).sort();
  } catch (err) {
    errors.push(new ResourceError(dir, `cannot read: ${(err as Error).message}`));
    return { resources, errors };
  }
  for (const n of names) {
    const file = join(dir, n);
    try {
      resources.push(parseResource(file, readFileSync(file, 'utf8'), confdir, globalPrefix));
    } catch (err) {
      errors.push(err instanceof ResourceError ? err : new ResourceError(file, (err as Error).message));
    }
  }
  return { resources, errors };
}

/** The store prefixes to read for these keys: deduplicated, none covered by another. */
export function minimalPrefixes(keys: Iterable<string>): string[] {
  const sorted = [...new Set(keys)].sort();
  const out: string[] = [];
  for (const k of sorted) if (!out.some((p) => k.startsWith(p))) out.push(k);
  return out;
}

/**
 * Whether a resource's key entry reads `key`: the entry itself and the keys below it, on a path
 * boundary (`/services/web` reads `/services/web` and `/services/web/a`, never
 * `/services/web-old/a`), as confd's etcd v3 backend filters its prefix reads.
 */
export function keyEntryReads(entry: string, key: string): boolean {
  return key === entry || key.startsWith(entry.endsWith('/') ? entry : `${entry}/`);
}

/** The key/value pairs a resource sees: keys under its key entries, with its prefix stripped. */
export function resourceEntries(resource: TemplateResource, all: ReadonlyMap<string, string>): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of all) {
    if (!resource.keys.some((k) => keyEntryReads(k, key))) continue;
    const stripped = resource.prefix !== '/' && key.startsWith(resource.prefix) ? key.slice(resource.prefix.length) : key;
    out.push([pathJoin('/', stripped), value]);
  }
  return out;
}
