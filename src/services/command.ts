import type { StoreConfig } from '../config/common.js';
import type { FlagSpec } from '../config/flags.js';
import type { ConfigOf } from '../config/typed.js';
import type { ModeDefinition } from '../mode.js';

export const SERVICES_FLAGS = [
  { name: 'json', type: 'bool', default: false, help: 'print JSON (one array of {service, instance, address, key, lease}) for scripts' },
  { name: 'watch', type: 'bool', default: false, help: 'keep running and print the table again on every change' },
  { name: 'timeout', type: 'duration', default: 10_000, min: 100, help: 'give up when the store does not answer in this time' },
] as const satisfies readonly FlagSpec[];

export type ServicesConfig = ConfigOf<typeof SERVICES_FLAGS> & StoreConfig;

export const definition: ModeDefinition = {
  name: 'services',
  usage: 'beacon services [--json] [--watch]',
  summary: 'list services and their instances from the store',
  daemon: false,
  flags: SERVICES_FLAGS,
  async create(ctx) {
    const { ServicesCommand } = await import('./listing.js');
    return new ServicesCommand(ctx.flags as unknown as ServicesConfig, ctx);
  },
};
