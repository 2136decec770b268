import type { Instance } from '../catalog/catalog.js';
import { formatEndpoint } from '../catalog/values.js';
import { alignedTable } from '../text-table.js';

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

/** The instances' table, then a count line. */
export function formatTable(rows: readonly ServiceRow[]): string {
  const cells = rows.map((r) => [r.service, r.instance, r.address, r.key]);
  const services = new Set(rows.map((r) => r.service)).size;
  return `${alignedTable(['SERVICE', 'INSTANCE', 'ADDRESS', 'KEY'], cells)}\n${services} service(s), ${rows.length} instance(s)\n`;
}
