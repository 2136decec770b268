import type { Instance } from '../catalog/catalog.js';
import { formatEndpoint } from '../catalog/values.js';

export interface ServiceRow {
  service: string;
  instance: string;
  address: string;
  key: string;
  lease?: string;
}

export function serviceRows(services: ReadonlyMap<string, readonly Instance[]>): ServiceRow[] {
  const rows: ServiceRow[] = [];
  for (const [service, instances] of services) {
    for (const i of instances) {
      rows.push({ service, instance: i.id, address: formatEndpoint(i.host, i.port), key: i.key, ...(i.lease ? { lease: i.lease } : {}) });
    }
  }
  return rows;
}

/** A plain aligned table, like `kubectl get` or `consul catalog`. */
export function formatTable(rows: readonly ServiceRow[]): string {
  const header = ['SERVICE', 'INSTANCE', 'ADDRESS', 'KEY'];
  const cells = rows.map((r) => [r.service, r.instance, r.address, r.key]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  const services = new Set(rows.map((r) => r.service)).size;
  return [line(header), ...cells.map(line), `${services} service(s), ${rows.length} instance(s)`, ''].join('\n');
}
