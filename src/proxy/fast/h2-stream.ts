/**
 * HTTP/2 requests in the fast engine: each h2 stream is an ExchangeClient, so after its header
 * block is read it meets the same admission, Exchange (pools, retries, timeouts), Traffic and
 * accounting as an HTTP/1.1 request. The Exchange writes an HTTP/1.1 response as it would to a
 * socket; llhttp reads it back here and it leaves as h2 HEADERS and DATA frames.
 */
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { admit, isRefusal, noInstance, type Refusal } from '../admission.js';
import { affinityKey } from '../policies.js';
import { requestFacts, requestForward, type ForwardInfo } from '../headers.js';
import { bodilessStatus } from '../responses.js';
import { h2ResponseHeaders, http1Headers } from '../tls/h2-session.js';
import type { Traffic } from '../traffic.js';
import { Exchange, type ExchangeClient, type RequestStart } from './exchange.js';
import { HeadAction, Http1Parser, type MessageHead, type ParserEvents } from './http1.js';
import type { UpstreamPool } from './pool.js';

/** the response heads the engine writes are its own: generous */
const RESPONSE_HEAD_LIMIT = 128 * 1024;

/** The h2 streams of one fast engine, for the sweep and a stop. */
export class FastH2 {
  private readonly open = new Set<H2Client>();

  constructor(private readonly traffic: Traffic<UpstreamPool>) {}

  serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    const traffic = this.traffic;
    const startedAt = traffic.mark();
    traffic.tick();
    traffic.requests++;
    const address = stream.session?.socket?.remoteAddress ?? '';
    const method = String(headers[':method'] ?? '');
    const url = String(headers[':path'] ?? '');
    const raw = http1Headers(rawHeaders, !stream.endAfterHeaders);
    const facts = requestFacts(raw);
    const client = new H2Client(this, traffic, stream, method, address);
    if (method === 'CONNECT') return client.refuse({ status: 501, body: 'CONNECT is not supported\n' }, url, facts.host, startedAt);
    const routed = admit({ url, hosts: facts.hosts, host: facts.host, versionMinor: 1, proto: 'https' }, (h) => traffic.router.candidates(h));
    if (isRefusal(routed)) return client.refuse(routed, url, facts.host, startedAt);
    const forward = requestForward(raw, facts.connection);
    const req: RequestStart = { method, url, versionMajor: 1, versionMinor: 1, keepAlive: true, facts, lines: forward.lines, forwardedFor: forward.forwardedFor };
    const route = routed.route;
    const ex = new Exchange(client, traffic, req, routed, startedAt, affinityKey(route.balance, route.cookie, address, forward.lines));
    traffic.begin();
    client.active = ex;
    if (!ex.attempt()) {
      client.active = undefined;
      traffic.settle();
      ex.abandon();
      return client.refuse(noInstance(routed.service), url, facts.host, startedAt);
    }
    this.open.add(client);
    if (stream.endAfterHeaders) ex.requestEnd();
    else {
      stream.on('data', (chunk: Buffer) => ex.requestBody(chunk));
      stream.on('end', () => ex.requestEnd());
    }
  }

  forget(client: H2Client): void {
    this.open.delete(client);
  }

  checkTimeouts(now: number): void {
    for (const c of this.open) c.active?.checkTimeouts(now);
  }
}

class H2Client implements ExchangeClient, ParserEvents {
  readonly forward: ForwardInfo;
  readonly keepAlive = true;
  active: Exchange | undefined;
  private parser: Http1Parser | undefined;
  private paused = 0;
  private settled = false;

  constructor(
    private readonly owner: FastH2,
    private readonly traffic: Traffic<UpstreamPool>,
    private readonly stream: ServerHttp2Stream,
    private readonly method: string,
    readonly address: string,
  ) {
    this.forward = { clientAddress: address, proto: 'https' };
    stream.on('error', () => undefined);
    stream.once('close', () => {
      this.parser?.close();
      this.active?.clientClosed();
      this.owner.forget(this);
    });
  }

  get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  closeAfterResponse(): void {
    // an h2 stream ends with its response anyway; the session stays
  }

  /** The Exchange's HTTP/1.1 response bytes, read back into h2 frames. */
  write(data: string | Buffer): boolean {
    if (this.gone) return false;
    const parser = (this.parser ??= new Http1Parser('response', this, RESPONSE_HEAD_LIMIT));
    const result = parser.execute(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    if (result.kind === 'error') {
      this.traffic.log.warn({ err: result.error.message }, 'h2: unreadable response from the engine');
      this.destroy();
      return false;
    }
    return !this.stream.writableNeedDrain;
  }

  onHead(head: MessageHead): HeadAction {
    if (!this.gone && !this.stream.headersSent) this.stream.respond(h2ResponseHeaders(head.status, head.headers));
    return this.method === 'HEAD' || bodilessStatus(head.status) ? HeadAction.SkipBody : HeadAction.Continue;
  }

  onBody(chunk: Buffer): void {
    // the bytes handed to write() are the Exchange's own: no copy needed
    if (!this.gone) this.stream.write(chunk);
  }

  onMessageEnd(): void {
    if (!this.gone) this.stream.end();
  }

  onceDrained(fn: () => void): void {
    this.stream.once('drain', fn);
  }

  pauseReading(reason: number): void {
    this.paused |= reason;
    this.stream.pause();
  }

  resumeReading(reason: number): void {
    this.paused &= ~reason;
    if (this.paused === 0) this.stream.resume();
  }

  sendError(status: number, body: string, retryAfter = false): void {
    if (this.gone) return;
    if (this.stream.headersSent) {
      this.destroy();
      return;
    }
    this.stream.respond({
      ':status': status,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...(retryAfter ? { 'retry-after': '1' } : {}),
    });
    this.stream.end(body);
  }

  refuse(refusal: Refusal, url: string, host: string, startedAt: number): void {
    this.sendError(refusal.status, refusal.body, refusal.status === 503);
    const service = refusal.service === undefined ? '-' : this.traffic.label(refusal.service);
    this.traffic.record({ method: this.method, host, path: url, client: this.address, service, upstream: undefined, status: refusal.status, startedAt, tries: 0 });
  }

  destroy(): void {
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  exchangeDone(ex: Exchange): void {
    if (this.active !== ex || this.settled) return;
    this.settled = true;
    this.active = undefined;
    this.traffic.settle();
    this.owner.forget(this);
  }
}
