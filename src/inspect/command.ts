/**
 * `beacon routes` and `beacon explain URL`: the proxy's route table as the store and the given
 * flags make it, and what a request to one URL would meet. Read-only; the code loads lazily.
 */
import type { StoreConfig } from '../config/common.js';
import type { FlagSpec } from '../config/flags.js';
import type { ConfigOf } from '../config/typed.js';
import type { ModeDefinition } from '../mode.js';
import { isDnsLabel, normalizeDomain } from '../catalog/names.js';
import { routeFlagProblem } from '../routes/route.js';
import { UsageError } from '../errors.js';

/** The flags that make a proxy's table, with the proxy's names and defaults. */
const TABLE_FLAGS = [
  { name: 'routes-prefix', type: 'string', placeholder: 'PREFIX', default: '/beacon/routes', help: 'store prefix of the routes (as the proxy\'s --routes-prefix)' },
  { name: 'route', type: 'list', placeholder: 'HOST=SERVICE', default: [], help: 'the proxy\'s --route flags, to see the table it serves', validate: (v: string[]) => v.map(routeFlagProblem).find((p) => p !== undefined) },
  {
    name: 'domain',
    type: 'string',
    placeholder: 'DOMAIN',
    help: 'the proxy\'s --domain (<service>.DOMAIN)',
    validate: (v: string) => (normalizeDomain(v).split('.').every(isDnsLabel) ? undefined : `expected a DNS name such as example.com, got ${JSON.stringify(v)}`),
  },
  { name: 'default-service', type: 'string', placeholder: 'NAME', help: 'the proxy\'s --default-service', validate: (v: string) => (isDnsLabel(v) ? undefined : `must be a DNS label, got ${JSON.stringify(v)}`) },
  { name: 'json', type: 'bool', default: false, help: 'print JSON for scripts' },
  { name: 'timeout', type: 'duration', default: 10_000, min: 100, help: 'give up when the store does not answer in this time' },
] as const satisfies readonly FlagSpec[];

export const ROUTES_FLAGS = [...TABLE_FLAGS, { name: 'watch', type: 'bool', default: false, help: 'keep running and print the table again on every change' }] as const satisfies readonly FlagSpec[];
export const EXPLAIN_FLAGS = [{ name: 'url', type: 'string', placeholder: 'URL', help: 'the request to explain, e.g. http://www.example.com/api/v1 (or the first argument)' }, ...TABLE_FLAGS] as const satisfies readonly FlagSpec[];

export type RoutesConfig = ConfigOf<typeof ROUTES_FLAGS> & StoreConfig;
export type ExplainConfig = ConfigOf<typeof EXPLAIN_FLAGS> & StoreConfig;

export const routesDefinition: ModeDefinition = {
  name: 'routes',
  usage: 'beacon routes [--json] [--watch] [--routes-prefix /beacon/routes] [--route HOST=SERVICE ...] [--domain DOMAIN] [--default-service NAME]',
  summary: 'print the proxy route table (store routes and the given flags) with live instances',
  daemon: false,
  flags: ROUTES_FLAGS,
  async create(ctx) {
    const { RoutesCommand } = await import('./routes-listing.js');
    return new RoutesCommand(ctx.flags as unknown as RoutesConfig, ctx);
  },
};

export const explainDefinition: ModeDefinition = {
  name: 'explain',
  usage: 'beacon explain URL [--json] [--route HOST=SERVICE ...] [--domain DOMAIN] [--default-service NAME]',
  summary: 'which route a request to URL meets, and why; its service and the state of each instance',
  daemon: false,
  positional: 'url',
  flags: EXPLAIN_FLAGS,
  async create(ctx) {
    const config = ctx.flags as unknown as ExplainConfig;
    if (!config.url) throw new UsageError('URL', 'is required (beacon explain http://host/path)');
    let url: URL;
    try {
      url = new URL(config.url);
    } catch {
      throw new UsageError('URL', `not a URL: ${JSON.stringify(config.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('URL', `must be http:// or https://, got ${JSON.stringify(config.url)}`);
    const { ExplainCommand } = await import('./explain.js');
    return new ExplainCommand(config, ctx);
  },
};
