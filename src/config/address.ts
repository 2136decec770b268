/**
 * Addresses as flags and the store URL spell them: the one parser of `host:port` every mode uses
 * (listen addresses, the admin endpoint, etcd endpoints). Pure.
 */

export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/;

/** `host:port`, `:port` (`defaultHost`, all interfaces unless told), `[v6]:port`; undefined when malformed. */
export function parseHostPort(text: string, defaultHost = '0.0.0.0'): HostPort | undefined {
  const m = HOST_PORT.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? defaultHost : host, port };
}

/**
 * A server to dial: `name:port`, `ip:port` or `[v6]:port`, the host never empty. Names are
 * letters, digits, dots and dashes; a bracketed host is an IPv6 literal's characters.
 */
export function parseEndpoint(text: string): HostPort | undefined {
  const address = parseHostPort(text, '');
  if (!address || address.host === '') return undefined;
  const bracketed = text.trim().startsWith('[');
  return (bracketed ? /^[0-9a-fA-F:.]+$/ : /^[A-Za-z0-9.-]+$/).test(address.host) ? address : undefined;
}
