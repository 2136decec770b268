/** The TLS listener's Prometheus metrics. */
import { Counter, Gauge, type Registry } from 'prom-client';

export const TLS_METRIC_NAMES = ['beacon_proxy_tls_certs_invalid', 'beacon_proxy_tls_handshakes_total', 'beacon_proxy_tls_cert_expiry_seconds'] as const;

export type HandshakeResult = 'ok' | 'no_certificate' | 'error';

export class TlsMetrics {
  private readonly invalid: Counter<'source'>;
  private readonly handshakes: Counter<'result'>;

  constructor(registry: Registry, expiries: () => Iterable<{ name: string; notAfter: Date }>) {
    const registers = [registry];
    this.invalid = new Counter({ name: 'beacon_proxy_tls_certs_invalid', help: 'certificate pairs skipped as invalid (bad PEM, key not matching, expired, broken chain, unsealable), by source', labelNames: ['source'], registers });
    this.handshakes = new Counter({ name: 'beacon_proxy_tls_handshakes_total', help: 'TLS handshakes on --tls-listen, by result (ok, no_certificate: no certificate for the name and no default, error)', labelNames: ['result'], registers });
    new Gauge({
      name: 'beacon_proxy_tls_cert_expiry_seconds',
      help: 'seconds until each certificate in use expires (negative: expired), by certificate name',
      labelNames: ['name'],
      registers,
      // with --workers every worker serves the same certificates: one value, not a sum
      aggregator: 'min',
      collect() {
        this.reset();
        const now = Date.now();
        for (const c of expiries()) this.labels(c.name).set((c.notAfter.getTime() - now) / 1000);
      },
    });
  }

  invalidPair(source: string): void {
    this.invalid.inc({ source });
  }

  handshake(result: HandshakeResult): void {
    this.handshakes.inc({ result });
  }
}
