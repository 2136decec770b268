import { networkInterfaces } from 'node:os';

/** The first non-internal IPv4 address, as the contract's `--host` default; loopback if there is none. */
export function defaultHostAddress(interfaces = networkInterfaces()): string {
  for (const name of Object.keys(interfaces)) {
    for (const addr of interfaces[name] ?? []) {
      if (addr.family === 'IPv4' && !addr.internal) return addr.address;
    }
  }
  return '127.0.0.1';
}
