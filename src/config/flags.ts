import { UsageError } from '../errors.js';
import { parseHostPort } from './address.js';
import { formatDuration, parseDuration } from './duration.js';

export type FlagType = 'string' | 'int' | 'port' | 'duration' | 'bool' | 'list' | 'addr';

export interface FlagSpec {
  /** kebab-case, as typed after `--` */
  readonly name: string;
  readonly type: FlagType;
  readonly help: string;
  /** in parsed form: milliseconds for durations, string[] for lists */
  readonly default?: string | number | boolean | readonly string[];
  /** shown in --help instead of the type, e.g. `HOST=SERVICE` */
  readonly placeholder?: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** a secret (a password): never copied into the environment of processes beacon forks */
  readonly secret?: boolean;
  /** extra check on the parsed value; returns what is wrong, or undefined */
  readonly validate?: (value: never) => string | undefined;
}

export type FlagValue = string | number | boolean | string[];
export type ParsedFlags = Record<string, FlagValue | undefined>;

export type Source = 'flag' | 'env' | 'config';

export function camelCase(kebab: string): string {
  return kebab.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function envName(kebab: string): string {
  return `BEACON_${kebab.replace(/-/g, '_').toUpperCase()}`;
}

function label(spec: FlagSpec, source: Source): string {
  if (source === 'env') return envName(spec.name);
  if (source === 'config') return `config field "${camelCase(spec.name)}"`;
  return `--${spec.name}`;
}

const ACCEPTED: Record<FlagType, string> = {
  string: 'a string',
  int: 'an integer',
  port: '1-65535',
  duration: 'a duration such as 500ms, 2s, 1m or a number of seconds',
  bool: 'true or false',
  list: 'a comma-separated list',
  addr: 'HOST:PORT, :PORT or [IPv6]:PORT',
};

/** Converts one raw value (string from argv/env, or any JSON/YAML value from a config file). */
export function convert(spec: FlagSpec, raw: unknown, source: Source): FlagValue {
  const fail = (got: unknown): never => {
    throw new UsageError(label(spec, source), `expected ${describeAccepted(spec)}, got ${JSON.stringify(got)}`);
  };
  let value: FlagValue;
  switch (spec.type) {
    case 'string':
      if (typeof raw !== 'string' && typeof raw !== 'number') return fail(raw);
      value = String(raw);
      break;
    case 'int':
    case 'port': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) return fail(raw);
      const min = spec.type === 'port' ? 1 : spec.min;
      const max = spec.type === 'port' ? 65535 : spec.max;
      if ((min !== undefined && n < min) || (max !== undefined && n > max)) return fail(raw);
      value = n;
      break;
    }
    case 'duration': {
      const ms = typeof raw === 'string' || typeof raw === 'number' ? parseDuration(raw) : undefined;
      if (ms === undefined) return fail(raw);
      if ((spec.min !== undefined && ms < spec.min) || (spec.max !== undefined && ms > spec.max)) return fail(raw);
      value = ms;
      break;
    }
    case 'bool':
      if (typeof raw === 'boolean') value = raw;
      else if (typeof raw === 'string' && /^(true|1|yes|on)$/i.test(raw)) value = true;
      else if (typeof raw === 'string' && /^(false|0|no|off)$/i.test(raw)) value = false;
      else return fail(raw);
      break;
    case 'list':
      if (Array.isArray(raw)) value = raw.map(String);
      else if (typeof raw === 'string') value = raw.split(',').map((s) => s.trim()).filter(Boolean);
      else return fail(raw);
      break;
    case 'addr':
      if (typeof raw !== 'string' || !parseHostPort(raw)) return fail(raw);
      value = raw;
      break;
  }
  if (spec.choices && !spec.choices.includes(String(value))) return fail(raw);
  const problem = spec.validate?.(value as never);
  if (problem) throw new UsageError(label(spec, source), problem);
  return value;
}

function describeAccepted(spec: FlagSpec): string {
  if (spec.choices) return `one of ${spec.choices.join(', ')}`;
  if (spec.type === 'int' && (spec.min !== undefined || spec.max !== undefined)) {
    return `an integer in ${spec.min ?? '-inf'}..${spec.max ?? 'inf'}`;
  }
  if (spec.type === 'duration' && (spec.min !== undefined || spec.max !== undefined)) {
    const bounds = [spec.min !== undefined ? `at least ${formatDuration(spec.min)}` : '', spec.max !== undefined ? `at most ${formatDuration(spec.max)}` : ''];
    return `${ACCEPTED.duration}, ${bounds.filter(Boolean).join(' and ')}`;
  }
  return ACCEPTED[spec.type];
}

export interface ParseInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** the parsed config file, if any */
  file?: Readonly<Record<string, unknown>>;
  /** camelCase names every mode knows, so a shared config file is not rejected */
  knownFileKeys?: ReadonlySet<string>;
}

/** Precedence: flag > env > config file > default. */
export function parseFlags(specs: readonly FlagSpec[], input: ParseInput): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: ParsedFlags = {};
  for (const spec of specs) if (spec.default !== undefined) out[camelCase(spec.name)] = cloneDefault(spec.default);

  if (input.file) {
    const byCamel = new Map(specs.map((s) => [camelCase(s.name), s]));
    for (const [key, raw] of Object.entries(input.file)) {
      const spec = byCamel.get(key);
      if (!spec) {
        if (input.knownFileKeys?.has(key)) continue;
        throw new UsageError(`config field "${key}"`, 'unknown field (see --help for the accepted names)');
      }
      if (raw === null || raw === undefined) continue;
      out[key] = convert(spec, raw, 'config');
    }
  }

  for (const spec of specs) {
    const raw = input.env[envName(spec.name)];
    if (raw !== undefined && raw !== '') out[camelCase(spec.name)] = convert(spec, raw, 'env');
  }

  const fromArgv = new Map<string, FlagValue>();
  const argv = input.argv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      throw new UsageError(arg, 'unexpected argument (flags are written --name value)');
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let inline: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    let spec = byName.get(name);
    if (!spec && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'bool' && inline === undefined) {
      name = name.slice(3);
      spec = byName.get(name);
      inline = 'false';
    }
    if (!spec) throw new UsageError(`--${name}`, 'unknown flag (see --help)');
    let raw: string;
    if (inline !== undefined) raw = inline;
    else if (spec.type === 'bool') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${name}`, `missing value (expected ${describeAccepted(spec)})`);
      raw = next;
      i++;
    }
    const value = convert(spec, raw, 'flag');
    const prior = fromArgv.get(spec.name);
    // Lists given several times accumulate (`--route a=x --route b=y`).
    fromArgv.set(spec.name, spec.type === 'list' && Array.isArray(prior) ? [...prior, ...(value as string[])] : value);
  }
  for (const [name, value] of fromArgv) out[camelCase(name)] = value;
  return out;
}

function cloneDefault(v: NonNullable<FlagSpec['default']>): FlagValue {
  return Array.isArray(v) ? [...v] : (v as FlagValue);
}

export function requireFlag<T extends FlagValue>(flags: ParsedFlags, name: string): T {
  const v = flags[camelCase(name)];
  if (v === undefined || v === '') throw new UsageError(`--${name}`, 'is required');
  return v as T;
}

export function formatHelp(usage: string, summary: string, groups: readonly { title: string; specs: readonly FlagSpec[] }[]): string {
  const lines = [`Usage: ${usage}`, '', summary, ''];
  for (const group of groups) {
    if (group.specs.length === 0) continue;
    lines.push(`${group.title}:`);
    for (const spec of group.specs) {
      const arg = spec.type === 'bool' ? '' : ` ${spec.placeholder ?? spec.type.toUpperCase()}`;
      const def = spec.default === undefined || (Array.isArray(spec.default) && spec.default.length === 0)
        ? ''
        : ` (default ${showDefault(spec)})`;
      lines.push(`  --${spec.name}${arg}`);
      lines.push(`      ${spec.help}${def} [env ${envName(spec.name)}]`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

function showDefault(spec: FlagSpec): string {
  const d = spec.default!;
  if (spec.type === 'duration' && typeof d === 'number') return formatDuration(d);
  if (Array.isArray(d)) return d.join(',');
  return String(d);
}
