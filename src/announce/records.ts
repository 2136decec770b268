import { formatEndpoint } from '../catalog/values.js';
import { servicesKey, skydnsKey } from '../catalog/names.js';

export interface Registration {
  service: string;
  id: string;
  host: string;
  port: number;
  domain: string;
  priority: number;
  weight: number;
  ttlMs: number;
  servicesPrefix: string;
  skydnsPrefix: string;
}

/** The two keys announce writes under one lease: the sidekick's `host:port` and the SkyDNS record. */
export function registrationPairs(r: Registration): [string, string][] {
  const record = { host: r.host, port: r.port, priority: r.priority, weight: r.weight, ttl: Math.max(1, Math.ceil(r.ttlMs / 1000)) };
  return [
    [servicesKey(r.servicesPrefix, r.service, r.id), formatEndpoint(r.host, r.port)],
    [skydnsKey(r.skydnsPrefix, r.domain, r.service, r.id), JSON.stringify(record)],
  ];
}
