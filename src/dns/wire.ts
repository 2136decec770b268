/**
 * The DNS wire format (RFC 1035, EDNS0 from RFC 6891): parse queries, encode responses with name
 * compression and truncation, and decode whole messages (forwarder replies, tests).
 *
 * Written here rather than taken from dns2 because the hot path needs a query parser that
 * allocates almost nothing, responses that truncate at a byte budget while keeping the OPT record,
 * and a decoder that refuses forward or looping compression pointers on hostile input.
 */
import { isIP } from 'node:net';

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const CLASS = { IN: 1, CH: 3, ANY: 255 } as const;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** extended (EDNS): upper bits go in the OPT record */
  BADVERS: 16,
} as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([k, v]) => [v, k]));

export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

export type RData =
  | { readonly kind: 'a'; readonly address: string }
  | { readonly kind: 'aaaa'; readonly address: string }
  /** CNAME, NS, PTR */
  | { readonly kind: 'name'; readonly target: string }
  | { readonly kind: 'mx'; readonly preference: number; readonly exchange: string }
  | { readonly kind: 'srv'; readonly priority: number; readonly weight: number; readonly port: number; readonly target: string }
  | { readonly kind: 'txt'; readonly texts: readonly string[] }
  | {
      readonly kind: 'soa';
      readonly mname: string;
      readonly rname: string;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    }
  | { readonly kind: 'raw'; readonly bytes: Uint8Array };

/** One resource record; `name` is a presentation name with the trailing dot. */
export interface RR {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  ttl: number;
  readonly data: RData;
}

export interface Edns {
  /** the requester's UDP payload size (at least 512) */
  readonly size: number;
  readonly version: number;
  readonly dnssecOk: boolean;
}

/** A parsed query: header fields, the one question, EDNS. */
export interface Query {
  readonly id: number;
  readonly opcode: number;
  readonly rd: boolean;
  readonly cd: boolean;
  /** presentation form, case as sent, with the trailing dot */
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** end offset of the question in the message: bytes 12..questionEnd are echoed */
  readonly questionEnd: number;
  readonly edns?: Edns;
}

export type QueryParse =
  | { readonly ok: true; readonly query: Query }
  /** answer `rcode` with the header (and question, when questionEnd > 12) echoed */
  | { readonly ok: false; readonly drop: false; readonly rcode: number; readonly id: number; readonly opcode: number; readonly rd: boolean; readonly questionEnd: number; readonly reason: string }
  /** not worth an answer (too short, or a response) */
  | { readonly ok: false; readonly drop: true; readonly reason: string };

const MAX_NAME = 255;

class WireError extends Error {}

// Buffer's own latin1 slicer: no intermediate Buffer view per label on the hot path.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** Bytes of a label as text: printable ASCII kept, `.`, `\` and the rest escaped as in zone files. */
function labelText(buf: Uint8Array, start: number, end: number): string {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return latin1Slice.call(buf, start, end);
  let out = '';
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x2e || c === 0x5c) out += `\\${String.fromCharCode(c)}`;
    else if (c <= 0x20 || c >= 0x7f) out += `\\${String(c).padStart(3, '0')}`;
    else out += String.fromCharCode(c);
  }
  return out;
}

/**
 * Reads a possibly compressed name at `offset`. Pointers must point strictly backwards and
 * the name may not exceed 255 octets, which together bound the work on hostile input.
 */
export function readName(buf: Uint8Array, offset: number): { name: string; end: number } {
  let pos = offset;
  let end = -1;
  let length = 0;
  let name = '';
  let limit = offset; // a pointer must land before the smallest position read so far
  for (;;) {
    if (pos >= buf.length) throw new WireError('name runs past the message');
    const len = buf[pos]!;
    if (len === 0) {
      if (end === -1) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= limit) throw new WireError('compression pointer does not point backwards');
      if (end === -1) end = pos + 2;
      pos = target;
      limit = target;
      continue;
    }
    if (kind !== 0) throw new WireError('unsupported label type');
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the message');
    length += len + 1;
    if (length > MAX_NAME) throw new WireError('name longer than 255 octets');
    name += labelText(buf, pos + 1, pos + 1 + len) + '.';
    pos += len + 1;
  }
  return { name: name === '' ? '.' : name, end };
}

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

function skipName(buf: Uint8Array, pos: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (pos >= buf.length) throw new WireError('name runs past the message');
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2;
    if (len & 0xc0) throw new WireError('unsupported label type');
    pos += len + 1;
  }
  throw new WireError('too many labels');
}

function skipRR(buf: Uint8Array, pos: number): number {
  pos = skipName(buf, pos);
  if (pos + 10 > buf.length) throw new WireError('record header runs past the message');
  const rdlength = (buf[pos + 8]! << 8) | buf[pos + 9]!;
  pos += 10 + rdlength;
  if (pos > buf.length) throw new WireError('record data runs past the message');
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** `a.b.` -> labels as bytes; understands `\.` and `\DDD` escapes. Throws on invalid names. */
export function nameLabels(name: string): Uint8Array[] {
  if (name === '.' || name === '') return [];
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  let total = 1;
  const end = name.endsWith('.') && !name.endsWith('\\.') ? name.length - 1 : name.length;
  for (let i = 0; i < end; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x2e) {
      if (current.length === 0) throw new WireError(`empty label in ${JSON.stringify(name)}`);
      labels.push(Uint8Array.from(current));
      total += current.length + 1;
      current = [];
      continue;
    }
    if (ch === 0x5c && i + 1 < end) {
      const d = /^\d{3}/.exec(name.slice(i + 1, i + 4));
      if (d) {
        current.push(Number(d[0]) & 0xff);
        i += 3;
      } else {
        current.push(name.charCodeAt(i + 1) & 0xff);
        i += 1;
      }
    } else current.push(ch & 0xff);
    if (current.length > 63) throw new WireError(`label longer than 63 octets in ${JSON.stringify(name.slice(0, 80))}`);
  }
  if (current.length === 0) throw new WireError(`empty label in ${JSON.stringify(name)}`);
  labels.push(Uint8Array.from(current));
  total += current.length + 1;
  if (total > MAX_NAME) throw new WireError('name longer than 255 octets');
  return labels;
}

/** Whether `name` can be written on the wire. */
export function isEncodableName(name: string): boolean {
  try {
    nameLabels(name);
    return true;
  } catch {
    return false;
  }
}

function ipv4Bytes(address: string): number[] {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new WireError(`bad IPv4 ${address}`);
  return parts;
}

export function ipv6Bytes(address: string): number[] {
  if (isIP(address) !== 6) throw new WireError(`bad IPv6 ${address}`);
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = ipv4Bytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...restGroups];
  const out: number[] = [];
  for (const g of groups) {
    const v = parseInt(g, 16);
    out.push(v >> 8, v & 0xff);
  }
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}

export function ipv6Text(bytes: Uint8Array, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[offset + i]! << 8) | bytes[offset + i + 1]!).toString(16));
  // RFC 5952: compress the longest run (>= 2) of zero groups
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

/**
 * One response being written into a scratch buffer. `mark()`/`rewind()` let a record that does
 * not fit be taken back out, compression entries included.
 */
class Writer {
  pos = 0;
  private names = new Map<string, number>();
  private added: string[] = [];

  constructor(readonly buf: Buffer) {}

  u8(v: number): void {
    this.buf[this.pos++] = v & 0xff;
  }

  u16(v: number): void {
    this.buf[this.pos++] = (v >> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  bytes(b: Uint8Array, start = 0, end = b.length): void {
    this.buf.set(b.subarray(start, end), this.pos);
    this.pos += end - start;
  }

  /** Registers the suffixes of a name already in the buffer (the echoed question) for compression. */
  seedName(offset: number): void {
    const labels: [number, string][] = [];
    let pos = offset;
    for (let guard = 0; guard < 128; guard++) {
      const len = this.buf[pos]!;
      if (len === 0 || len & 0xc0) break;
      labels.push([pos, labelText(this.buf, pos + 1, pos + 1 + len)]);
      pos += len + 1;
    }
    let suffix = '';
    for (let i = labels.length - 1; i >= 0; i--) {
      suffix = `${labels[i]![1]}.${suffix}`;
      if (labels[i]![0] < 0x4000 && !this.names.has(suffix)) this.names.set(suffix, labels[i]![0]);
    }
  }

  /** Writes a name, compressing against earlier ones (same case only, so owners keep the query's). */
  name(name: string, compress = true): void {
    const labels = nameLabels(name);
    const texts = labels.map((l) => labelText(l, 0, l.length));
    for (let i = 0; i < labels.length; i++) {
      const suffix = `${texts.slice(i).join('.')}.`;
      if (compress) {
        const at = this.names.get(suffix);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
        if (this.pos < 0x4000) {
          this.names.set(suffix, this.pos);
          this.added.push(suffix);
        }
      }
      const label = labels[i]!;
      this.u8(label.length);
      this.bytes(label);
    }
    this.u8(0);
  }

  mark(): { pos: number; added: number } {
    return { pos: this.pos, added: this.added.length };
  }

  rewind(m: { pos: number; added: number }): void {
    this.pos = m.pos;
    while (this.added.length > m.added) this.names.delete(this.added.pop()!);
  }
}

/** Room for the largest message plus the longest single record, so a record never overruns. */
const SCRATCH = Buffer.alloc(65535 + 70000);

function writeRR(w: Writer, rr: RR): void {
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lengthAt = w.pos;
  w.u16(0);
  const d = rr.data;
  switch (d.kind) {
    case 'a':
      for (const b of ipv4Bytes(d.address)) w.u8(b);
      break;
    case 'aaaa':
      for (const b of ipv6Bytes(d.address)) w.u8(b);
      break;
    case 'name':
      w.name(d.target);
      break;
    case 'mx':
      w.u16(d.preference);
      w.name(d.exchange);
      break;
    case 'srv':
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782: the SRV target is not compressed
      w.name(d.target, false);
      break;
    case 'txt': {
      const encoded = d.texts.map((t) => Buffer.from(t, 'utf8'));
      // each 255-octet piece costs one length octet; the whole must fit RDLENGTH
      const size = encoded.reduce((n, b) => n + b.length + Math.max(1, Math.ceil(b.length / 255)), 0);
      if (size > 0xffff) throw new WireError('TXT record longer than 65535 octets');
      for (const bytes of encoded) {
        if (bytes.length === 0) w.u8(0);
        for (let i = 0; i < bytes.length; i += 255) {
          const chunk = bytes.subarray(i, Math.min(bytes.length, i + 255));
          w.u8(chunk.length);
          w.bytes(chunk);
        }
      }
      break;
    }
    case 'soa':
      w.name(d.mname);
      w.name(d.rname);
      w.u32(d.serial);
      w.u32(d.refresh);
      w.u32(d.retry);
      w.u32(d.expire);
      w.u32(d.minimum);
      break;
    case 'raw':
      w.bytes(d.bytes);
      break;
  }
  const rdlength = w.pos - lengthAt - 2;
  if (rdlength > 0xffff) throw new WireError('record data longer than 65535 octets');
  w.buf[lengthAt] = rdlength >> 8;
  w.buf[lengthAt + 1] = rdlength & 0xff;
}

export interface ResponseSpec {
  readonly id: number;
  readonly opcode?: number;
  readonly rcode: number;
  readonly aa?: boolean;
  readonly rd?: boolean;
  readonly ra?: boolean;
  readonly cd?: boolean;
  /** the query's question section, echoed byte for byte (case preserved) */
  readonly question?: Uint8Array;
  readonly answer?: readonly RR[];
  readonly authority?: readonly RR[];
  readonly additional?: readonly RR[];
  /** include an OPT record (the query had one) */
  readonly edns?: { readonly size: number; readonly dnssecOk: boolean };
  /** the byte budget: 512 or the EDNS size for UDP, 65535 for TCP */
  readonly maxSize: number;
}

/**
 * Encodes a response. Answer and authority records that do not fit set TC and stop there;
 * additional records that do not fit are left out without TC (RFC 2181 9). The OPT record
 * always fits: its 11 octets are reserved first.
 */
export function encodeResponse(spec: ResponseSpec): Buffer {
  const w = new Writer(SCRATCH);
  const rcode = spec.rcode & 0x0f;
  const extRcode = spec.rcode >> 4;
  w.u16(spec.id);
  const flagsAt = w.pos;
  w.u16(0);
  const hasQuestion = spec.question !== undefined && spec.question.length > 0;
  w.u16(hasQuestion ? 1 : 0);
  const countsAt = w.pos;
  w.u16(0);
  w.u16(0);
  w.u16(0);
  if (hasQuestion) {
    w.bytes(spec.question!);
    w.seedName(12);
  }
  const optSize = spec.edns ? 11 : 0;
  const budget = Math.min(65535, Math.max(512, spec.maxSize)) - optSize;
  let tc = false;
  const counts = [0, 0, 0];
  const sections = [spec.answer ?? [], spec.authority ?? [], spec.additional ?? []];
  outer: for (let s = 0; s < 3; s++) {
    for (const rr of sections[s]!) {
      const m = w.mark();
      try {
        writeRR(w, rr);
      } catch (err) {
        // A record that cannot be written (a bad name in the store) is left out, not fatal.
        w.rewind(m);
        if (err instanceof WireError) continue;
        throw err;
      }
      if (w.pos > budget) {
        w.rewind(m);
        if (s < 2) tc = true;
        break outer;
      }
      counts[s]!++;
    }
  }
  let arcount = counts[2]!;
  if (spec.edns) {
    w.u8(0);
    w.u16(TYPE.OPT);
    w.u16(Math.min(65535, Math.max(512, spec.edns.size)));
    w.u8(extRcode);
    w.u8(0);
    w.u16(spec.edns.dnssecOk ? 0x8000 : 0);
    w.u16(0);
    arcount++;
  }
  const flags =
    0x8000 |
    (((spec.opcode ?? 0) & 0x0f) << 11) |
    (spec.aa ? 0x0400 : 0) |
    (tc ? 0x0200 : 0) |
    (spec.rd ? 0x0100 : 0) |
    (spec.ra ? 0x0080 : 0) |
    (spec.cd ? 0x0010 : 0) |
    rcode;
  w.buf[flagsAt] = flags >> 8;
  w.buf[flagsAt + 1] = flags & 0xff;
  w.buf.writeUInt16BE(counts[0]!, countsAt);
  w.buf.writeUInt16BE(counts[1]!, countsAt + 2);
  w.buf.writeUInt16BE(arcount, countsAt + 4);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** Builds a query (for forwarder look-ups and tests). */
export function encodeQuery(id: number, name: string, type: number, options: { rd?: boolean; ednsSize?: number; qclass?: number } = {}): Buffer {
  const w = new Writer(Buffer.alloc(600));
  w.u16(id);
  w.u16(options.rd === false ? 0 : 0x0100);
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(options.ednsSize ? 1 : 0);
  w.name(name, false);
  w.u16(type);
  w.u16(options.qclass ?? CLASS.IN);
  if (options.ednsSize) {
    w.u8(0);
    w.u16(TYPE.OPT);
    w.u16(options.ednsSize);
    w.u32(0);
    w.u16(0);
  }
  return Buffer.from(w.buf.subarray(0, w.pos));
}

// ---------------------------------------------------------------------------------------------
// Decoding whole messages

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

/** A record's data as text, zone-file style (for tests, logs and de-duplication). */
export function rdataText(rr: RR): string {
  const d = rr.data;
  switch (d.kind) {
    case 'a':
    case 'aaaa':
      return d.address;
    case 'name':
      return d.target;
    case 'mx':
      return `${d.preference} ${d.exchange}`;
    case 'srv':
      return `${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case 'txt':
      return d.texts.map((t) => JSON.stringify(t)).join(' ');
    case 'soa':
      return `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case 'raw':
      return Buffer.from(d.bytes).toString('hex');
  }
}

export { WireError };
