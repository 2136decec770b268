/**
 * Pure header rewriting for both directions. Works on flat raw arrays
 * (`[name, value, name, value, ...]`) so duplicates and order survive.
 */

/**
 * RFC 9110 7.6.1 connection-specific headers, plus the framing the proxy sets itself. The
 * underscore spellings of those with a hyphen go too, Content-Length's included: CGI-style
 * upstreams (PHP-FPM, WSGI/Rack gateways) map `Transfer_Encoding` and `Transfer-Encoding` to the
 * same variable, so passing one on would hand them framing the proxy never checked.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'keep_alive',
  'proxy-connection',
  'proxy_connection',
  'proxy-authenticate',
  'proxy_authenticate',
  'proxy-authorization',
  'proxy_authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'transfer_encoding',
  'content_length',
  'upgrade',
]);

/**
 * Set by the proxy; what the client sent is replaced (X-Forwarded-For is appended to instead).
 * The underscore spellings go too: CGI-style upstreams read `X_Forwarded_For` as the same
 * variable as `X-Forwarded-For` (nginx drops such names for the same reason).
 */
const OWN = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-for', 'x_forwarded_proto', 'x_forwarded_host', 'x_forwarded_for', 'expect']);

/**
 * Names a Connection header may not take away (RFC 9110 7.6.1 lets it list any): dropping the
 * framing or the Host of a message whose body still follows would let its bytes be read as a
 * message of their own by the next hop.
 */
const NOT_LISTABLE = new Set(['close', 'keep-alive', 'upgrade', 'content-length', 'transfer-encoding', 'host']);

/** Extra names listed in a Connection header (`Connection: close, x-foo`), lowercased. */
function connectionListed(value: string | undefined): Set<string> | undefined {
  if (!value || value.indexOf(',') === -1) {
    const v = value?.trim().toLowerCase();
    return v && !NOT_LISTABLE.has(v) ? new Set([v]) : undefined;
  }
  const names = new Set<string>();
  for (const part of value.split(',')) {
    const v = part.trim().toLowerCase();
    if (v && !NOT_LISTABLE.has(v)) names.add(v);
  }
  return names.size > 0 ? names : undefined;
}

/** What routing and framing need from a request's headers. */
export interface RequestFacts {
  /** the first Host value ('' when there is none) */
  readonly host: string;
  /** how many Host headers there were */
  readonly hosts: number;
  /** every Connection header, joined */
  readonly connection: string | undefined;
  readonly expectContinue: boolean;
  /** Transfer-Encoding is present (llhttp accepted it, so the body is chunked) */
  readonly chunked: boolean;
  /** a body follows: chunked, or a Content-Length other than 0 */
  readonly hasBody: boolean;
}

/** One pass over the request headers; names are lowercased only when their length could match. */
export function requestFacts(raw: readonly string[]): RequestFacts {
  let host = '';
  let hosts = 0;
  let connection: string | undefined;
  let expectContinue = false;
  let chunked = false;
  let contentLength: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host' && hosts++ === 0) host = value;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') expectContinue = /^\s*100-continue\s*$/i.test(value);
        break;
      case 10:
        if (name.toLowerCase() === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') contentLength ??= value;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') chunked = true;
        break;
    }
  }
  return { host, hosts, connection, expectContinue, chunked, hasBody: chunked || (contentLength !== undefined && !/^0+$/.test(contentLength)) };
}

export interface ForwardInfo {
  /** the client's address (appended to X-Forwarded-For) */
  readonly clientAddress: string;
  /** `http` or `https` */
  readonly proto: string;
}

/** What a request passes on: its header lines and the X-Forwarded-For chain it arrived with. */
export interface RequestForward {
  /** header lines (`name: value\r\n`): hop-by-hop, Connection-listed and X-Forwarded-* removed */
  readonly lines: string;
  /** X-Forwarded-For values received, joined with ", " ('' when none) */
  readonly forwardedFor: string;
}

/**
 * The request header lines for the upstream, from a parsed list. `connection` is the
 * client's Connection header. Host is kept; the X-Forwarded-* lines come from forwardedLines.
 */
export function requestForward(raw: readonly string[], connection: string | undefined): RequestForward {
  const listed = connectionListed(connection);
  let lines = '';
  let forwardedFor = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    if (OWN.has(lower)) {
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === '' ? raw[i + 1]! : `${forwardedFor}, ${raw[i + 1]!}`;
      continue;
    }
    lines += `${name}: ${raw[i + 1]!}\r\n`;
  }
  return { lines, forwardedFor };
}

/**
 * The X-Forwarded-* lines the proxy writes: For appended to (`prior` is what arrived), Proto
 * and Host set (Host only when the request had one).
 */
export function forwardedLines(prior: string, host: string | undefined, info: ForwardInfo): string {
  const chain = prior === '' ? info.clientAddress : `${prior}, ${info.clientAddress}`;
  return `x-forwarded-for: ${chain}\r\nx-forwarded-proto: ${info.proto}\r\n${host === undefined ? '' : `x-forwarded-host: ${host}\r\n`}`;
}

/** Every Connection header of a parsed list, joined (a message may carry several). */
function joinedConnection(raw: readonly string[]): string | undefined {
  let joined: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') joined = joined === undefined ? raw[i + 1]! : `${joined}, ${raw[i + 1]!}`;
  }
  return joined;
}

/** Response header lines for the client, from a parsed list: hop-by-hop and Connection-listed removed. */
export function clientResponseLines(raw: readonly string[]): string {
  const listed = connectionListed(joinedConnection(raw));
  let lines = '';
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    lines += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return lines;
}

/**
 * Headers for a WebSocket upgrade (http-proxy-3 copies req.headers, names lowercased): the
 * proxy's own ones replaced as on plain requests, X-Forwarded-For appended to.
 */
export function setForwardedOnObject(headers: Record<string, string | string[] | undefined>, info: ForwardInfo): void {
  const prior = headers['x-forwarded-for'];
  const chain = Array.isArray(prior) ? prior.join(', ') : prior;
  for (const name of OWN) delete headers[name];
  headers['x-forwarded-for'] = chain ? `${chain}, ${info.clientAddress}` : info.clientAddress;
  headers['x-forwarded-proto'] = info.proto;
  if (typeof headers.host === 'string') headers['x-forwarded-host'] = headers.host;
}

/**
 * The portable engine's form of requestForward + forwardedLines: the same selection as a flat
 * `[name, value, ...]` list (what undici takes), with the X-Forwarded-* headers appended.
 */
export function requestForwardList(raw: readonly string[], connection: string | undefined, host: string | undefined, info: ForwardInfo): string[] {
  const listed = connectionListed(connection);
  const out: string[] = [];
  let prior = '';
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    if (OWN.has(lower)) {
      if (lower === 'x-forwarded-for') prior = prior === '' ? raw[i + 1]! : `${prior}, ${raw[i + 1]!}`;
      continue;
    }
    out.push(raw[i]!, raw[i + 1]!);
  }
  out.push('x-forwarded-for', prior === '' ? info.clientAddress : `${prior}, ${info.clientAddress}`, 'x-forwarded-proto', info.proto);
  if (host !== undefined) out.push('x-forwarded-host', host);
  return out;
}

/** The portable engine's form of clientResponseLines: a flat list, from undici's raw headers. */
export function clientResponseList(raw: readonly (string | Buffer)[]): string[] {
  const text = raw.map(String);
  const listed = connectionListed(joinedConnection(text));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 2) {
    const lower = text[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (listed !== undefined && listed.has(lower))) continue;
    out.push(text[i]!, text[i + 1]!);
  }
  return out;
}
