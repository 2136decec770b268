/**
 * The DNS record model: type, class and rcode numbers and their names, the shapes of records
 * and of a parsed query, the error the wire code throws, and record data as zone-file text.
 */
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

export class WireError extends Error {}

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
