import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ProxyMetrics } from '../../dist/proxy/metrics.js';

test('request counts and the latency histogram render as Prometheus text', async () => {
  const registry = new Registry();
  const m = new ProxyMetrics(registry);
  m.request('app', 200, 0.003);
  m.request('app', 200, 0.005);
  m.request('app', 502, 40);
  m.request('-', 404, 0.0001);
  m.retry('app');
  m.ejection('app');
  m.upstreamError('app', 'connect');
  const text = await registry.metrics();
  assert.match(text, /^beacon_proxy_requests_total\{service="app",status="200"\} 2$/m);
  assert.match(text, /^beacon_proxy_requests_total\{service="app",status="502"\} 1$/m);
  assert.match(text, /^beacon_proxy_requests_total\{service="-",status="404"\} 1$/m);
  assert.match(text, /^beacon_proxy_request_duration_seconds_bucket\{le="0.0025",service="app"\} 0$/m);
  assert.match(text, /^beacon_proxy_request_duration_seconds_bucket\{le="0.005",service="app"\} 2$/m);
  assert.match(text, /^beacon_proxy_request_duration_seconds_bucket\{le="30",service="app"\} 2$/m);
  assert.match(text, /^beacon_proxy_request_duration_seconds_bucket\{le="\+Inf",service="app"\} 3$/m);
  assert.match(text, /^beacon_proxy_request_duration_seconds_count\{service="app"\} 3$/m);
  assert.match(text, /^beacon_proxy_retries_total\{service="app"\} 1$/m);
  assert.match(text, /^beacon_proxy_ejections_total\{service="app"\} 1$/m);
  assert.match(text, /^beacon_proxy_upstream_errors_total\{service="app",kind="connect"\} 1$/m);
  // and as JSON, which --workers sums across processes
  const json = await registry.getMetricsAsJSON();
  assert.ok(json.some((metric) => metric.name === 'beacon_proxy_request_duration_seconds' && metric.values.length === 2 * 18));
});
