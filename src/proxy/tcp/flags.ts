/** The `--tcp*` flags of `beacon proxy` and the options the listeners take from them. */
import type { FlagSpec } from '../../config/flags.js';
import type { TcpOptions } from './connection.js';
import { parseTcpSpecs, tcpSpecsProblem, type TcpListenerSpec } from './spec.js';

export interface TcpConfig {
  tcp: string[];
  tcpProxyProtocol: 'off' | 'v1' | 'v2';
  tcpIdleTimeout: number;
  tcpMaxConnections: number;
  tcpDrainTimeout: number;
}

export const TCP_FLAGS: readonly FlagSpec[] = [
  {
    name: 'tcp',
    type: 'list',
    placeholder: 'LISTEN=SERVICE[:BALANCE]',
    default: [],
    help: 'forward raw TCP connections on LISTEN to the live instances of SERVICE; BALANCE round-robin, least-conn or first (first live instance in instance-id order); repeat for more listeners',
    validate: (v: string[]) => tcpSpecsProblem(v),
  },
  { name: 'tcp-proxy-protocol', type: 'string', placeholder: 'off|v1|v2', default: 'off', choices: ['off', 'v1', 'v2'], help: 'send a PROXY protocol header with the client address to TCP upstreams' },
  { name: 'tcp-idle-timeout', type: 'duration', default: 0, help: 'close a TCP connection silent both ways this long; 0 = never' },
  { name: 'tcp-max-connections', type: 'int', default: 0, min: 0, max: 1_000_000, help: 'open connections per TCP listener (and worker) beyond which new ones are closed at once; 0 = unlimited' },
  { name: 'tcp-drain-timeout', type: 'duration', default: 0, help: 'when an instance leaves the store, close the TCP connections still open to it after this long; 0 = keep them' },
];

/** The listeners named by `--tcp` (already validated by the flag). */
export function tcpSpecs(config: Pick<TcpConfig, 'tcp'>): TcpListenerSpec[] {
  const result = parseTcpSpecs(config.tcp ?? []);
  if ('problem' in result) throw new Error(result.problem);
  return result.specs;
}

export function tcpOptions(config: TcpConfig & { connectTimeout: number; maxTries: number; maxFails: number; failTimeout: number }): TcpOptions {
  return {
    connectTimeoutMs: config.connectTimeout,
    idleTimeoutMs: config.tcpIdleTimeout,
    maxConnections: config.tcpMaxConnections,
    drainTimeoutMs: config.tcpDrainTimeout,
    maxTries: config.maxTries,
    proxyProtocol: config.tcpProxyProtocol,
    policy: { maxFails: config.maxFails, failTimeoutMs: config.failTimeout },
  };
}
