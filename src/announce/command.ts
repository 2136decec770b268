import { hostname } from 'node:os';
import type { ModeDefinition } from '../mode.js';
import { isDnsLabel, defaultInstanceId, normalizeDomain } from '../catalog/names.js';
import type { StoreConfig } from '../config/common.js';
import { requireFlag } from '../config/flags.js';
import { UsageError } from '../errors.js';
import { defaultHostAddress } from './host.js';

const DEFAULT_TIMEOUT_MS = 1000;

const label = (what: string) => (v: string) => (isDnsLabel(v) ? undefined : `${what} must be a DNS label (a-z, 0-9, '-', 1-63 chars), got ${JSON.stringify(v)}`);

export interface AnnounceConfig extends StoreConfig {
  service: string;
  port: number;
  host?: string;
  id?: string;
  check?: string;
  interval: number;
  /** undefined: the smaller of 1 s and --interval */
  timeout?: number;
  rise: number;
  fall: number;
  ttl: number;
  domain: string;
  priority: number;
  weight: number;
  drainFile?: string;
}

export const definition: ModeDefinition = {
  name: 'announce',
  usage: 'beacon announce --service NAME --port PORT [--host ADDR] [--id ID] [--check SPEC] [--interval 2s] [--timeout 1s] [--rise 2] [--fall 3] [--ttl 15s] [--domain skydns.local] [--priority 10] [--weight 100] [--drain-file PATH] [--admin ADDR]',
  summary: 'sidecar: health-check the local app and keep it registered in the store under a lease while healthy',
  daemon: true,
  flags: [
    { name: 'service', type: 'string', placeholder: 'NAME', help: 'service name (a DNS label); required', validate: label('service') },
    { name: 'port', type: 'port', placeholder: 'PORT', help: 'port the app serves on; required' },
    { name: 'host', type: 'string', placeholder: 'ADDR', help: 'address to announce (default: first non-internal IPv4 of this machine)' },
    { name: 'id', type: 'string', placeholder: 'ID', help: 'instance id, a DNS label (default: host name and port, sanitized, e.g. web1-8080)', validate: label('id') },
    { name: 'check', type: 'string', placeholder: 'SPEC', help: 'http(s)://URL (2xx/3xx passes), tcp://HOST:PORT (connect passes) or cmd:COMMAND (exit 0 passes); default: TCP connect to host:port' },
    { name: 'interval', type: 'duration', default: 2000, min: 100, help: 'time between checks' },
    { name: 'timeout', type: 'duration', min: 10, help: 'time one check may take (default: 1s, or --interval when that is shorter)' },
    { name: 'rise', type: 'int', default: 2, min: 1, max: 100, help: 'consecutive passes before registering' },
    { name: 'fall', type: 'int', default: 3, min: 1, max: 100, help: 'consecutive failures before deregistering' },
    { name: 'ttl', type: 'duration', default: 15_000, min: 1000, help: 'lease TTL: how long keys outlive a dead sidecar' },
    { name: 'domain', type: 'string', placeholder: 'DOMAIN', default: 'skydns.local', help: 'SkyDNS domain for the DNS record' },
    { name: 'priority', type: 'int', default: 10, min: 0, max: 65535, help: 'SRV priority in the SkyDNS record' },
    { name: 'weight', type: 'int', default: 100, min: 0, max: 65535, help: 'SRV weight in the SkyDNS record' },
    { name: 'drain-file', type: 'string', placeholder: 'PATH', help: 'while this file exists the instance is deregistered (maintenance) but checks go on' },
  ],
  async create(ctx) {
    const flags = ctx.flags as unknown as AnnounceConfig;
    const service = requireFlag<string>(ctx.flags, 'service');
    const port = requireFlag<number>(ctx.flags, 'port');
    const host = flags.host ?? defaultHostAddress();
    const id = flags.id ?? defaultInstanceId(hostname(), port);
    // The default follows --interval down, so `--interval 300ms` alone is valid; only an explicit
    // --timeout (flag, env or config file) can exceed it.
    const timeout = flags.timeout ?? Math.min(DEFAULT_TIMEOUT_MS, flags.interval);
    if (timeout > flags.interval) throw new UsageError('--timeout', `must not exceed --interval (${timeout}ms > ${flags.interval}ms)`);
    const domain = normalizeDomain(flags.domain);
    if (!domain.split('.').every(isDnsLabel)) throw new UsageError('--domain', `expected a DNS name such as skydns.local, got ${JSON.stringify(flags.domain)}`);
    // checks.js brings the HTTP client: imported with the mode, not with its definition
    const [{ Announcer }, { parseCheckSpec }] = await Promise.all([import('./announcer.js'), import('./checks.js')]);
    const check = parseCheckSpec(flags.check, host, port);
    return new Announcer(
      {
        registration: {
          service,
          id,
          host,
          port,
          domain,
          priority: flags.priority,
          weight: flags.weight,
          ttlMs: flags.ttl,
          servicesPrefix: flags.servicesPrefix,
          skydnsPrefix: flags.skydnsPrefix,
        },
        check,
        intervalMs: flags.interval,
        timeoutMs: timeout,
        rise: flags.rise,
        fall: flags.fall,
        ...(flags.drainFile ? { drainFile: flags.drainFile } : {}),
      },
      ctx.store(),
      ctx.log,
      ctx.metrics,
    );
  },
};
