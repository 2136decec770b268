/**
 * The dns mode's `/status`: its counters (summed over the UDP threads) and settings in the shape
 * operators and the admin page read. Pure: the server hands in what it knows.
 */
import { nameserverHealth, totalQueries, type StatsSnapshot } from './metrics.js';
import type { DnsSettings } from './settings.js';

export interface DnsStatusFacts {
  readonly listen: unknown;
  readonly totals: StatsSnapshot;
  readonly settings: DnsSettings;
  /** index, catalog and server facts copied as they are, first in the status */
  readonly head: {
    readonly ready: boolean;
    readonly revision: number;
    readonly records: number;
    readonly indexRebuilds: number;
    readonly indexUpdates: number;
    readonly leases: number;
    readonly malformedValues: number;
    readonly udpWorkers: number;
  };
  readonly inflight: number;
  readonly tcpConnections: number;
  readonly stale: boolean;
  readonly uptimeSeconds: number;
  readonly store: unknown;
}

export function dnsStatus(f: DnsStatusFacts): Record<string, unknown> {
  const { totals, settings } = f;
  const forward = settings.nameservers.map((n) => `${n.host}:${n.port}`);
  return {
    listen: f.listen,
    ...f.head,
    cacheEntries: totals.cacheEntries,
    queries: totalQueries(totals),
    cacheHits: totals.cacheHits,
    forwardCache: {
      size: settings.forwardCache.size,
      perThread: true,
      maxTtlSeconds: settings.forwardCache.maxTtl,
      staleMaxSeconds: settings.forwardCache.staleMax,
      entries: totals.forwardCacheEntries,
      hits: totals.forwardCacheHits,
      misses: totals.forwardCacheMisses,
      staleServed: totals.forwardStaleServed,
      prefetches: totals.forwardPrefetches,
    },
    inflight: f.inflight,
    tcpConnections: f.tcpConnections,
    settings: {
      domain: settings.domain,
      ttl: settings.ttl,
      minTtl: settings.minTtl,
      noRecursion: settings.noRecursion,
      forward,
      forwardTimeoutMs: settings.forwardTimeoutMs,
      allowRecursion: settings.allowRecursion,
      staleTtl: settings.staleTtl,
    },
    stale: f.stale,
    recursionRefused: totals.recursionRefused,
    forwardsShed: totals.forwardsShed,
    forwarders: nameserverHealth(totals, forward),
    uptimeSeconds: f.uptimeSeconds,
    store: f.store,
  };
}
