/**
 * Decoding: the allocation-light query parser of the hot path, and whole messages (forwarder
 * replies, tests), refusing forward or looping compression pointers on hostile input.
 */
import { ipv6Text } from './wire-addresses.js';
import { RCODE, TYPE, typeName, WireError, type Edns, type Query, type RData, type RR } from './wire-model.js';
import { MAX_NAME, labelText, readName, skipName } from './wire-names.js';

export type QueryParse =
  | { readonly ok: true; readonly query: Query }
  /** answer `rcode` with the header (and question, when questionEnd > 12) echoed */
  | { readonly ok: false; readonly drop: false; readonly rcode: number; readonly id: number; readonly opcode: number; readonly rd: boolean; readonly questionEnd: number; readonly reason: string }
  /** not worth an answer (too short, or a response) */
  | { readonly ok: false; readonly drop: true; readonly reason: string };

/**
 * Parses a query. Allocates the name string and the result object only; the caller answers
 * from these fields and echoes bytes 12..questionEnd as the question.
 */
export function parseQuery(msg: Uint8Array): QueryParse {
  if (msg.length < 12) return { ok: false, drop: true, reason: 'shorter than a DNS header' };
  const id = (msg[0]! << 8) | msg[1]!;
  const flags1 = msg[2]!;
  if (flags1 & 0x80) return { ok: false, drop: true, reason: 'a response, not a query' };
  const opcode = (flags1 >> 3) & 0x0f;
  const rd = (flags1 & 0x01) !== 0;
  const qdcount = (msg[4]! << 8) | msg[5]!;
  const fail = (rcode: number, reason: string, questionEnd = 12): QueryParse => ({ ok: false, drop: false, rcode, id, opcode, rd, questionEnd, reason });
  if (opcode !== 0) return fail(RCODE.NOTIMP, `opcode ${opcode} not implemented`);
  if (qdcount !== 1) return fail(RCODE.FORMERR, `${qdcount} questions`);
  let name: string;
  let pos = 12;
  try {
    // Questions are never compressed in practice; a pointer here would point nowhere useful.
    let length = 0;
    name = '';
    for (;;) {
      if (pos >= msg.length) throw new WireError('question name runs past the message');
      const len = msg[pos]!;
      if (len === 0) {
        pos++;
        break;
      }
      if (len & 0xc0) throw new WireError('compressed or extended label in the question');
      if (pos + 1 + len > msg.length) throw new WireError('label runs past the message');
      length += len + 1;
      if (length > MAX_NAME) throw new WireError('name longer than 255 octets');
      name += labelText(msg, pos + 1, pos + 1 + len) + '.';
      pos += len + 1;
    }
    if (name === '') name = '.';
  } catch (err) {
    return fail(RCODE.FORMERR, (err as Error).message);
  }
  if (pos + 4 > msg.length) return fail(RCODE.FORMERR, 'question without type and class');
  const type = (msg[pos]! << 8) | msg[pos + 1]!;
  const qclass = (msg[pos + 2]! << 8) | msg[pos + 3]!;
  pos += 4;
  const questionEnd = pos;
  const ancount = (msg[6]! << 8) | msg[7]!;
  const nscount = (msg[8]! << 8) | msg[9]!;
  const arcount = (msg[10]! << 8) | msg[11]!;
  let edns: Edns | undefined;
  if (arcount > 0) {
    try {
      for (let i = 0; i < ancount + nscount; i++) pos = skipRR(msg, pos);
      for (let i = 0; i < arcount; i++) {
        const rr = pos;
        pos = skipName(msg, pos);
        if (pos + 10 > msg.length) throw new WireError('record header runs past the message');
        const rtype = (msg[pos]! << 8) | msg[pos + 1]!;
        if (rtype === TYPE.OPT) {
          if (edns || msg[rr] !== 0) return fail(RCODE.FORMERR, 'bad OPT record', questionEnd);
          const size = (msg[pos + 2]! << 8) | msg[pos + 3]!;
          const version = msg[pos + 5]!;
          const dnssecOk = (msg[pos + 6]! & 0x80) !== 0;
          edns = { size: Math.max(512, size), version, dnssecOk };
        }
        const rdlength = (msg[pos + 8]! << 8) | msg[pos + 9]!;
        pos += 10 + rdlength;
        if (pos > msg.length) throw new WireError('record data runs past the message');
      }
    } catch (err) {
      return fail(RCODE.FORMERR, (err as Error).message, questionEnd);
    }
  }
  const cd = (msg[3]! & 0x10) !== 0;
  return { ok: true, query: { id, opcode, rd, cd, name, type, class: qclass, questionEnd, ...(edns ? { edns } : {}) } };
}

function skipRR(buf: Uint8Array, pos: number): number {
  pos = skipName(buf, pos);
  if (pos + 10 > buf.length) throw new WireError('record header runs past the message');
  const rdlength = (buf[pos + 8]! << 8) | buf[pos + 9]!;
  pos += 10 + rdlength;
  if (pos > buf.length) throw new WireError('record data runs past the message');
  return pos;
}

export interface Message {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  /** including the EDNS extended bits */
  readonly rcode: number;
  readonly questions: readonly { name: string; type: number; class: number }[];
  readonly answer: readonly RR[];
  readonly authority: readonly RR[];
  /** without the OPT record, which is reported as `edns` */
  readonly additional: readonly RR[];
  readonly edns?: Edns;
}

function readRData(buf: Uint8Array, type: number, start: number, end: number): RData {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const expectEnd = (pos: number): void => {
    if (pos !== end) throw new WireError(`${typeName(type)} record data has the wrong length`);
  };
  switch (type) {
    case TYPE.A:
      expectEnd(start + 4);
      return { kind: 'a', address: `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}` };
    case TYPE.AAAA:
      expectEnd(start + 16);
      return { kind: 'aaaa', address: ipv6Text(buf, start) };
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR: {
      const n = readName(buf, start);
      expectEnd(n.end);
      return { kind: 'name', target: n.name };
    }
    case TYPE.MX: {
      if (start + 2 > end) throw new WireError('short MX');
      const n = readName(buf, start + 2);
      expectEnd(n.end);
      return { kind: 'mx', preference: dv.getUint16(start), exchange: n.name };
    }
    case TYPE.SRV: {
      if (start + 6 > end) throw new WireError('short SRV');
      const n = readName(buf, start + 6);
      expectEnd(n.end);
      return { kind: 'srv', priority: dv.getUint16(start), weight: dv.getUint16(start + 2), port: dv.getUint16(start + 4), target: n.name };
    }
    case TYPE.TXT: {
      const texts: string[] = [];
      let pos = start;
      while (pos < end) {
        const len = buf[pos]!;
        if (pos + 1 + len > end) throw new WireError('TXT string runs past its record');
        texts.push(Buffer.from(buf.buffer, buf.byteOffset + pos + 1, len).toString('utf8'));
        pos += 1 + len;
      }
      return { kind: 'txt', texts };
    }
    case TYPE.SOA: {
      const m = readName(buf, start);
      const r = readName(buf, m.end);
      expectEnd(r.end + 20);
      const p = r.end;
      return { kind: 'soa', mname: m.name, rname: r.name, serial: dv.getUint32(p), refresh: dv.getUint32(p + 4), retry: dv.getUint32(p + 8), expire: dv.getUint32(p + 12), minimum: dv.getUint32(p + 16) };
    }
    default:
      return { kind: 'raw', bytes: Uint8Array.from(buf.subarray(start, end)) };
  }
}

/** Decodes a whole message; throws on anything malformed. */
export function decodeMessage(buf: Uint8Array): Message {
  if (buf.length < 12) throw new WireError('shorter than a DNS header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const flags = dv.getUint16(2);
  const counts = [dv.getUint16(4), dv.getUint16(6), dv.getUint16(8), dv.getUint16(10)] as const;
  let pos = 12;
  const questions: { name: string; type: number; class: number }[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const n = readName(buf, pos);
    if (n.end + 4 > buf.length) throw new WireError('question runs past the message');
    questions.push({ name: n.name, type: dv.getUint16(n.end), class: dv.getUint16(n.end + 2) });
    pos = n.end + 4;
  }
  const sections: RR[][] = [[], [], []];
  let edns: Edns | undefined;
  let extRcode = 0;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const n = readName(buf, pos);
      pos = n.end;
      if (pos + 10 > buf.length) throw new WireError('record header runs past the message');
      const type = dv.getUint16(pos);
      const rclass = dv.getUint16(pos + 2);
      const ttl = dv.getUint32(pos + 4);
      const rdlength = dv.getUint16(pos + 8);
      const start = pos + 10;
      const end = start + rdlength;
      if (end > buf.length) throw new WireError('record data runs past the message');
      if (type === TYPE.OPT && s === 2) {
        extRcode = ttl >>> 24;
        edns = { size: rclass, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0 };
      } else {
        sections[s]!.push({ name: n.name, type, class: rclass, ttl, data: readRData(buf, type, start, end) });
      }
      pos = end;
    }
  }
  return {
    id: dv.getUint16(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0x0f,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: (extRcode << 4) | (flags & 0x0f),
    questions,
    answer: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
    ...(edns ? { edns } : {}),
  };
}
