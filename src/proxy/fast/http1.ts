/**
 * HTTP/1.1 parsing with Node's own llhttp (the parser node:http uses, with the same strict
 * defaults: no lenient flags, so request smuggling shapes are refused exactly as node:http
 * refuses them), driven directly instead of through IncomingMessage/ServerResponse streams.
 * The proxy's front door and upstream connections are the only users; bench/RESULTS.md has
 * the measurements that moved the hot path here.
 */
import { createRequire } from 'node:module';

/** Node's binding, reached through `_http_common` (no deprecation warning, unlike process.binding). */
interface NativeParser {
  initialize(kind: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParseError;
  finish(): undefined | ParseError;
  resume(): void;
  close(): void;
  free(): void;
  [key: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed: number;
}

interface NativeParserClass {
  new (): NativeParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

function loadBinding(): { HTTPParser: NativeParserClass; methods: readonly string[] } {
  const common = createRequire(import.meta.url)('_http_common') as { HTTPParser?: NativeParserClass; methods?: readonly string[] };
  const P = common.HTTPParser;
  if (typeof P !== 'function' || typeof P.kOnHeadersComplete !== 'number' || !Array.isArray(common.methods)) {
    throw new Error(`this Node.js (${process.version}) does not expose the llhttp parser beacon proxy uses; run Node 24 (package.json pins it)`);
  }
  return { HTTPParser: P, methods: common.methods };
}

const { HTTPParser, methods: METHODS } = loadBinding();

/** llhttp's HPE_PAUSED: returned from on_headers_complete, it stops execute() right after the head. */
const PAUSE = 21;

/** What the parser does after a head: go on, treat the message as bodiless, or stop right here. */
export const HeadAction = {
  Continue: 0,
  /** the message has no body (a response to HEAD) */
  SkipBody: 1,
  /** stop after this head; execute() returns `{ kind: 'head', rest }` */
  Stop: 2,
} as const;
export type HeadAction = (typeof HeadAction)[keyof typeof HeadAction];

export interface MessageHead {
  versionMajor: number;
  versionMinor: number;
  /** flat `[name, value, ...]` as received */
  headers: string[];
  /** request method (requests only) */
  method: string;
  /** request target (requests only) */
  url: string;
  /** response status (responses only) */
  status: number;
  statusMessage: string;
  upgrade: boolean;
  keepAlive: boolean;
}

export interface ParserEvents {
  /** the first byte of a message arrived (optional) */
  onMessageBegin?(): void;
  /** The head is complete (an Upgrade head always stops the parser). */
  onHead(head: MessageHead): HeadAction;
  onBody(chunk: Buffer): void;
  onMessageEnd(): void;
}

export type ExecResult =
  /** every byte was consumed */
  | { kind: 'done' }
  /** a head was parsed and parsing stopped right after it; `rest` is what is left of the input */
  | { kind: 'head'; rest: Buffer }
  /** an Upgrade (or CONNECT) head: the parser is finished; `rest` belongs to the next protocol */
  | { kind: 'upgrade'; rest: Buffer }
  | { kind: 'error'; error: ParseError };

const DONE: ExecResult = { kind: 'done' };

/**
 * One llhttp parser for one connection. The caller's onHead decides, per message, whether
 * parsing stops right after the head (a pipelined request waiting for the current response, an
 * Upgrade) or goes on into the body.
 */
export class Http1Parser {
  private readonly native: NativeParser;
  private readonly kind: 'request' | 'response';
  private readonly events: ParserEvents;
  private readonly maxHeaderSize: number;
  private headers: string[] = [];
  private url = '';
  private closed = false;
  /** close() was called from a callback inside execute(): done when execute returns */
  private closeLater = false;
  private executing = false;
  private upgradeHead = false;
  /** llhttp has taken in bytes of a message it has not finished */
  private inMessage = false;

  constructor(kind: 'request' | 'response', events: ParserEvents, maxHeaderSize: number) {
    this.kind = kind;
    this.events = events;
    this.maxHeaderSize = maxHeaderSize;
    const native = new HTTPParser();
    this.native = native;
    this.reset();
    native[HTTPParser.kOnMessageBegin] = (): void => {
      this.inMessage = true;
      this.events.onMessageBegin?.();
    };
    // Fragmented or very large heads (and trailers) arrive in pieces before the head callback.
    native[HTTPParser.kOnHeaders] = (headers: string[], url: string): void => {
      this.headers = this.headers.length === 0 ? headers : this.headers.concat(headers);
      this.url += url;
    };
    native[HTTPParser.kOnHeadersComplete] = (versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number | undefined, url: string | undefined, status: number | undefined, statusMessage: string | undefined, upgrade: boolean, keepAlive: boolean): number => {
      const head: MessageHead = {
        versionMajor,
        versionMinor,
        headers: headers ?? this.headers,
        method: method === undefined ? '' : (METHODS[method] ?? ''),
        url: url || this.url,
        status: status ?? 0,
        statusMessage: statusMessage ?? '',
        upgrade,
        keepAlive,
      };
      this.headers = [];
      this.url = '';
      const action = this.events.onHead(head);
      if (upgrade) {
        // llhttp stops right after an Upgrade head (execute returns a count, not an error)
        this.upgradeHead = true;
        return PAUSE;
      }
      return action === HeadAction.Stop ? PAUSE : action;
    };
    native[HTTPParser.kOnBody] = (chunk: Buffer): void => this.events.onBody(chunk);
    native[HTTPParser.kOnMessageComplete] = (): void => {
      this.inMessage = false;
      // trailers (kOnHeaders after the body) are not passed on
      this.headers = [];
      this.url = '';
      this.events.onMessageEnd();
    };
  }

  /** Back to the start of a message (a fresh connection, or after a hand-parsed body). */
  reset(): void {
    if (this.closed || this.closeLater) return;
    this.native.initialize(this.kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, this.maxHeaderSize, HTTPParser.kLenientNone);
    this.inMessage = false;
    this.headers = [];
    this.url = '';
  }

  execute(data: Buffer): ExecResult {
    if (this.closed || this.closeLater) return DONE;
    this.upgradeHead = false;
    // The binding reports a pause as an Error; without a stack it costs nothing to make (a
    // captured stack was a third of the proxy's CPU per request).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    let r: number | ParseError;
    this.executing = true;
    try {
      r = this.native.execute(data);
    } finally {
      Error.stackTraceLimit = limit;
      this.executing = false;
    }
    if (this.closeLater) {
      this.close();
      return DONE;
    }
    if (typeof r === 'number') {
      if (this.upgradeHead) return { kind: 'upgrade', rest: data.subarray(r) };
      if (r === data.length) return DONE;
      return { kind: 'error', error: Object.assign(new Error('parser stopped early'), { code: 'HPE_STOPPED', bytesParsed: r }) };
    }
    if (r.code === 'HPE_PAUSED') {
      this.native.resume();
      return { kind: 'head', rest: data.subarray(r.bytesParsed) };
    }
    return { kind: 'error', error: r };
  }

  /** llhttp holds no bytes of an unfinished message: the next byte starts a new one. */
  get atMessageStart(): boolean {
    return !this.inMessage;
  }

  /** End of input: completes a close-delimited response body; an error for a cut message. */
  finish(): ParseError | undefined {
    if (this.closed || this.closeLater) return undefined;
    this.executing = true;
    let err: ParseError | undefined;
    try {
      err = this.native.finish();
    } finally {
      this.executing = false;
    }
    if (this.closeLater) this.close();
    return err;
  }

  close(): void {
    if (this.closed) return;
    if (this.executing) {
      // freeing llhttp under its own callback would pull the state out from under it
      this.closeLater = true;
      return;
    }
    this.closed = true;
    this.native.close();
  }
}
