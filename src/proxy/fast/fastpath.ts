/**
 * A strict fast path for the common HTTP/1.1 message shapes, in plain JavaScript. It accepts a
 * narrow subset of what llhttp accepts (one complete head in one buffer, plain token names,
 * printable values, at most one numeric Content-Length and one Connection, no
 * Transfer-Encoding, Upgrade, Expect or Proxy-Connection) and reads it exactly as llhttp
 * would; anything else returns undefined and the caller hands the bytes to llhttp untouched.
 * The header lines to pass on are the received text with hop-by-hop lines cut out, so names
 * and values cost no string each and no re-joining. test/proxy/fastpath.test.ts holds both
 * readings to llhttp's and to headers.ts's slow path, input by input. Crossing into Node's
 * parser binding costs more per request than this whole function, which is why it exists.
 */

export interface FastHead {
  /** HTTP/1.x minor version */
  minor: number;
  keepAlive: boolean;
  /** the Content-Length, or -1 when there is none */
  contentLength: number;
  /** offset of the first byte after the head */
  end: number;
  /**
   * The header lines to pass on, as received, each with its CRLF: hop-by-hop lines left out,
   * and in a request the X-Forwarded-* lines the proxy writes itself.
   */
  forward: string;
}

export interface FastRequest extends FastHead {
  method: string;
  url: string;
  /** the first Host value ('' when there is none) */
  host: string;
  /** how many Host lines there were */
  hosts: number;
  /** X-Forwarded-For values received, joined with ", " ('' when none) */
  forwardedFor: string;
}

export interface FastResponse extends FastHead {
  status: number;
  reason: string;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;
const HEAD_END = Buffer.from('\r\n\r\n');

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** RFC 9110 tchar */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** Request-target bytes taken here: printable ASCII without the characters llhttp treats specially. */
const URL_CHAR = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) URL_CHAR[c] = 1;
for (const c of '"<>\\^`{|}') URL_CHAR[c.charCodeAt(0)] = 0;

/** Header value bytes taken here: printable ASCII, space and tab (no obs-text, no controls). */
const VALUE_CHAR = new Uint8Array(256);
for (let c = 0x20; c <= 0x7e; c++) VALUE_CHAR[c] = 1;
VALUE_CHAR[HTAB] = 1;

const enum Special {
  /** passed on */
  None,
  ContentLength,
  Connection,
  Host,
  ForwardedFor,
  /** hop-by-hop (or set by the proxy): not passed on */
  Drop,
  /** outside the subset: llhttp reads the head */
  Refuse,
}

/** `buf[at, at + name.length)` (token bytes) equals the lowercase `name`, ignoring ASCII case. */
function named(buf: Buffer, at: number, name: string): boolean {
  for (let k = 0; k < name.length; k++) {
    const b = buf[at + k]!;
    const c = name.charCodeAt(k);
    if (b !== c && (b | 0x20) !== c) return false;
  }
  return true;
}

/**
 * What a header name means here, read from the bytes (no string per name). `request` adds the
 * names only a request treats specially. Refused: framing and protocol switches, which llhttp
 * decides (it reads Proxy-Connection as Connection). Dropped: RFC 9110 7.6.1 hop-by-hop
 * fields and the forwarded fields the proxy writes, and the underscore spellings of the framing
 * and hop-by-hop names (CGI-style upstreams read them as the real ones), as headers.ts drops
 * them on the slow path.
 */
function special(buf: Buffer, at: number, length: number, request: boolean): Special {
  switch (length) {
    case 2:
      return named(buf, at, 'te') ? Special.Drop : Special.None;
    case 4:
      return request && named(buf, at, 'host') ? Special.Host : Special.None;
    case 6:
      return named(buf, at, 'expect') ? Special.Refuse : Special.None;
    case 7:
      return named(buf, at, 'upgrade') ? Special.Refuse : named(buf, at, 'trailer') ? Special.Drop : Special.None;
    case 10:
      return named(buf, at, 'connection') ? Special.Connection : named(buf, at, 'keep-alive') || named(buf, at, 'keep_alive') ? Special.Drop : Special.None;
    case 14:
      return named(buf, at, 'content-length') ? Special.ContentLength : named(buf, at, 'content_length') ? Special.Drop : Special.None;
    case 15:
      if (!request) return Special.None;
      return named(buf, at, 'x-forwarded-for') ? Special.ForwardedFor : named(buf, at, 'x_forwarded_for') ? Special.Drop : Special.None;
    case 16:
      if (named(buf, at, 'proxy-connection')) return Special.Refuse;
      if (named(buf, at, 'proxy_connection')) return Special.Drop;
      return request && (named(buf, at, 'x-forwarded-host') || named(buf, at, 'x_forwarded_host')) ? Special.Drop : Special.None;
    case 17:
      if (named(buf, at, 'transfer-encoding')) return Special.Refuse;
      if (named(buf, at, 'transfer_encoding')) return Special.Drop;
      return request && (named(buf, at, 'x-forwarded-proto') || named(buf, at, 'x_forwarded_proto')) ? Special.Drop : Special.None;
    case 18:
      return named(buf, at, 'proxy-authenticate') || named(buf, at, 'proxy_authenticate') ? Special.Drop : Special.None;
    case 19:
      return named(buf, at, 'proxy-authorization') || named(buf, at, 'proxy_authorization') ? Special.Drop : Special.None;
    default:
      return Special.None;
  }
}

/** Where the head's closing CRLF CRLF starts, searching no further than `max` bytes; else -1. */
function headEnd(buf: Buffer, start: number, max: number): number {
  const end = buf.length - start > max + 4 ? buf.subarray(start, start + max + 4).indexOf(HEAD_END) + start : buf.indexOf(HEAD_END, start);
  return end < start || end + 4 - start > max ? -1 : end;
}

/** `HTTP/1.0` or `HTTP/1.1` at `i`: the minor version, or -1. */
function version(buf: Buffer, i: number): number {
  if (buf[i] !== 72 || buf[i + 1] !== 84 || buf[i + 2] !== 84 || buf[i + 3] !== 80 || buf[i + 4] !== 47 || buf[i + 5] !== 49 || buf[i + 6] !== 46) return -1;
  const minor = buf[i + 7]! - 48;
  return minor === 0 || minor === 1 ? minor : -1;
}

/**
 * Header lines from `i` (just after the start line's CRLF) to `end` (where the head's final
 * CRLF CRLF starts); `text` is the head decoded from `base` through the last line's CRLF. False when any line is outside the
 * subset. A request's Host and X-Forwarded-For values are read into `req`.
 */
function headerFields(buf: Buffer, text: string, base: number, i: number, end: number, out: FastHead, req: FastRequest | undefined): boolean {
  let contentLength = -1;
  let close = false;
  let keepAlive = false;
  let forward = '';
  /** start of the run of lines passed on so far */
  let from = i;
  const stop = end + 2;
  while (i < stop) {
    const lineStart = i;
    while (TCHAR[buf[i]!] === 1) i++;
    if (i === lineStart || buf[i] !== COLON) return false;
    const kind = special(buf, lineStart, i - lineStart, req !== undefined);
    if (kind === Special.Refuse) return false;
    i++;
    while (buf[i] === SP || buf[i] === HTAB) i++;
    const valueStart = i;
    while (VALUE_CHAR[buf[i]!] === 1) i++;
    if (buf[i] !== CR || buf[i + 1] !== LF) return false;
    // trailing whitespace: llhttp's trimming rules are left to llhttp
    if (i > valueStart && (buf[i - 1] === SP || buf[i - 1] === HTAB)) return false;
    const valueEnd = i;
    i += 2;
    if (kind === Special.None) continue;
    const value = text.slice(valueStart - base, valueEnd - base);
    switch (kind) {
      case Special.ContentLength: {
        if (contentLength !== -1 || value.length === 0 || value.length > 15) return false;
        let n = 0;
        for (let k = 0; k < value.length; k++) {
          const d = value.charCodeAt(k) - 48;
          if (d < 0 || d > 9) return false;
          n = n * 10 + d;
        }
        contentLength = n;
        continue;
      }
      case Special.Host:
        if (req!.hosts++ === 0) req!.host = value;
        continue;
      case Special.Connection: {
        if (close || keepAlive) return false;
        const v = value.toLowerCase();
        if (v === 'close') close = true;
        else if (v === 'keep-alive') keepAlive = true;
        else return false;
        break;
      }
      case Special.ForwardedFor:
        req!.forwardedFor = req!.forwardedFor === '' ? value : `${req!.forwardedFor}, ${value}`;
        break;
    }
    // not passed on: the lines before it are
    if (lineStart > from) forward += text.slice(from - base, lineStart - base);
    from = i;
  }
  out.forward = forward + text.slice(from - base, stop - base);
  out.contentLength = contentLength;
  out.keepAlive = !close && (out.minor === 1 || keepAlive);
  return true;
}

/** A request head at `start`, complete in `buf`, within `maxHeaderSize` bytes; else undefined. */
export function parseRequestHead(buf: Buffer, start: number, maxHeaderSize: number): FastRequest | undefined {
  const end = headEnd(buf, start, maxHeaderSize);
  if (end === -1) return undefined;
  let i = start;
  while (i < end && buf[i]! >= 65 && buf[i]! <= 90) i++;
  if (buf[i] !== SP) return undefined;
  // one decode of the whole head; names and values are slices of it
  const text = buf.toString('latin1', start, end + 2);
  const method = text.slice(0, i - start);
  if (!METHODS.has(method)) return undefined;
  const urlStart = ++i;
  // origin-form only: absolute-form and `*` keep llhttp's reading
  if (buf[i] !== 47 /* / */) return undefined;
  while (URL_CHAR[buf[i]!] === 1) i++;
  if (buf[i] !== SP) return undefined;
  const url = text.slice(urlStart - start, i - start);
  const minor = version(buf, i + 1);
  if (minor === -1 || buf[i + 9] !== CR || buf[i + 10] !== LF) return undefined;
  const head: FastRequest = { method, url, minor, keepAlive: false, contentLength: -1, end: end + 4, forward: '', host: '', hosts: 0, forwardedFor: '' };
  return headerFields(buf, text, start, i + 11, end, head, head) ? head : undefined;
}

/**
 * A response head at `start`: status 200-599 except 204 and 304 (no bodiless or interim
 * shapes), with a Content-Length (close-delimited and chunked bodies go to llhttp).
 */
export function parseResponseHead(buf: Buffer, start: number, maxHeaderSize: number): FastResponse | undefined {
  const end = headEnd(buf, start, maxHeaderSize);
  if (end === -1) return undefined;
  const minor = version(buf, start);
  let i = start + 8;
  if (minor === -1 || buf[i] !== SP) return undefined;
  const d0 = buf[i + 1]! - 48;
  const d1 = buf[i + 2]! - 48;
  const d2 = buf[i + 3]! - 48;
  if (d0 < 2 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || buf[i + 4] !== SP) return undefined;
  const status = d0 * 100 + d1 * 10 + d2;
  if (status === 204 || status === 304) return undefined;
  i += 5;
  const reasonStart = i;
  while (VALUE_CHAR[buf[i]!] === 1) i++;
  if (buf[i] !== CR || buf[i + 1] !== LF) return undefined;
  const text = buf.toString('latin1', start, end + 2);
  const reason = text.slice(reasonStart - start, i - start);
  const head: FastResponse = { status, reason, minor, keepAlive: false, contentLength: -1, end: end + 4, forward: '' };
  if (!headerFields(buf, text, start, i + 2, end, head, undefined) || head.contentLength === -1) return undefined;
  return head;
}
