import type { FlagSpec } from './flags.js';
import type { ConfigOf } from './typed.js';

/** Flags every mode takes. */
export const STORE_FLAGS = [
  { name: 'config', type: 'string', placeholder: 'FILE', help: 'YAML or JSON config file; keys are the flag names in camelCase' },
  {
    name: 'store',
    type: 'string',
    placeholder: 'URL',
    default: 'etcd://127.0.0.1:2379',
    help: 'etcd://HOST:PORT[,HOST:PORT...] (one etcd cluster) or file:///ABSOLUTE/DIR (embedded single-host store)',
  },
  { name: 'etcd-ca', type: 'string', placeholder: 'FILE', help: 'CA certificate for etcd over TLS (alone: server-only TLS)' },
  { name: 'etcd-cert', type: 'string', placeholder: 'FILE', help: 'client certificate for etcd mutual TLS' },
  { name: 'etcd-key', type: 'string', placeholder: 'FILE', help: 'client key for etcd mutual TLS' },
  { name: 'etcd-user', type: 'string', placeholder: 'NAME', help: 'etcd user (with --etcd-password)' },
  { name: 'etcd-password', type: 'string', placeholder: 'SECRET', secret: true, help: 'etcd password; prefer BEACON_ETCD_PASSWORD or a config file' },
  { name: 'services-prefix', type: 'string', placeholder: 'PREFIX', default: '/services', help: 'key prefix of host:port records' },
  { name: 'skydns-prefix', type: 'string', placeholder: 'PREFIX', default: '/skydns', help: 'key prefix of SkyDNS records' },
  {
    name: 'log-level',
    type: 'string',
    placeholder: 'LEVEL',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    help: 'log level of the JSON lines on stderr (default: info for long-running modes, warn for commands)',
  },
] as const satisfies readonly FlagSpec[];

export const ADMIN_FLAG: FlagSpec = {
  name: 'admin',
  type: 'addr',
  placeholder: 'ADDR',
  help: 'serve the live page (/), /healthz, /readyz, /metrics and /status on this address (e.g. 127.0.0.1:9100); off when unset',
};

/** What STORE_FLAGS parse to: the store (openStore's StoreFlags), key prefixes, log level. */
export type StoreConfig = ConfigOf<typeof STORE_FLAGS>;
