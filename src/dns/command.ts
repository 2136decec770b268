import type { ModeDefinition } from '../mode.js';
import type { StoreConfig } from '../config/common.js';
import { parseHostPort } from '../config/address.js';
import { UsageError } from '../errors.js';
import { cidrProblem, DEFAULT_ALLOW_RECURSION } from './cidr.js';
import { DEFAULTS, isValidDomain, parseNameserver, type ExplicitSettings } from './settings.js';

interface DnsFlags extends StoreConfig {
  listen: string;
  domain?: string;
  forward?: string[];
  ttl?: number;
  minTtl?: number;
  noRecursion?: boolean;
  forwardTimeout?: number;
  allowRecursion?: string[];
  staleTtl?: number;
  udpWorkers?: number;
  forwardCacheSize?: number;
  forwardCacheMaxTtl?: number;
  forwardStaleMax?: number;
}

// domain, forward, ttl, min-ttl and no-recursion have no FlagSpec default on purpose: unset means
// "not explicit", so `/skydns/config` may supply them; the defaults are applied in settings.ts.
export const definition: ModeDefinition = {
  name: 'dns',
  usage: 'beacon dns [--listen 0.0.0.0:53] [--domain skydns.local] [--forward ADDR[,ADDR...]] [--ttl 30] [--min-ttl 60] [--no-recursion] [--allow-recursion CIDR,...] [--forward-cache-size 10000] [--forward-stale-max 1h] [--admin ADDR]',
  summary: 'SkyDNS-compatible DNS server: answers names under the domain from /skydns records, forwards the rest',
  daemon: true,
  flags: [
    { name: 'listen', type: 'addr', placeholder: 'ADDR', default: '0.0.0.0:53', help: 'UDP and TCP address to serve DNS on' },
    {
      name: 'domain',
      type: 'string',
      placeholder: 'DOMAIN',
      help: `domain answered from /skydns records (default ${DEFAULTS.domain}, or /skydns/config "domain")`,
      validate: (v: string) => (isValidDomain(v) ? undefined : `expected a DNS name such as skydns.local, got ${JSON.stringify(v)}`),
    },
    {
      name: 'forward',
      type: 'list',
      placeholder: 'ADDR[,ADDR...]',
      help: 'nameservers for other names, IP or IP:PORT, tried in order (default: /skydns/config "nameservers", else /etc/resolv.conf)',
      validate: (v: string[]) => v.map((a) => (parseNameserver(a) ? undefined : `${JSON.stringify(a)} is not IP, IP:PORT or [IPv6]:PORT`)).find(Boolean),
    },
    { name: 'ttl', type: 'duration', placeholder: 'SECONDS', help: `TTL of records without their own ttl or lease (default ${DEFAULTS.ttl}s, or /skydns/config "ttl")` },
    { name: 'min-ttl', type: 'duration', placeholder: 'SECONDS', help: `TTL of negative answers and SOA minimum (default ${DEFAULTS.minTtl}s, or /skydns/config "min_ttl")` },
    { name: 'no-recursion', type: 'bool', help: 'answer SERVFAIL for names outside the domain instead of forwarding, as SkyDNS does (clients outside --allow-recursion still get REFUSED) (default false, or /skydns/config "no_rec")' },
    {
      name: 'allow-recursion',
      type: 'list',
      placeholder: 'CIDR[,CIDR...]',
      // no FlagSpec default: a commented list would not stay commented in config/dns.yaml
      help: `clients (source address) whose names outside the domain are forwarded; others get REFUSED for them, names in the domain are answered for everyone. IPv4-mapped IPv6 clients match IPv4 ranges; 0.0.0.0/0,::/0 = anyone (default: loopback and private ranges, ${DEFAULT_ALLOW_RECURSION.join(',')})`,
      validate: (v: string[]) => (v.length === 0 ? 'expected at least one CIDR (0.0.0.0/0,::/0 allows every client)' : v.map((c) => cidrProblem(c)).find(Boolean)),
    },
    {
      name: 'stale-ttl',
      type: 'duration',
      placeholder: 'SECONDS',
      default: DEFAULTS.staleTtl * 1000,
      help: 'TTL cap while the store is unreachable: names in the domain are answered from the last known records with TTLs of at most this, and /readyz says 503 until the store is back',
    },
    {
      name: 'udp-workers',
      type: 'int',
      placeholder: 'N',
      min: 0,
      max: 64,
      help: 'extra threads answering UDP on the same address (SO_REUSEPORT); 0 = main thread only (default: 0 on 1-2 CPUs, else CPUs - 1, at most 3)',
    },
    {
      name: 'forward-cache-size',
      type: 'int',
      placeholder: 'N',
      min: 0,
      max: 10_000_000,
      default: DEFAULTS.forwardCacheSize,
      help: 'forwarded answers kept, least recently used dropped first (approximately: a used entry gets a second chance), in at most 2 KiB per entry on average (large replies are kept fewer); per thread (each --udp-workers thread keeps its own); 0 = no cache',
    },
    {
      name: 'forward-cache-max-ttl',
      type: 'duration',
      placeholder: 'SECONDS',
      min: 1000,
      default: DEFAULTS.forwardCacheMaxTtl * 1000,
      help: 'longest time a forwarded answer is kept (its smallest TTL, or the SOA minimum for NXDOMAIN/NODATA, if shorter); TTLs in replies count down',
    },
    {
      name: 'forward-stale-max',
      type: 'duration',
      placeholder: 'SECONDS',
      default: DEFAULTS.forwardStaleMax * 1000,
      help: 'when every nameserver fails, forwarded answers expired less than this ago are answered with TTL 30 (RFC 8767); 0 = SERVFAIL instead',
    },
    { name: 'forward-timeout', type: 'duration', min: 50, max: 60_000, help: `time to wait for one nameserver before trying the next (default ${DEFAULTS.forwardTimeoutMs / 1000}s, or /skydns/config "read_timeout")` },
  ],
  async create(ctx) {
    const flags = ctx.flags as unknown as DnsFlags;
    const listen = parseHostPort(flags.listen);
    if (!listen) throw new UsageError('--listen', `expected HOST:PORT, got ${JSON.stringify(flags.listen)}`);
    const explicit: ExplicitSettings = {};
    if (flags.domain !== undefined) explicit.domain = flags.domain;
    if (flags.forward !== undefined && flags.forward.length > 0) explicit.forward = flags.forward;
    if (flags.ttl !== undefined) explicit.ttl = Math.floor(flags.ttl / 1000);
    if (flags.minTtl !== undefined) explicit.minTtl = Math.floor(flags.minTtl / 1000);
    if (flags.noRecursion !== undefined) explicit.noRecursion = flags.noRecursion;
    if (flags.forwardTimeout !== undefined) explicit.forwardTimeoutMs = flags.forwardTimeout;
    if (flags.allowRecursion !== undefined) explicit.allowRecursion = flags.allowRecursion;
    if (flags.staleTtl !== undefined) explicit.staleTtl = Math.floor(flags.staleTtl / 1000);
    if (flags.forwardCacheSize !== undefined) explicit.forwardCacheSize = flags.forwardCacheSize;
    if (flags.forwardCacheMaxTtl !== undefined) explicit.forwardCacheMaxTtl = Math.floor(flags.forwardCacheMaxTtl / 1000);
    if (flags.forwardStaleMax !== undefined) explicit.forwardStaleMax = Math.floor(flags.forwardStaleMax / 1000);
    const { DnsServer } = await import('./server.js');
    return new DnsServer({
      listen,
      explicit,
      prefix: flags.skydnsPrefix,
      store: ctx.store(),
      log: ctx.log,
      metrics: ctx.metrics,
      logLevel: flags.logLevel,
      ...(flags.udpWorkers !== undefined ? { udpWorkers: flags.udpWorkers } : {}),
    });
  },
};
