import { Gauge, type Registry } from 'prom-client';
import type { Catalog } from './catalog.js';

/**
 * The catalog's health as metrics, for every mode that reads the store. `current` returns the
 * catalog in use (a mode may replace it, as render does when its resources change).
 */
export function registerCatalogMetrics(registry: Registry, current: () => Catalog | undefined): void {
  new Gauge({
    name: 'beacon_catalog_malformed_values',
    help: 'stored values skipped because they could not be parsed (since start)',
    registers: [registry],
    collect() {
      this.set(current()?.malformed ?? 0);
    },
  });
  new Gauge({
    name: 'beacon_catalog_ready',
    help: '1 while the view is synced and the watch connected',
    registers: [registry],
    collect() {
      this.set(current()?.ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'beacon_catalog_revision',
    help: 'store revision of the current view',
    registers: [registry],
    collect() {
      this.set(current()?.revision ?? 0);
    },
  });
  new Gauge({
    name: 'beacon_catalog_resyncs',
    help: 'full re-reads of the store (first sync and watch resets after compaction)',
    registers: [registry],
    collect() {
      this.set(current()?.syncs ?? 0);
    },
  });
}
