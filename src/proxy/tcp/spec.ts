/**
 * `--tcp LISTEN=SERVICE[:BALANCE]`: one TCP listener forwarding raw connections to a service.
 * Pure parsing; the flag's validate hook reports the first bad value so the CLI exits 2 naming it.
 */
import { parseHostPort } from '../../config/address.js';
import { isDnsLabel } from '../../catalog/names.js';

export const TCP_BALANCES = ['round-robin', 'least-conn', 'first'] as const;
export type TcpBalance = (typeof TCP_BALANCES)[number];

export interface TcpListenerSpec {
  /** as written, e.g. `0.0.0.0:3306` */
  readonly listen: string;
  readonly host: string;
  readonly port: number;
  readonly service: string;
  readonly balance: TcpBalance;
}

export type TcpSpecResult = { spec: TcpListenerSpec } | { problem: string };

export function parseTcpSpec(text: string): TcpSpecResult {
  const bad = (why: string): TcpSpecResult => ({ problem: `${JSON.stringify(text)}: ${why} (expected LISTEN=SERVICE[:BALANCE], e.g. 0.0.0.0:3306=galera:first)` });
  const eq = text.indexOf('=');
  if (eq === -1) return bad('missing "="');
  const listen = text.slice(0, eq).trim();
  const where = parseHostPort(listen);
  if (!where || where.port === 0) return bad(`listen address ${JSON.stringify(listen)} is not HOST:PORT, :PORT or [IPv6]:PORT with a port 1-65535`);
  const target = text.slice(eq + 1).trim();
  const colon = target.indexOf(':');
  const service = colon === -1 ? target : target.slice(0, colon);
  const balance = colon === -1 ? 'round-robin' : target.slice(colon + 1);
  if (!isDnsLabel(service)) return bad(`service ${JSON.stringify(service)} is not a DNS label (a-z, 0-9, '-', 1-63 chars)`);
  if (!(TCP_BALANCES as readonly string[]).includes(balance)) return bad(`balance ${JSON.stringify(balance)} is not one of ${TCP_BALANCES.join(', ')}`);
  return { spec: { listen, host: where.host, port: where.port, service, balance: balance as TcpBalance } };
}

/** Every value parsed, or the first problem (a bad value, or two listeners on one address). */
export function parseTcpSpecs(values: readonly string[]): { specs: TcpListenerSpec[] } | { problem: string } {
  const specs: TcpListenerSpec[] = [];
  const seen = new Set<string>();
  for (const value of values) {
    const result = parseTcpSpec(value);
    if ('problem' in result) return result;
    const key = `${result.spec.host}:${result.spec.port}`;
    if (seen.has(key)) return { problem: `${JSON.stringify(value)}: ${result.spec.listen} is given twice` };
    seen.add(key);
    specs.push(result.spec);
  }
  return { specs };
}

/** For the flag's validate hook. */
export function tcpSpecsProblem(values: readonly string[]): string | undefined {
  const result = parseTcpSpecs(values);
  return 'problem' in result ? result.problem : undefined;
}
