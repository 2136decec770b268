import type { ModeDefinition } from '../mode.js';
import type { ServicesConfig } from './listing.js';

export const definition: ModeDefinition = {
  name: 'services',
  usage: 'beacon services [--json] [--watch]',
  summary: 'list services and their instances from the store',
  daemon: false,
  flags: [
    { name: 'json', type: 'bool', default: false, help: 'print JSON (one array of {service, instance, address, key, lease}) for scripts' },
    { name: 'watch', type: 'bool', default: false, help: 'keep running and print the table again on every change' },
    { name: 'timeout', type: 'duration', default: 10_000, min: 100, help: 'give up when the store does not answer in this time' },
  ],
  async create(ctx) {
    const { ServicesCommand } = await import('./listing.js');
    return new ServicesCommand(ctx.flags as unknown as ServicesConfig, ctx);
  },
};
