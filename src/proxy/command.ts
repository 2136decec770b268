import type { ModeDefinition } from '../cli/mode.js';
import { ProxyPrimary } from './cluster.js';
import { PROXY_FLAGS, type ProxyConfig } from './config.js';
import { ProxyEngine } from './engine.js';

export const definition: ModeDefinition = {
  name: 'proxy',
  usage:
    'beacon proxy [--listen 0.0.0.0:80] [--route HOST=SERVICE ...] [--domain DOMAIN] [--default-service NAME] [--workers 1] [--connect-timeout 2s] [--max-tries 3] [--max-fails 2] [--fail-timeout 10s] [--no-access-log] [--admin ADDR]',
  summary: 'HTTP front door: route by Host to the live /services instances, round robin, retries, WebSocket',
  daemon: true,
  flags: PROXY_FLAGS,
  create(ctx) {
    const config = ctx.flags as unknown as ProxyConfig;
    if (config.workers > 1) return new ProxyPrimary(config, ctx.log, ctx.metrics);
    return new ProxyEngine({ config, store: ctx.store(), log: ctx.log, metrics: ctx.metrics });
  },
};
