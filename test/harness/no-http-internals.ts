import { fileURLToPath, pathToFileURL } from 'node:url';

/** Path of the preload that hides Node's HTTP internals (see no-http-internals.mjs). */
export const NO_HTTP_INTERNALS = fileURLToPath(new URL('./no-http-internals.mjs', import.meta.url));

/**
 * Environment for a beacon process (and the processes it forks) on a Node without the HTTP
 * internals: NODE_OPTIONS preloads the hook, keeping any NODE_OPTIONS already set.
 */
export function withoutHttpInternals(env: Record<string, string> = {}): Record<string, string> {
  const inherited = env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? '';
  return { ...env, NODE_OPTIONS: `${inherited} --import=${pathToFileURL(NO_HTTP_INTERNALS).href}`.trim() };
}
