import { Counter, Histogram, type Registry } from 'prom-client';
import type { FailureKind } from './retry.js';

export const METRIC_NAMES = [
  'beacon_proxy_requests_total',
  'beacon_proxy_request_duration_seconds',
  'beacon_proxy_upstream_errors_total',
  'beacon_proxy_retries_total',
  'beacon_proxy_ejections_total',
  'beacon_proxy_client_errors_total',
] as const;

type Child = { inc(value?: number): void };
type Observer = { observe(value: number): void };

/**
 * The proxy's Prometheus metrics. Label children are cached per service so the hot path does
 * one Map lookup instead of hashing a label object per request.
 */
export class ProxyMetrics {
  private readonly requests: Counter<'service' | 'status'>;
  private readonly duration: Histogram<'service'>;
  private readonly upstreamErrors: Counter<'service' | 'kind'>;
  private readonly retries: Counter<'service'>;
  private readonly ejections: Counter<'service'>;
  private readonly clientErrors: Counter<'reason'>;
  private readonly requestChildren = new Map<string, Map<number, Child>>();
  private readonly durationChildren = new Map<string, Observer>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'beacon_proxy_requests_total', help: 'requests answered, by service (or "-" when none matched) and status', labelNames: ['service', 'status'], registers });
    this.duration = new Histogram({
      name: 'beacon_proxy_request_duration_seconds',
      help: 'time from request to the end of the response, by service',
      labelNames: ['service'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.upstreamErrors = new Counter({ name: 'beacon_proxy_upstream_errors_total', help: 'failed upstream attempts, by service and kind (connect, reset, timeout, other)', labelNames: ['service', 'kind'], registers });
    this.retries = new Counter({ name: 'beacon_proxy_retries_total', help: 'requests replayed on another instance, by service', labelNames: ['service'], registers });
    this.ejections = new Counter({ name: 'beacon_proxy_ejections_total', help: 'instances ejected after consecutive failures, by service', labelNames: ['service'], registers });
    this.clientErrors = new Counter({ name: 'beacon_proxy_client_errors_total', help: 'client connections refused for bad requests, oversized headers or timeouts, by reason', labelNames: ['reason'], registers });
  }

  request(service: string, status: number, seconds: number): void {
    let byStatus = this.requestChildren.get(service);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.requestChildren.set(service, byStatus);
    }
    let child = byStatus.get(status);
    if (child === undefined) {
      child = this.requests.labels(service, String(status));
      byStatus.set(status, child);
    }
    child.inc();
    let observer = this.durationChildren.get(service);
    if (observer === undefined) {
      observer = this.duration.labels(service);
      this.durationChildren.set(service, observer);
    }
    observer.observe(seconds);
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

  clientError(reason: string): void {
    this.clientErrors.labels(reason).inc();
  }
}
