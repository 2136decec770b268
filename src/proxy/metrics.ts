import { Counter, type Registry } from 'prom-client';
import type { FailureKind } from './failures.js';

export const METRIC_NAMES = [
  'beacon_proxy_requests_total',
  'beacon_proxy_request_duration_seconds',
  'beacon_proxy_upstream_errors_total',
  'beacon_proxy_retries_total',
  'beacon_proxy_ejections_total',
  'beacon_proxy_client_errors_total',
  'beacon_proxy_hedges_total',
] as const;

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface ServiceCounts {
  /** status -> requests */
  readonly statuses: Map<number, number>;
  /** per bucket (not cumulative), the last one is +Inf */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

type Sample = { value: number; labels: Record<string, string | number>; metricName?: string };

/**
 * The proxy's Prometheus metrics. The per-request ones (requests, latency) are plain numbers on
 * the hot path, turned into Prometheus samples only when scraped; the rarer ones are prom-client
 * counters.
 */
export class ProxyMetrics {
  private readonly perService = new Map<string, ServiceCounts>();
  private readonly upstreamErrors: Counter<'service' | 'kind'>;
  private readonly retries: Counter<'service'>;
  private readonly ejections: Counter<'service'>;
  private readonly clientErrors: Counter<'reason'>;
  private readonly hedges: Counter<'service'>;
  private readonly accessLogDrops: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.register(registry, 'beacon_proxy_requests_total', 'counter', 'requests answered, by service and status; service "-": no route, or a service no flag names and the store does not have', () => this.requestSamples());
    this.register(registry, 'beacon_proxy_request_duration_seconds', 'histogram', 'time from request to the end of the response, by service', () => this.durationSamples());
    this.upstreamErrors = new Counter({ name: 'beacon_proxy_upstream_errors_total', help: 'failed upstream attempts, by service and kind (connect, reset, timeout, other)', labelNames: ['service', 'kind'], registers });
    this.retries = new Counter({ name: 'beacon_proxy_retries_total', help: 'requests replayed on another instance, by service', labelNames: ['service'], registers });
    this.ejections = new Counter({ name: 'beacon_proxy_ejections_total', help: 'instances ejected after consecutive failures, by service', labelNames: ['service'], registers });
    this.accessLogDrops = new Counter({ name: 'beacon_proxy_access_log_dropped_total', help: 'access log lines dropped because stdout could not keep up', registers });
    this.hedges = new Counter({ name: 'beacon_proxy_hedges_total', help: 'requests sent to a second instance after the first sent no response head in time, by service', labelNames: ['service'], registers });
    this.clientErrors = new Counter({ name: 'beacon_proxy_client_errors_total', help: 'client connections refused for bad requests, oversized headers or timeouts, by reason', labelNames: ['reason'], registers });
  }

  request(service: string, status: number, seconds: number): void {
    let counts = this.perService.get(service);
    if (counts === undefined) {
      counts = { statuses: new Map(), buckets: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 };
      this.perService.set(service, counts);
    }
    counts.statuses.set(status, (counts.statuses.get(status) ?? 0) + 1);
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
    counts.buckets[i]!++;
    counts.sum += seconds;
    counts.count++;
  }

  private requestSamples(): Sample[] {
    const out: Sample[] = [];
    for (const [service, counts] of this.perService) {
      for (const [status, value] of counts.statuses) out.push({ value, labels: { service, status: String(status) } });
    }
    return out;
  }

  private durationSamples(): Sample[] {
    const out: Sample[] = [];
    const name = 'beacon_proxy_request_duration_seconds';
    for (const [service, counts] of this.perService) {
      let cumulative = 0;
      for (let i = 0; i <= BUCKETS.length; i++) {
        cumulative += counts.buckets[i]!;
        out.push({ metricName: `${name}_bucket`, value: cumulative, labels: { le: i < BUCKETS.length ? BUCKETS[i]! : '+Inf', service } });
      }
      out.push({ metricName: `${name}_sum`, value: counts.sum, labels: { service } });
      out.push({ metricName: `${name}_count`, value: counts.count, labels: { service } });
    }
    return out;
  }

  /** A metric whose samples are computed at scrape time (prom-client's Metric shape). */
  private register(registry: Registry, name: string, type: 'counter' | 'histogram', help: string, samples: () => Sample[]): void {
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: samples() }),
      reset: () => this.perService.clear(),
    };
    registry.registerMetric(metric as never);
  }

  accessLogDropped(lines: number): void {
    this.accessLogDrops.inc(lines);
  }

  upstreamError(service: string, kind: FailureKind): void {
    this.upstreamErrors.labels(service, kind).inc();
  }

  retry(service: string): void {
    this.retries.labels(service).inc();
  }

  ejection(service: string): void {
    this.ejections.labels(service).inc();
  }

  hedge(service: string): void {
    this.hedges.labels(service).inc();
  }

  clientError(reason: string): void {
    this.clientErrors.labels(reason).inc();
  }
}
