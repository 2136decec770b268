// A small upstream nameserver on loopback (UDP and TCP) that counts and timestamps every query
// and answers what the test's `answer` function says: records, a code, a delay, TC. It can be
// stopped and started again on the same port (an upstream outage).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { CLASS, encodeResponse, parseQuery, RCODE, TYPE, type RR } from '../../dist/dns/wire.js';

export interface UpstreamQuery {
  /** lowercased, with the trailing dot */
  name: string;
  type: number;
  transport: 'udp' | 'tcp';
  /** Date.now() on arrival */
  at: number;
}

export interface UpstreamAnswer {
  rcode?: number;
  answer?: RR[];
  authority?: RR[];
  /** ms before answering */
  delayMs?: number;
  /** UDP only: answer with TC set and no records */
  truncate?: boolean;
}

/** `name` is lowercased; `n` is how many queries for this name and type came before (0 first) */
export type Answerer = (q: { name: string; type: number; n: number; transport: 'udp' | 'tcp' }) => UpstreamAnswer;

export const rrA = (name: string, ttl: number, address: string): RR => ({ name, type: TYPE.A, class: CLASS.IN, ttl, data: { kind: 'a', address } });
export const rrSoa = (zone: string, ttl: number, minimum: number): RR => ({
  name: zone,
  type: TYPE.SOA,
  class: CLASS.IN,
  ttl,
  data: { kind: 'soa', mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
});

export class CountingUpstream {
  readonly queries: UpstreamQuery[] = [];
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<Socket>();

  readonly port: number;
  private readonly answer: Answerer;

  private constructor(port: number, answer: Answerer) {
    this.port = port;
    this.answer = answer;
  }

  static async start(port: number, answer: Answerer): Promise<CountingUpstream> {
    const u = new CountingUpstream(port, answer);
    await u.listen();
    return u;
  }

  /** queries for `name` (any case, with or without the trailing dot), optionally of one type and transport */
  count(name: string, type?: number, transport?: 'udp' | 'tcp'): number {
    return this.of(name, type, transport).length;
  }

  of(name: string, type?: number, transport?: 'udp' | 'tcp'): UpstreamQuery[] {
    const n = name.toLowerCase().replace(/\.?$/, '.');
    return this.queries.filter((q) => q.name === n && (type === undefined || q.type === type) && (transport === undefined || q.transport === transport));
  }

  private respond(msg: Buffer, transport: 'udp' | 'tcp', send: (reply: Buffer) => void): void {
    const p = parseQuery(msg);
    if (!p.ok) return;
    const q = p.query;
    const name = q.name.toLowerCase();
    const n = this.queries.filter((x) => x.name === name && x.type === q.type).length;
    this.queries.push({ name, type: q.type, transport, at: Date.now() });
    const a = this.answer({ name, type: q.type, n, transport });
    const truncate = a.truncate === true && transport === 'udp';
    const reply = encodeResponse({
      id: q.id,
      rcode: a.rcode ?? RCODE.NOERROR,
      rd: q.rd,
      ra: true,
      question: msg.subarray(12, q.questionEnd),
      answer: truncate ? [] : (a.answer ?? []),
      authority: truncate ? [] : (a.authority ?? []),
      ...(q.edns ? { edns: { size: 1232, dnssecOk: q.edns.dnssecOk } } : {}),
      maxSize: transport === 'tcp' ? 65535 : q.edns ? q.edns.size : 512,
    });
    if (truncate) reply[2] = reply[2]! | 0x02;
    if (a.delayMs) setTimeout(() => send(reply), a.delayMs);
    else send(reply);
  }

  async listen(): Promise<void> {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, '127.0.0.1', () => resolve());
    });
    udp.on('message', (msg, rinfo) =>
      this.respond(msg, 'udp', (reply) => {
        if (this.udp === udp) udp.send(reply, rinfo.port, rinfo.address);
      }),
    );
    this.udp = udp;
    const tcp = createServer((socket) => {
      this.conns.add(socket);
      socket.on('close', () => this.conns.delete(socket));
      socket.on('error', () => socket.destroy());
      let data = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        while (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
          const msg = data.subarray(2, 2 + data.readUInt16BE(0));
          data = data.subarray(2 + msg.length);
          this.respond(Buffer.from(msg), 'tcp', (reply) => {
            if (socket.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            socket.write(Buffer.concat([len, reply]));
          });
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.tcp = tcp;
  }

  /** stops answering (both transports); `listen()` starts again on the same port */
  async stop(): Promise<void> {
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const s of this.conns) s.destroy();
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
