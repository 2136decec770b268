/**
 * Responses the proxy makes itself (errors, refusals, 503s), and the small pieces of HTTP text
 * both engines share. Pure: strings in, strings out.
 */

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export interface LocalResponseOptions {
  /** `retry-after: 1` (a 503 the client may retry soon) */
  retryAfter?: boolean;
  /** `connection: close` after it */
  close?: boolean;
  /** `location: ...` (a redirect; the value is the proxy's own, never client text unchecked) */
  location?: string;
}

/** A complete short plain-text response, head and body. */
export function localResponse(status: number, body: string, options: LocalResponseOptions = {}): string {
  const extra = (options.location === undefined ? '' : `location: ${options.location}\r\n`) + (options.retryAfter ? 'retry-after: 1\r\n' : '') + (options.close ? 'connection: close\r\n' : '');
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${extra}\r\n${body}`;
}

/** A bodiless response that ends the connection (protocol errors, timeouts). */
export function closingResponse(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}

/** The header's value (first occurrence) from a flat list, by lowercase name. */
export function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return headers[i + 1];
  }
  return undefined;
}

/** Statuses whose responses never carry a body (RFC 9110 6.4.1). */
export function bodilessStatus(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** A client-supplied value, safe to echo in a plain-text body. */
export function printable(text: string | undefined): string {
  if (text === undefined || text === '') return '';
  return text.length > 200 ? `${text.slice(0, 200)}...` : text.replace(/[^\x20-\x7e]/g, '?').replace(/"/g, "'");
}

/** A reason phrase is echoed only when it is plain text (no CR/LF can reach the client). */
export function sanitizeReason(reason: string): string {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(reason) ? reason : '';
}

/**
 * What a client-side error gets: its status (undefined: nothing, the connection is gone) and the
 * `beacon_proxy_client_errors_total` reason. llhttp's codes, and node:http's timeout and resets.
 */
export function clientErrorAnswer(code: string): { status: number | undefined; reason: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'header-too-large' };
    case 'HPE_INVALID_VERSION':
      return { status: 505, reason: 'bad-version' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'timeout' };
    case 'ECONNRESET':
    case 'EPIPE':
      return { status: undefined, reason: 'reset' };
    default:
      return { status: 400, reason: 'bad-request' };
  }
}
