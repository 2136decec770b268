import { UsageError } from '../errors.js';
import type { ModeDefinition } from '../cli/mode.js';

// Placeholder until the dns mode lands; it refuses to run rather than pretend.
export const definition: ModeDefinition = {
  name: 'dns',
  usage: 'beacon dns [flags]',
  summary: '(dns mode: not built yet)',
  flags: [],
  daemon: true,
  create() {
    throw new UsageError('dns', 'this mode is not built yet');
  },
};
