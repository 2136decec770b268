import type { ModeDefinition } from '../mode.js';
import { UsageError } from '../errors.js';
import { PROXY_MODE_FLAGS, type ProxyConfig } from './config.js';
import { checkTlsFlags } from './tls/flags.js';

export const definition: ModeDefinition = {
  name: 'proxy',
  usage:
    'beacon proxy [--listen 0.0.0.0:80] [--route HOST[/PATH]=SERVICE ...] [--routes-prefix /beacon/routes] [--domain DOMAIN] [--default-service NAME] [--tls-listen ADDR --tls-cert-dir DIR --tls-default-cert NAME --https-redirect] [--workers 1] [--connect-timeout 2s] [--max-tries 3] [--max-fails 2] [--fail-timeout 10s] [--no-access-log] [--tcp LISTEN=SERVICE[:BALANCE] ...] [--admin ADDR]',
  summary: 'HTTP front door: routes by Host and path (etcd, live) to the live /services instances, balancing, retries, WebSocket, TLS, TCP',
  daemon: true,
  flags: PROXY_MODE_FLAGS,
  // The engine reads Node internals as it loads: only `beacon proxy` itself imports it.
  async create(ctx) {
    const config = ctx.flags as unknown as ProxyConfig;
    checkTimeouts(config);
    checkTlsFlags(config);
    if (config.workers > 1) {
      const { ProxyPrimary } = await import('./cluster.js');
      return new ProxyPrimary(config, ctx.log, ctx.metrics);
    }
    const { ProxyEngine } = await import('./engine.js');
    return new ProxyEngine({ config, store: ctx.store(), log: ctx.log, metrics: ctx.metrics });
  },
};

/** Flag combinations a single flag's check cannot see (node:http would throw a RangeError). */
export function checkTimeouts(config: Pick<ProxyConfig, 'clientHeaderTimeout' | 'clientRequestTimeout'>): void {
  if (config.clientRequestTimeout !== 0 && config.clientRequestTimeout < config.clientHeaderTimeout) {
    throw new UsageError(
      '--client-request-timeout',
      `must be 0 (none) or at least --client-header-timeout (${config.clientHeaderTimeout} ms), got ${config.clientRequestTimeout} ms`,
    );
  }
}
