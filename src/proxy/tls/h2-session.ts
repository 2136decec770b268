/**
 * HTTP/2 on the TLS listener (ALPN h2), shared by both engines: node:http2 sessions over the
 * decrypted socket, and an h2 request's header block as the HTTP/1.1 header list the rest of the
 * proxy reads (pseudo-headers out, `:authority` as Host, a body without a length marked chunked).
 */
import { createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';

/** the h2 SETTINGS the proxy announces */
export const H2_SETTINGS = { maxConcurrentStreams: 256, initialWindowSize: 1 << 20 } as const;

/**
 * A node:http2 server that never listens: TLS connections whose ALPN chose h2 are handed to it.
 * `onStream` gets every request stream (core API); the caller may instead use the compat
 * 'request' event on the returned server.
 */
export function h2Server(maxHeaderSize: number, onStream?: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => void): Http2Server {
  const server = createServer({ settings: H2_SETTINGS, maxSessionMemory: 64, maxHeaderListPairs: 512, maxSendHeaderBlockLength: 64 * 1024, ...{ maxHeaderSize } } as never);
  if (onStream) server.on('stream', (stream, headers, _flags, rawHeaders) => onStream(stream, headers, rawHeaders as unknown as string[]));
  server.on('sessionError', () => undefined);
  return server;
}

/** Serves an h2 connection: the session reads the TLS socket from here on. */
export function acceptH2(server: Http2Server, socket: TLSSocket): void {
  server.emit('connection', socket);
}

/**
 * The request's header list in HTTP/1.1 form. `hasBody`: the client did not end the stream with
 * its headers; without a content-length such a body is marked chunked, so the proxy forwards it.
 */
export function http1Headers(raw: readonly string[], hasBody: boolean): string[] {
  const out: string[] = [];
  let authority: string | undefined;
  let host = false;
  let length = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':authority') authority = raw[i + 1];
      continue;
    }
    if (name === 'host') host = true;
    else if (name === 'content-length') length = true;
    out.push(name, raw[i + 1]!);
  }
  if (!host && authority !== undefined) out.unshift('host', authority);
  if (hasBody && !length) out.push('transfer-encoding', 'chunked');
  return out;
}

/** Response header names HTTP/2 forbids (RFC 9113 8.2.2), dropped from an HTTP/1.1 response. */
export const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

/** An HTTP/1.1 response head (flat list) as an h2 header object. */
export function h2ResponseHeaders(status: number, raw: readonly string[]): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = { ':status': status };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (H2_FORBIDDEN.has(name)) continue;
    const value = raw[i + 1]!;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else out[name] = Array.isArray(had) ? [...had, value] : [String(had), value];
  }
  return out;
}

/** An engine's h2 sessions: accepted from the TLS listener, closed gracefully on stop. */
export class H2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Set<import('node:http2').ServerHttp2Session>();

  /** `idleTimeoutMs`: a session without a frame this long is closed (GOAWAY), as --idle-timeout closes HTTP/1.1 */
  constructor(maxHeaderSize: number, idleTimeoutMs: number, onStream?: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => void) {
    this.server = h2Server(maxHeaderSize, onStream);
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.setTimeout(idleTimeoutMs, () => session.close());
      session.once('close', () => this.sessions.delete(session));
    });
  }

  accept(socket: TLSSocket): void {
    acceptH2(this.server, socket);
  }

  /** GOAWAY: streams in progress finish, no new ones start. */
  close(): void {
    for (const s of this.sessions) if (!s.closed) s.close();
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
  }
}
