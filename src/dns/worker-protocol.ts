/**
 * The messages between the dns main thread and its UDP worker threads (--udp-workers): the view
 * and its changes go out, listening, stats and errors come back.
 */
import type { SkyEntry } from '../catalog/catalog.js';
import type { StatsSnapshot } from './metrics.js';
import type { DnsSettings } from './settings.js';

/** What a UDP worker is started with. */
export interface WorkerInit {
  readonly listen: { host: string; port: number };
  readonly prefix: string;
  readonly settings: DnsSettings;
  readonly logLevel: string;
  readonly id: number;
}

/** main -> worker */
export type ToWorker =
  | { type: 'view'; entries: SkyEntry[]; settings: DnsSettings; synced: boolean; stale: boolean }
  /** keys changed since the last view or changes: their records now (put) or none (removed) */
  | { type: 'changes'; changes: [key: string, entry: SkyEntry | null][]; settings?: DnsSettings }
  | { type: 'stale'; stale: boolean }
  | { type: 'leases'; expiry: [string, number][] }
  | { type: 'stop' };

/** worker -> main */
export type FromWorker = { type: 'listening' } | { type: 'stats'; stats: StatsSnapshot } | { type: 'error'; message: string };
