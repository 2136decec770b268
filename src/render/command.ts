import { UsageError } from '../errors.js';
import type { ModeDefinition } from '../cli/mode.js';

// Placeholder until the render mode lands; it refuses to run rather than pretend.
export const definition: ModeDefinition = {
  name: 'render',
  usage: 'beacon render [flags]',
  summary: '(render mode: not built yet)',
  flags: [],
  daemon: true,
  create() {
    throw new UsageError('render', 'this mode is not built yet');
  },
};
