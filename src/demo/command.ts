import { UsageError } from '../errors.js';
import type { ModeDefinition } from '../cli/mode.js';

// Placeholder until the demo mode lands; it refuses to run rather than pretend.
export const definition: ModeDefinition = {
  name: 'demo',
  usage: 'beacon demo [flags]',
  summary: '(demo mode: not built yet)',
  flags: [],
  daemon: true,
  create() {
    throw new UsageError('demo', 'this mode is not built yet');
  },
};
