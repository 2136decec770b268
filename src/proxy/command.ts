import { UsageError } from '../errors.js';
import type { ModeDefinition } from '../cli/mode.js';

// Placeholder until the proxy mode lands; it refuses to run rather than pretend.
export const definition: ModeDefinition = {
  name: 'proxy',
  usage: 'beacon proxy [flags]',
  summary: '(proxy mode: not built yet)',
  flags: [],
  daemon: true,
  create() {
    throw new UsageError('proxy', 'this mode is not built yet');
  },
};
