/**
 * PROXY protocol headers (HAProxy's proxy-protocol.txt, "The PROXY protocol, Versions 1 & 2",
 * https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt): what a proxy sends first on an
 * upstream connection so the server learns the client's address. Pure encoders, table-tested.
 *
 * Written here rather than taken from npm: the two candidates (proxy-protocol-js,
 * @balena/proxy-protocol-parser) are mostly parsers, and the encoding side is a few lines of
 * the spec (section 2.1 for v1, 2.2 for v2) that is easier to check by its table test than a
 * dependency is to audit.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type ProxyProtocolVersion = 'v1' | 'v2';

export interface ProxiedConnection {
  /** the client's address (the socket's remoteAddress) */
  sourceAddress: string | undefined;
  sourcePort: number | undefined;
  /** the address the client connected to (the socket's localAddress) */
  destinationAddress: string | undefined;
  destinationPort: number | undefined;
}

/** v2's 12-byte signature (section 2.2). */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

type Family = { family: 4; source: string; destination: string } | { family: 6; source: string; destination: string } | undefined;

/** `::ffff:1.2.3.4` -> `1.2.3.4` (what a dual-stack listener reports for IPv4 clients). */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address.replace(/%.*$/, '');
}

/** Both addresses in one family, as the spec requires: mixed pairs go to IPv6 (v4-mapped). */
function family(conn: ProxiedConnection): Family {
  if (conn.sourceAddress === undefined || conn.destinationAddress === undefined) return undefined;
  if (conn.sourcePort === undefined || conn.destinationPort === undefined) return undefined;
  const source = unmapped(conn.sourceAddress);
  const destination = unmapped(conn.destinationAddress);
  if (isIPv4(source) && isIPv4(destination)) return { family: 4, source, destination };
  const six = (a: string) => (isIPv4(a) ? `::ffff:${a}` : a);
  if ((isIPv4(source) || isIPv6(source)) && (isIPv4(destination) || isIPv6(destination))) return { family: 6, source: six(source), destination: six(destination) };
  return undefined;
}

/** Section 2.1: `PROXY TCP4 src dst sport dport\r\n`, or `PROXY UNKNOWN\r\n`. */
export function encodeProxyV1(conn: ProxiedConnection): Buffer {
  const f = family(conn);
  if (f === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${f.family} ${f.source} ${f.destination} ${conn.sourcePort} ${conn.destinationPort}\r\n`, 'latin1');
}

/**
 * Section 2.2: signature, version 2 + command PROXY (0x21), family/transport (0x11 TCP over
 * IPv4, 0x21 TCP over IPv6), address block length, then source address, destination address,
 * source port, destination port in network order. Unknown addresses: command LOCAL with an
 * UNSPEC family and no address block (the receiver keeps the real connection's addresses).
 */
export function encodeProxyV2(conn: ProxiedConnection): Buffer {
  const f = family(conn);
  if (f === undefined) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const size = f.family === 4 ? 4 : 16;
  const out = Buffer.alloc(16 + 2 * size + 4);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = f.family === 4 ? 0x11 : 0x21;
  out.writeUInt16BE(2 * size + 4, 14);
  const bytes = f.family === 4 ? ipv4Bytes : ipv6Bytes;
  bytes(f.source).copy(out, 16);
  bytes(f.destination).copy(out, 16 + size);
  out.writeUInt16BE(conn.sourcePort!, 16 + 2 * size);
  out.writeUInt16BE(conn.destinationPort!, 18 + 2 * size);
  return out;
}

export function encodeProxyHeader(version: ProxyProtocolVersion, conn: ProxiedConnection): Buffer {
  return version === 'v1' ? encodeProxyV1(conn) : encodeProxyV2(conn);
}

export function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/** 16 bytes of an IPv6 address in any textual form (`::` compression, IPv4 tail, zone id). */
export function ipv6Bytes(address: string): Buffer {
  let text = address.replace(/%.*$/, '');
  const out = Buffer.alloc(16);
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v4 = ipv4Bytes(tail[1]!);
    text = `${text.slice(0, tail.index)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const front = groups(head);
  const back = groups(rest);
  const all = rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
