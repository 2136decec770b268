/**
 * Forwarding to upstream nameservers: one exchange per attempt on its own socket (random source
 * port, nothing shared to confuse replies), a timeout per attempt, failover down the list.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP, Socket } from 'node:net';
import { decodeMessage, encodeQuery, RCODE, type RR } from './wire.js';
import { clampForwardTimeout, type Nameserver } from './settings.js';

export type Transport = 'udp' | 'tcp';

export class ForwardError extends Error {
  override readonly name = 'ForwardError';
}

/** Whether `reply` answers `query`: same id, a response, same question (case-insensitive). */
export function matchesQuery(query: Uint8Array, reply: Uint8Array): boolean {
  if (reply.length < 12 || query.length < 12) return false;
  if (reply[0] !== query[0] || reply[1] !== query[1] || !(reply[2]! & 0x80)) return false;
  // compare the question: qdcount, then bytes up to the end of the question
  if (reply[4] !== query[4] || reply[5] !== query[5]) return false;
  let pos = 12;
  for (let guard = 0; guard < 128 && pos < query.length; guard++) {
    const len = query[pos]!;
    if (len === 0 || len & 0xc0) break;
    pos += len + 1;
  }
  const end = pos + 5;
  if (end > query.length || end > reply.length) return false;
  for (let i = 12; i < end; i++) {
    let a = query[i]!;
    let b = reply[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

/** `a` and `b` are the same IP address (IPv6 compared in canonical form: `::1` = `0:0::1`). */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  if (isIP(a) !== 6 || isIP(b) !== 6) return false;
  return URL.parse(`http://[${a}]/`)?.hostname === URL.parse(`http://[${b}]/`)?.hostname;
}

/** One query to one nameserver over UDP; a reply from any other address or port is ignored. */
export function exchangeUdp(query: Uint8Array, ns: Nameserver, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIP(ns.host) === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new ForwardError(`${ns.host}:${ns.port} did not answer within ${timeoutMs}ms`)), timeoutMs);
    socket.on('error', (err) => finish(new ForwardError(`${ns.host}:${ns.port}: ${err.message}`)));
    socket.on('message', (msg, rinfo) => {
      // stray or spoofed (another host can send from the nameserver's port): keep waiting
      if (rinfo.port !== ns.port || !sameAddress(rinfo.address, ns.host) || !matchesQuery(query, msg)) return;
      finish(undefined, msg);
    });
    socket.send(query, ns.port, ns.host, (err) => {
      if (err) finish(new ForwardError(`${ns.host}:${ns.port}: ${err.message}`));
    });
  });
}

/** One query to one nameserver over TCP (length-prefixed). */
export function exchangeTcp(query: Uint8Array, ns: Nameserver, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let settled = false;
    let data = Buffer.alloc(0);
    const finish = (err: Error | undefined, reply?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new ForwardError(`${ns.host}:${ns.port} (tcp) did not answer within ${timeoutMs}ms`)), timeoutMs);
    socket.on('error', (err) => finish(new ForwardError(`${ns.host}:${ns.port} (tcp): ${err.message}`)));
    socket.on('close', () => finish(new ForwardError(`${ns.host}:${ns.port} (tcp) closed the connection`)));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      while (data.length >= 2) {
        const len = data.readUInt16BE(0);
        if (data.length < 2 + len) return;
        const msg = data.subarray(2, 2 + len);
        data = data.subarray(2 + len);
        if (matchesQuery(query, msg)) return finish(undefined, Buffer.from(msg));
      }
    });
    socket.connect(ns.port, ns.host, () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(query.length);
      socket.write(Buffer.concat([prefix, query]));
    });
  });
}

/** forwarded queries in flight at once (each holds a socket); more are not forwarded */
export const MAX_FORWARDS = 1024;

export interface ForwarderOptions {
  nameservers(): readonly Nameserver[];
  timeoutMs(): number;
  /** every attempt's outcome, for metrics */
  onAttempt?(ns: Nameserver, outcome: 'ok' | 'error' | 'timeout' | 'servfail'): void;
  /** queries in flight at once; default MAX_FORWARDS */
  maxInflight?: number;
  /** a query not forwarded because `maxInflight` were in flight */
  onShed?(): void;
}

export class Forwarder {
  /** queries being forwarded now */
  inflight = 0;
  private readonly maxInflight: number;

  constructor(private readonly options: ForwarderOptions) {
    this.maxInflight = options.maxInflight ?? MAX_FORWARDS;
  }

  /**
   * Sends the client's query as it is to each nameserver in turn (over the client's transport)
   * until one answers other than SERVFAIL/REFUSED. Undefined when all fail, and at once when
   * `maxInflight` queries are being forwarded already.
   */
  async relay(query: Uint8Array, transport: Transport): Promise<Buffer | undefined> {
    if (this.inflight >= this.maxInflight) {
      this.options.onShed?.();
      return undefined;
    }
    this.inflight++;
    try {
      return await this.attempt(query, transport);
    } finally {
      this.inflight--;
    }
  }

  private async attempt(query: Uint8Array, transport: Transport): Promise<Buffer | undefined> {
    // never a timer Node cannot set (it would fire after 1 ms): 50 ms .. 60 s
    const timeout = clampForwardTimeout(this.options.timeoutMs());
    for (const ns of this.options.nameservers()) {
      try {
        const reply = transport === 'tcp' ? await exchangeTcp(query, ns, timeout) : await exchangeUdp(query, ns, timeout);
        const rcode = reply[3]! & 0x0f;
        if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
          this.options.onAttempt?.(ns, 'servfail');
          continue;
        }
        this.options.onAttempt?.(ns, 'ok');
        return reply;
      } catch (err) {
        this.options.onAttempt?.(ns, /within/.test((err as Error).message) ? 'timeout' : 'error');
      }
    }
    return undefined;
  }

  /**
   * Resolves a name for use inside an answer (an out-of-zone CNAME, SRV or MX target): the
   * answer section, or null when it does not resolve.
   */
  async lookup(name: string, type: number): Promise<RR[] | null> {
    const query = encodeQuery(randomInt(0, 65536), name, type, { ednsSize: 1232 });
    let reply = await this.relay(query, 'udp');
    if (reply && reply[2]! & 0x02) reply = await this.relay(query, 'tcp');
    if (!reply) return null;
    try {
      const msg = decodeMessage(reply);
      if (msg.rcode !== RCODE.NOERROR || msg.answer.length === 0) return null;
      return [...msg.answer];
    } catch {
      return null;
    }
  }
}
