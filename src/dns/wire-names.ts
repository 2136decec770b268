/**
 * Names on the wire: labels as presentation text, reading (possibly compressed) names, skipping
 * them, and presentation names back to labels for the encoder.
 */
import { WireError } from './wire-model.js';

export const MAX_NAME = 255;

// Buffer's own latin1 slicer: no intermediate Buffer view per label on the hot path.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** Bytes of a label as text: printable ASCII kept, `.`, `\` and the rest escaped as in zone files. */
export function labelText(buf: Uint8Array, start: number, end: number): string {
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

export function skipName(buf: Uint8Array, pos: number): number {
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
