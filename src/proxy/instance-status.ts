/**
 * What /status (and the admin page) shows of each upstream beyond the balancer's view: how long
 * the lease of its registration has left. Pure: lease readings are passed in.
 */
import type { Instance } from '../catalog/catalog.js';
import type { UpstreamStatus } from './upstreams.js';

/**
 * Sets `leaseLeftMs` on every upstream whose instances are registered under a lease (the
 * smallest, when several instances share an address) and returns the lease ids seen, so the
 * caller can keep their readings fresh. `leaseSeconds` answers undefined for unknown leases.
 */
export function addLeaseTimes(
  status: Record<string, UpstreamStatus[]>,
  services: ReadonlyMap<string, readonly Instance[]>,
  leaseSeconds: (id: string) => number | undefined,
): Set<string> {
  const inUse = new Set<string>();
  for (const [service, upstreams] of Object.entries(status)) {
    const instances = services.get(service);
    if (instances === undefined) continue;
    for (const upstream of upstreams) {
      let left: number | undefined;
      for (const instance of instances) {
        if (instance.lease === undefined || !upstream.instances.includes(instance.id)) continue;
        inUse.add(instance.lease);
        const seconds = leaseSeconds(instance.lease);
        if (seconds !== undefined) left = Math.min(left ?? Infinity, seconds * 1000);
      }
      if (left !== undefined) upstream.leaseLeftMs = left;
    }
  }
  return inUse;
}
