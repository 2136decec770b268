/**
 * The configuration type a list of flags parses to, computed from the list itself: declare flags
 * `as const satisfies readonly FlagSpec[]` and take `ConfigOf<typeof FLAGS>`, so renaming a flag
 * renames its field and every reader of the old name fails to compile instead of reading undefined.
 * Mirrors parseFlags: keys are camelCase (`max-tries` -> `maxTries`); int/port/duration -> number
 * (durations in ms), bool -> boolean, list -> string[], string/addr -> string, or the union of
 * `choices`; a flag with a default is always present, one without is optional.
 */
import type { FlagSpec, FlagType } from './flags.js';

/** `upstream-header-timeout` -> `upstreamHeaderTimeout`, as camelCase() does at run time. */
export type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

type ValueOfType<T extends FlagType> = T extends 'int' | 'port' | 'duration' ? number : T extends 'bool' ? boolean : T extends 'list' ? string[] : string;

/** The parsed value of one flag. */
export type FlagValueOf<F extends FlagSpec> = F extends { readonly choices: readonly (infer C extends string)[] } ? C : ValueOfType<F['type']>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type ConfigOf<Specs extends readonly FlagSpec[]> = Simplify<
  { -readonly [F in Specs[number] as F extends { readonly default: unknown } ? CamelCase<F['name']> : never]: FlagValueOf<F> } & {
    -readonly [F in Specs[number] as F extends { readonly default: unknown } ? never : CamelCase<F['name']>]?: FlagValueOf<F>;
  }
>;
