import { isIP } from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
  weight?: number;
}

/** A SkyDNS service record with every documented field; absent fields stay undefined. */
export interface SkyRecord {
  host?: string;
  port?: number;
  priority?: number;
  weight?: number;
  text?: string;
  mail?: boolean;
  ttl?: number;
  targetstrip?: number;
  group?: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(error: string): Parsed<T> => ({ ok: false, error });

function validPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}

function validHost(host: string): boolean {
  if (isIP(host)) return true;
  return /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})?$/.test(host) && !host.includes('..');
}

/**
 * A `/services` value as sidekicks, operators and beacon write it:
 * `host:port`, `[v6]:port`, `http://host:port[/...]`, or JSON `{"host":..,"port":..,"weight":..}`.
 */
export function parseServiceValue(text: string): Parsed<Endpoint> {
  const raw = text.trim();
  if (raw.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return bad('not valid JSON');
    }
    const { host, port, weight } = json as Record<string, unknown>;
    const portNumber = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
    if (typeof host !== 'string' || !validHost(host)) return bad('JSON without a valid "host"');
    if (!validPort(portNumber)) return bad('JSON without a valid "port" (1-65535)');
    if (weight !== undefined && !(typeof weight === 'number' && weight >= 0 && Number.isFinite(weight))) {
      return bad('"weight" must be a non-negative number');
    }
    return ok({ host, port: portNumber, ...(typeof weight === 'number' ? { weight } : {}) });
  }
  let hostPort = raw;
  const scheme = /^(https?):\/\//i.exec(raw);
  if (scheme) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return bad('not a valid URL');
    }
    const port = url.port ? Number(url.port) : scheme[1]!.toLowerCase() === 'https' ? 443 : 80;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!validHost(host)) return bad('URL without a valid host');
    return ok({ host, port });
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(hostPort);
  if (!m) return bad('expected host:port, http://host:port or JSON {"host","port"}');
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (m[1] !== undefined && isIP(host) !== 6) return bad('bracketed host is not an IPv6 address');
  if (!validHost(host)) return bad(`invalid host ${JSON.stringify(host)}`);
  if (!validPort(port)) return bad('port must be 1-65535');
  return ok({ host, port });
}

/** Formats an endpoint the way sidekicks and confd templates expect (`host:port`, `[v6]:port`). */
export function formatEndpoint(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A DNS name as a CNAME target may be: labels of 1-63 characters, 253 in all. */
export function isDomainName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  return bare.split('.').every((label) => /^[A-Za-z0-9_*]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

const NUMBER_FIELDS = ['port', 'priority', 'weight', 'ttl', 'targetstrip'] as const;

/** A SkyDNS JSON record. Unknown fields are ignored, as SkyDNS does; wrong types are errors. */
export function parseSkyRecord(text: string): Parsed<SkyRecord> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return bad('not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('not a JSON object');
  const o = json as Record<string, unknown>;
  const record: SkyRecord = {};
  if (o.host !== undefined) {
    if (typeof o.host !== 'string') return bad('"host" must be a string');
    if (o.host !== '' && !isIP(o.host) && !isDomainName(o.host)) return bad('"host" is neither an IP address nor a DNS name');
    if (o.host !== '') record.host = o.host;
  }
  for (const field of NUMBER_FIELDS) {
    const v = o[field];
    if (v === undefined || v === null) continue;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) {
      return bad(`"${field}" must be a non-negative integer`);
    }
    if (field === 'port' && n > 65535) return bad('"port" must be 0-65535');
    record[field] = n;
  }
  if (o.text !== undefined) {
    if (typeof o.text !== 'string') return bad('"text" must be a string');
    record.text = o.text;
  }
  if (o.mail !== undefined) {
    if (typeof o.mail !== 'boolean') return bad('"mail" must be true or false');
    record.mail = o.mail;
  }
  if (o.group !== undefined) {
    if (typeof o.group !== 'string') return bad('"group" must be a string');
    if (o.group !== '') record.group = o.group;
  }
  if (record.host === undefined && record.text === undefined) return bad('neither "host" nor "text"');
  return ok(record);
}
