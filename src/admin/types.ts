/**
 * What the admin page reads from a mode's status() beyond what each mode has today. Every field
 * is optional: pages render what is there and leave the rest out.
 */
import type { Html } from './html.js';
import type { RateSeries } from './series.js';

/** `status.store` (the catalog's storeState(), announce's own) */
export interface StoreView {
  url?: string;
  connected?: boolean;
  /** announce: unknown | up | down */
  state?: string;
  revision?: number;
  malformed?: number;
  lastError?: { message: string; at?: string } | string;
  recentMalformed?: { key: string; reason: string; at?: string }[];
}

/** proxy: `status.routes[]`, one per routing rule */
export interface RouteView {
  /** where the rule came from: `flag`, `store`, `domain`, `default` */
  source?: string;
  host?: string;
  path?: string;
  /** what a match does: `service web`, `redirect https`, `404`... */
  action?: string;
  service?: string;
}

/** proxy: `status.certificates[]` */
export interface CertificateView {
  name?: string;
  hosts?: string[];
  /** ISO time */
  notAfter?: string;
  issuer?: string;
  source?: string;
}

/** proxy: `status.tcp[]` */
export interface TcpListenerView {
  listen?: string;
  service?: string;
  connections?: number;
}

/** proxy: `status.services[service][]`; `draining`, `leaseLeftMs`, `inflight` when the proxy has them */
export interface InstanceView {
  id?: string;
  instances?: string[];
  weight?: number;
  state?: string;
  fails?: number;
  ejectedForMs?: number;
  draining?: boolean;
  leaseLeftMs?: number;
  inflight?: number;
  workerStates?: string[];
}

/** Something that happened, noticed by comparing two samples (an ejection, retries). */
export interface PageEvent {
  at: number;
  kind: 'ejected' | 'recovered' | 'retry' | 'check' | 'registration' | 'info';
  text: string;
}

/** What a page renders from: the latest status, the rate series and the recent events. */
export interface PageView {
  readonly mode: string;
  readonly status: unknown;
  readonly series: RateSeries;
  readonly events: readonly PageEvent[];
  readonly now: number;
}

/** Counter samples (by Prometheus labels) to series keys; samples with one key are summed. */
export interface CounterSpec {
  readonly metric: string;
  keys(labels: Readonly<Record<string, string | number>>): readonly string[];
}

/** One mode's page: the live sections, what to sample, what to notice. */
export interface ModePage {
  readonly counters?: readonly CounterSpec[];
  /** events between two samples; `deltas`: counter increases by series key */
  events?(before: unknown, after: unknown, deltas: ReadonlyMap<string, number>, now: number): PageEvent[];
  /** the sections below the store bar, refreshed live */
  sections(view: PageView): Html;
  /** a search box over the mode's lookup() (dns) */
  readonly search?: { label: string; placeholder: string };
}
