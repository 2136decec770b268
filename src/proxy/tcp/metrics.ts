/**
 * TCP listener metrics: plain numbers on the connection path, Prometheus samples at scrape time.
 * Byte counters include the connections still open (read from their sockets when scraped), so a
 * long database session shows its traffic before it ends.
 */
import type { Registry } from 'prom-client';

export const TCP_METRIC_NAMES = [
  'beacon_proxy_tcp_connections_open',
  'beacon_proxy_tcp_connections_total',
  'beacon_proxy_tcp_bytes_total',
  'beacon_proxy_tcp_connect_failures_total',
  'beacon_proxy_tcp_rejected_total',
  'beacon_proxy_tcp_ejections_total',
] as const;

export type ConnectFailure = 'refused' | 'timeout' | 'other';
export type Rejection = 'no-instance' | 'connect-failed' | 'max-connections';

/** The counts of one listener and upstream: connections update them through the functions below. */
export interface UpstreamCounts {
  open: number;
  total: number;
  bytesIn: number;
  bytesOut: number;
  failures: Record<ConnectFailure, number>;
  ejections: number;
}

export function countConnected(c: UpstreamCounts): void {
  c.open++;
  c.total++;
}

export function countClosed(c: UpstreamCounts, bytesIn: number, bytesOut: number): void {
  c.open--;
  c.bytesIn += bytesIn;
  c.bytesOut += bytesOut;
}

type Sample = { value: number; labels: Record<string, string | number>; metricName?: string };

/** A connection still open, as the scrape sees it. */
export interface LiveBytes {
  listener: string;
  upstream: string;
  bytesIn: number;
  bytesOut: number;
}

export class TcpMetrics {
  /** `listener\0service\0upstream` -> counts */
  private readonly counts = new Map<string, UpstreamCounts>();
  private readonly rejections = new Map<string, number>();
  private live: () => Iterable<LiveBytes> = () => [];

  constructor(registry: Registry) {
    const def = (name: (typeof TCP_METRIC_NAMES)[number], type: 'counter' | 'gauge', help: string, samples: () => Sample[]) => {
      const metric = { name, help, type, aggregator: 'sum', get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: samples() }), reset: () => undefined };
      registry.registerMetric(metric as never);
    };
    def('beacon_proxy_tcp_connections_open', 'gauge', 'TCP connections open now, by listener, service and upstream', () => this.each((c) => [{ value: c.open }]));
    def('beacon_proxy_tcp_connections_total', 'counter', 'TCP connections forwarded (upstream connected), by listener, service and upstream', () => this.each((c) => [{ value: c.total }]));
    def('beacon_proxy_tcp_bytes_total', 'counter', 'bytes forwarded, by listener, service, upstream and direction (in: client to upstream, out: upstream to client)', () => this.bytes());
    def('beacon_proxy_tcp_connect_failures_total', 'counter', 'failed upstream connects (each retried on the next instance), by listener, service, upstream and kind', () =>
      this.each((c) => (Object.entries(c.failures) as [ConnectFailure, number][]).filter(([, v]) => v > 0).map(([kind, value]) => ({ value, kind }))),
    );
    def('beacon_proxy_tcp_rejected_total', 'counter', 'client connections closed at once, by listener and reason (no-instance, connect-failed, max-connections)', () =>
      [...this.rejections].map(([key, value]) => {
        const [listener, reason] = key.split('\0') as [string, string];
        return { value, labels: { listener, reason } };
      }),
    );
    def('beacon_proxy_tcp_ejections_total', 'counter', 'upstreams ejected after consecutive connect failures, by listener, service and upstream', () => this.each((c) => (c.ejections > 0 ? [{ value: c.ejections }] : [])));
  }

  /** Where the scrape reads the open connections' byte counts. */
  setLive(live: () => Iterable<LiveBytes>): void {
    this.live = live;
  }

  /** The counts of `listener` and `upstream`, made on first use; callers keep it (no key built per connection). */
  entry(listener: string, service: string, upstream: string): UpstreamCounts {
    const key = `${listener}\0${service}\0${upstream}`;
    let c = this.counts.get(key);
    if (c === undefined) this.counts.set(key, (c = { open: 0, total: 0, bytesIn: 0, bytesOut: 0, failures: { refused: 0, timeout: 0, other: 0 }, ejections: 0 }));
    return c;
  }

  connectFailed(listener: string, service: string, upstream: string, kind: ConnectFailure, ejected: boolean): void {
    const c = this.entry(listener, service, upstream);
    c.failures[kind]++;
    if (ejected) c.ejections++;
  }

  rejected(listener: string, reason: Rejection): void {
    const key = `${listener}\0${reason}`;
    this.rejections.set(key, (this.rejections.get(key) ?? 0) + 1);
  }

  private each(fn: (c: UpstreamCounts) => { value: number; kind?: string }[]): Sample[] {
    const out: Sample[] = [];
    for (const [key, c] of this.counts) {
      const [listener, service, upstream] = key.split('\0') as [string, string, string];
      for (const { value, kind } of fn(c)) out.push({ value, labels: kind ? { listener, service, upstream, kind } : { listener, service, upstream } });
    }
    return out;
  }

  private bytes(): Sample[] {
    const live = new Map<string, { in: number; out: number }>();
    for (const l of this.live()) {
      const key = `${l.listener}\0${l.upstream}`;
      const sum = live.get(key) ?? { in: 0, out: 0 };
      sum.in += l.bytesIn;
      sum.out += l.bytesOut;
      live.set(key, sum);
    }
    const out: Sample[] = [];
    for (const [key, c] of this.counts) {
      const [listener, service, upstream] = key.split('\0') as [string, string, string];
      const open = live.get(`${listener}\0${upstream}`);
      out.push({ value: c.bytesIn + (open?.in ?? 0), labels: { listener, service, upstream, direction: 'in' } });
      out.push({ value: c.bytesOut + (open?.out ?? 0), labels: { listener, service, upstream, direction: 'out' } });
    }
    return out;
  }
}
