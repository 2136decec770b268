import type { StoreConfig } from '../../config/common.js';
import type { FlagSpec } from '../../config/flags.js';
import type { ConfigOf } from '../../config/typed.js';
import { UsageError } from '../../errors.js';
import type { ModeDefinition } from '../../mode.js';

export const TLS_PUT_FLAGS = [
  { name: 'cert', type: 'string', placeholder: 'FILE', help: 'PEM certificate chain (leaf first)' },
  { name: 'key', type: 'string', placeholder: 'FILE', help: 'PEM private key of the leaf' },
  { name: 'seal-key', type: 'string', placeholder: 'FILE', help: 'seal the key: AES-256-GCM with the SHA-256 of this file (the proxies need the same --tls-seal-key)' },
  { name: 'tls-prefix', type: 'string', placeholder: 'PREFIX', default: '/beacon/tls', help: 'store prefix of certificates' },
  { name: 'timeout', type: 'duration', default: 10_000, min: 100, help: 'give up when the store does not answer in this time' },
] as const satisfies readonly FlagSpec[];

export type TlsPutConfig = ConfigOf<typeof TLS_PUT_FLAGS> & StoreConfig;

/** A certificate's name: one key segment, the characters of file names and host names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export const definition: ModeDefinition = {
  name: 'tls',
  usage: 'beacon tls put NAME --cert FILE --key FILE [--seal-key FILE]',
  summary: 'write a certificate pair to <tls-prefix>/NAME for every proxy (validated first; key sealed with --seal-key)',
  daemon: false,
  positionals: 2,
  flags: TLS_PUT_FLAGS,
  async create(ctx) {
    const config = ctx.flags as unknown as TlsPutConfig;
    const [verb, name] = ctx.args ?? [];
    if (verb !== 'put') throw new UsageError('tls', `expected "put NAME", got ${JSON.stringify(verb ?? '')}`);
    if (name === undefined || !NAME.test(name)) throw new UsageError('NAME', `expected a certificate name (letters, digits, '.', '_', '-'), got ${JSON.stringify(name ?? '')}`);
    if (config.cert === undefined) throw new UsageError('--cert', 'required');
    if (config.key === undefined) throw new UsageError('--key', 'required');
    const { TlsPut } = await import('./put.js');
    return new TlsPut(name, config, ctx);
  },
};
