// A tiny DNS server on loopback (UDP) for the template lookups: answers from a table, holds the
// names the test says until it lets them go, never answers the silent ones. Messages are read and
// written with beacon's own wire code (src/dns/wire.ts, tested against dig in test/dns/).
import { createSocket } from 'node:dgram';
import { encodeResponse, parseQuery, RCODE, TYPE, typeName, type RR } from '../../dist/dns/wire.js';

export interface Records {
  A?: string[];
  AAAA?: string[];
  SRV?: { target: string; port: number; priority: number; weight: number }[];
}

export interface LookupServer {
  /** `127.0.0.1:PORT`, for --lookup-servers */
  readonly address: string;
  /** names and types asked so far, e.g. `slow.test A` */
  readonly asked: string[];
  /** answers for `name` wait until release(name) */
  hold(name: string): void;
  release(name: string): void;
  close(): Promise<void>;
}

function answers(name: string, type: number, records: Records): RR[] {
  const rr = (data: RR['data']): RR => ({ name, type, class: 1, ttl: 60, data });
  if (type === TYPE.A) return (records.A ?? []).map((address) => rr({ kind: 'a', address }));
  if (type === TYPE.AAAA) return (records.AAAA ?? []).map((address) => rr({ kind: 'aaaa', address }));
  if (type === TYPE.SRV) return (records.SRV ?? []).map((s) => rr({ kind: 'srv', ...s, target: s.target.endsWith('.') ? s.target : `${s.target}.` }));
  return [];
}

export async function startLookupServer(table: Record<string, Records>, silent: readonly string[] = []): Promise<LookupServer> {
  const asked: string[] = [];
  const held = new Map<string, { promise: Promise<void>; release: () => void }>();
  const socket = createSocket('udp4');
  socket.on('message', (msg, peer) => {
    const parsed = parseQuery(msg);
    if (!parsed.ok) return;
    const q = parsed.query;
    const name = q.name.toLowerCase().replace(/\.$/, '');
    asked.push(`${name} ${typeName(q.type)}`);
    if (silent.includes(name)) return;
    const records = table[name];
    const reply = encodeResponse({
      id: q.id,
      rcode: records ? RCODE.NOERROR : RCODE.NXDOMAIN,
      aa: true,
      rd: q.rd,
      question: msg.subarray(12, q.questionEnd),
      answer: records ? answers(q.name, q.type, records) : [],
      maxSize: 512,
    });
    void (held.get(name)?.promise ?? Promise.resolve()).then(() => socket.send(reply, peer.port, peer.address));
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    asked,
    hold(name) {
      let release!: () => void;
      const promise = new Promise<void>((resolve) => (release = resolve));
      held.set(name, { promise, release });
    },
    release(name) {
      held.get(name)?.release();
    },
    close: async () => {
      for (const h of held.values()) h.release();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
