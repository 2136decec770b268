/**
 * CIDR lists and address membership, for `--allow-recursion`. Parsing a list happens once; the
 * per-query check reads the address string char by char into a reused scratch array, so it
 * allocates nothing. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, as a dual-stack socket reports
 * IPv4 clients) are matched against the IPv4 ranges.
 */

/** loopback and private ranges: who may recurse unless `--allow-recursion` says otherwise */
export const DEFAULT_ALLOW_RECURSION: readonly string[] = [
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '::1/128',
  'fc00::/7',
];

const scratch = new Uint32Array(4);

/** dotted quad -> unsigned 32-bit number; -1 if not exactly one */
function parseV4(s: string, start: number, end: number): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // no leading zeros (octal ambiguity)
      octet = octet < 0 ? c - 48 : octet * 10 + c - 48;
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || octet < 0) return -1;
  return value * 256 + octet;
}

/** group `n` (0..7, 16 bits each) of the four words in `out` */
function setGroup(out: Uint32Array, n: number, v: number): void {
  const w = n >> 1;
  out[w] = (n & 1) === 0 ? (out[w]! & 0xffff) | (v << 16) : (out[w]! & 0xffff0000) | v;
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * IPv6 text (with `::`, an embedded dotted quad, an ignored `%zone`) into `out` as four 32-bit
 * words; false if it is not one.
 */
function parseV6(s: string, out: Uint32Array): boolean {
  let end = s.length;
  const zone = s.indexOf('%');
  if (zone !== -1) end = zone;
  // groups are collected as 16-bit values in the words: up to 8 groups
  let groups = 0;
  let gap = -1;
  let i = 0;
  out[0] = out[1] = out[2] = out[3] = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (end >= 1 && s.charCodeAt(0) === 58) return false;
  while (i < end) {
    // one group, or a trailing dotted quad
    let v = 0;
    let n = 0;
    let j = i;
    for (; j < end; j++) {
      const d = hex(s.charCodeAt(j));
      if (d < 0) break;
      v = v * 16 + d;
      n++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      if (groups > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 < 0) return false;
      setGroup(out, groups++, v4 >>> 16);
      setGroup(out, groups++, v4 & 0xffff);
      i = end;
      break;
    }
    if (n === 0 || n > 4 || groups === 8) return false;
    setGroup(out, groups++, v);
    if (j === end) {
      i = end;
      break;
    }
    if (s.charCodeAt(j) !== 58) return false;
    if (j + 1 < end && s.charCodeAt(j + 1) === 58) {
      if (gap !== -1) return false;
      gap = groups;
      i = j + 2;
    } else {
      if (j + 1 === end) return false; // trailing single colon
      i = j + 1;
    }
  }
  if (gap === -1) return groups === 8;
  if (groups > 7) return false;
  // move the groups after the gap to the end
  const tail = groups - gap;
  for (let k = tail - 1; k >= 0; k--) {
    const from = gap + k;
    const w = from >> 1;
    const v = (from & 1) === 0 ? out[w]! >>> 16 : out[w]! & 0xffff;
    setGroup(out, from, 0);
    setGroup(out, 8 - tail + k, v);
  }
  return true;
}

function maskBits(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** A parsed CIDR list. `has` is the hot-path check. */
export class CidrSet {
  /** pairs: network, mask */
  private readonly v4: Uint32Array;
  /** eight words per entry: network[4], mask[4] */
  private readonly v6: Uint32Array;
  readonly size: number;

  private constructor(v4: number[], v6: number[]) {
    this.v4 = Uint32Array.from(v4);
    this.v6 = Uint32Array.from(v6);
    this.size = v4.length / 2 + v6.length / 8;
  }

  /** Parses `10.0.0.0/8`, `::1/128`, a bare address (= /32 or /128). Throws on the first bad entry. */
  static parse(list: readonly string[]): CidrSet {
    const v4: number[] = [];
    const v6: number[] = [];
    for (const raw of list) {
      const problem = cidrProblem(raw);
      if (problem) throw new Error(problem);
      const text = raw.trim();
      const slash = text.indexOf('/');
      const addr = slash === -1 ? text : text.slice(0, slash);
      const a4 = parseV4(addr, 0, addr.length);
      if (a4 >= 0) {
        const bits = slash === -1 ? 32 : Number(text.slice(slash + 1));
        const mask = maskBits(bits);
        v4.push((a4 & mask) >>> 0, mask);
        continue;
      }
      const words = new Uint32Array(4);
      parseV6(addr, words);
      const bits = slash === -1 ? 128 : Number(text.slice(slash + 1));
      if (isMapped(words) && bits >= 96) {
        // ::ffff:10.0.0.0/104 is 10.0.0.0/8
        const mask = maskBits(bits - 96);
        v4.push((words[3]! & mask) >>> 0, mask);
        continue;
      }
      const masks = [0, 1, 2, 3].map((w) => maskBits(bits - w * 32));
      v6.push(...[0, 1, 2, 3].map((w) => (words[w]! & masks[w]!) >>> 0), ...masks);
    }
    return new CidrSet(v4, v6);
  }

  /** whether `address` (as a socket reports it) is inside one of the ranges; false if it is no IP */
  has(address: string): boolean {
    if (address.indexOf(':') === -1) {
      const a = parseV4(address, 0, address.length);
      return a >= 0 && this.hasV4(a);
    }
    if (!parseV6(address, scratch)) return false;
    if (isMapped(scratch)) return this.hasV4(scratch[3]!);
    const t = this.v6;
    for (let i = 0; i < t.length; i += 8) {
      if (
        ((scratch[0]! & t[i + 4]!) >>> 0) === t[i]! &&
        ((scratch[1]! & t[i + 5]!) >>> 0) === t[i + 1]! &&
        ((scratch[2]! & t[i + 6]!) >>> 0) === t[i + 2]! &&
        ((scratch[3]! & t[i + 7]!) >>> 0) === t[i + 3]!
      ) {
        return true;
      }
    }
    return false;
  }

  private hasV4(a: number): boolean {
    const t = this.v4;
    for (let i = 0; i < t.length; i += 2) if (((a & t[i + 1]!) >>> 0) === t[i]!) return true;
    return false;
  }
}

function isMapped(w: Uint32Array): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/** what is wrong with one CIDR text, or undefined if it is fine */
export function cidrProblem(raw: string): string | undefined {
  const text = raw.trim();
  const bad = `${JSON.stringify(raw)} is not a CIDR such as 10.0.0.0/8 or fc00::/7`;
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? undefined : text.slice(slash + 1);
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return bad;
  const bits = bitsText === undefined ? undefined : Number(bitsText);
  if (addr.indexOf(':') === -1) {
    if (parseV4(addr, 0, addr.length) < 0) return bad;
    if (bits !== undefined && bits > 32) return bad;
    return undefined;
  }
  if (addr.includes('%') || !parseV6(addr, new Uint32Array(4))) return bad;
  if (bits !== undefined && bits > 128) return bad;
  return undefined;
}
