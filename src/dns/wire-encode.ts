/**
 * Encoding: responses (name compression, truncation at a byte budget with the OPT record kept)
 * and queries, written through one scratch buffer.
 */
import { ipv4Bytes, ipv6Bytes } from './wire-addresses.js';
import { CLASS, TYPE, WireError, type RR } from './wire-model.js';
import { labelText, nameLabels } from './wire-names.js';

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
