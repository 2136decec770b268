/**
 * Keep-alive connections to one upstream address, each with its own response parser. An
 * exchange borrows a connection for one request/response and gives it back (or has it
 * destroyed when it cannot be reused). No timers per request: idle connections are aged by
 * `sweep`, called from the front door's periodic timer.
 */
import { connect, type Socket } from 'node:net';
import type { DirectWriter } from './direct-write.js';
import { parseResponseHead } from './fastpath.js';
import { clientResponseLines } from '../headers.js';
import { UpstreamError } from '../failures.js';
import { headerValue } from '../responses.js';
import { HeadAction, Http1Parser, type MessageHead, type ParseError, type ParserEvents } from './http1.js';

export interface PoolOptions {
  connectTimeoutMs: number;
  /** how long an idle connection is kept for reuse */
  keepAliveTimeoutMs: number;
  /** max connections (busy + idle); 0 = unlimited */
  connections: number;
  /** largest upstream response head */
  maxHeaderSize: number;
  /**
   * Scratch space every upstream read lands in (net's `onread`): no Buffer per read. Whatever
   * outlives the read callback must be copied out of it.
   */
  readBuffer: Buffer;
  /** writes to the upstream sockets */
  writer: DirectWriter;
}

/** A response head as its user needs it, from either parser. */
export interface ResponseHead {
  status: number;
  reason: string;
  /** the upstream keeps the connection open after this response */
  keepAlive: boolean;
  /** header lines for the client (`name: value\r\n`), hop-by-hop ones removed; '' for a 1xx */
  lines: string;
  /** the body is framed by Content-Length */
  hasLength: boolean;
}

/** What borrows a connection: receives the response and hears about failures. */
export interface ConnUser {
  /** the request was HEAD: the response has no body whatever its headers say */
  readonly skipBody: boolean;
  /** the connection is this user's now (it may still be connecting) */
  attached(conn: UpstreamConn): void;
  /** the connection it was given while connecting is now established */
  connected(): void;
  /** true: the response has no body whatever its headers say */
  onHead(head: ResponseHead): boolean;
  /** body bytes `chunk[from, to)`; `chunk` is reused after the call: copy what you keep */
  onBody(chunk: Buffer, from: number, to: number): void;
  onMessageEnd(): void;
  /**
   * The connection failed before the response ended (the error's kind: `connect`, it never
   * connected and nothing was sent; `reset`, it broke or closed; `other`, a malformed response).
   */
  failed(err: UpstreamError): void;
  /** around each batch of upstream bytes, so a whole batch leaves for the client in one write */
  cork(): void;
  uncork(): void;
}

/** One TCP connection to the upstream. */
export class UpstreamConn implements ParserEvents {
  readonly socket: Socket;
  readonly pool: UpstreamPool;
  private readonly parser: Http1Parser;
  user: ConnUser | undefined;
  connected = false;
  /** idle since (ms, Date.now) while in the pool */
  idleSince = 0;
  /** taken from the idle list: the upstream may have closed it as it was reused */
  reused = false;
  /** bytes of a response arrived for the current user */
  answered = false;
  /** the upstream sent more than the response it owed: never reuse */
  poisoned = false;
  /** inside a read: a release waits until the whole read is parsed (see release) */
  private parsing = false;
  /** a release asked for during a read: whether the connection may be reused */
  private pendingRelease: boolean | undefined;
  private dead = false;
  /** body bytes of a fast-path response still to come */
  private fastRemaining = 0;
  private readonly maxHeaderSize: number;
  private readonly writer: DirectWriter;

  constructor(pool: UpstreamPool, host: string, port: number, options: PoolOptions) {
    this.pool = pool;
    this.maxHeaderSize = options.maxHeaderSize;
    this.writer = options.writer;
    this.parser = new Http1Parser('response', this, options.maxHeaderSize);
    const socket = connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: options.readBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.data(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket = socket;
    socket.setTimeout(options.connectTimeoutMs);
    socket.once('connect', () => {
      this.connected = true;
      socket.setTimeout(0);
      this.user?.connected();
    });
    socket.on('timeout', () => this.fail(new UpstreamError('connect', 'ETIMEDOUT', `connect to ${pool.id} timed out after ${options.connectTimeoutMs} ms`)));
    socket.on('end', () => this.end());
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(socketError(err, this.connected, pool.id)));
    socket.on('close', () => this.fail(new UpstreamError(this.connected ? 'reset' : 'connect', 'ECONNRESET', `connection to ${pool.id} closed`)));
  }

  onHead(head: MessageHead): HeadAction {
    const user = this.user;
    if (user === undefined) return HeadAction.Continue;
    const final = head.status >= 200;
    const skip = user.onHead({
      status: head.status,
      reason: head.statusMessage,
      keepAlive: head.keepAlive,
      lines: final ? clientResponseLines(head.headers) : '',
      hasLength: final && headerValue(head.headers, 'content-length') !== undefined,
    });
    return skip ? HeadAction.SkipBody : HeadAction.Continue;
  }

  onBody(chunk: Buffer): void {
    this.user?.onBody(chunk, 0, chunk.length);
  }

  onMessageBegin(): void {
    // a second response in the same read, or bytes after one: nothing asked for them
    if (this.user === undefined || this.pendingRelease !== undefined) this.poisoned = true;
  }

  onMessageEnd(): void {
    this.user?.onMessageEnd();
  }

  /**
   * The user is done with the connection. Inside a read the decision waits for the rest of the
   * read: bytes after the response poison the connection, and no waiter may be handed a
   * connection whose read buffer still holds someone else's bytes.
   */
  release(reusable: boolean): void {
    if (this.parsing) {
      this.user = undefined;
      this.pendingRelease = reusable;
      return;
    }
    this.pool.release(this, reusable);
  }

  write(data: string | Buffer): boolean {
    return this.writer.write(this.socket, data);
  }

  private data(buf: Buffer, length: number): void {
    const chunk = length === buf.length ? buf : buf.subarray(0, length);
    const user = this.user;
    if (user === undefined) {
      // bytes from an idle connection: nothing asked for them, so it cannot be trusted again
      this.destroy();
      return;
    }
    this.answered = true;
    user.cork();
    this.parsing = true;
    let failure: UpstreamError | undefined;
    if (this.fastRemaining > 0) this.fastBody(user, chunk, 0);
    else if (!this.parser.atMessageStart || user.skipBody || !this.fast(user, chunk)) {
      const r = this.parser.execute(chunk);
      if (r.kind === 'error') failure = parseError(r.error, this.pool.id);
      else if (r.kind !== 'done') failure = new UpstreamError('other', 'UPSTREAM_UPGRADE', `upstream ${this.pool.id} switched protocols on a plain request`);
    }
    this.parsing = false;
    user.uncork();
    const release = this.pendingRelease;
    if (release !== undefined) {
      // the response ended in this read; whatever followed it decides reuse
      this.pendingRelease = undefined;
      this.pool.release(this, release && failure === undefined && !this.poisoned);
      return;
    }
    if (failure !== undefined) this.fail(failure);
  }

  /** A whole response head in one read, framed by Content-Length: no llhttp round trip. */
  private fast(user: ConnUser, chunk: Buffer): boolean {
    const f = parseResponseHead(chunk, 0, this.maxHeaderSize);
    if (f === undefined) return false;
    user.onHead({ status: f.status, reason: f.reason, keepAlive: f.keepAlive, lines: f.forward, hasLength: true });
    if (this.user !== user) return true;
    this.fastRemaining = f.contentLength;
    this.fastBody(user, chunk, f.end);
    return true;
  }

  private fastBody(user: ConnUser, chunk: Buffer, from: number): void {
    const available = chunk.length - from;
    const take = Math.min(this.fastRemaining, available);
    if (take > 0) {
      this.fastRemaining -= take;
      user.onBody(chunk, from, from + take);
    }
    if (this.fastRemaining > 0 || this.user !== user) return;
    // bytes beyond the response: nothing asked for them
    if (available > take) this.poisoned = true;
    user.onMessageEnd();
  }

  private end(): void {
    // A close-delimited body ends here; anything else in progress is cut.
    if (this.user !== undefined) {
      const err = this.parser.finish();
      if (err !== undefined) this.fail(parseError(err, this.pool.id, 'reset'));
    }
    this.destroy();
  }

  private fail(err: UpstreamError): void {
    const user = this.user;
    this.user = undefined;
    this.destroy();
    if (user === undefined) return;
    // The keep-alive race: the upstream closed an idle connection just as it was reused, so
    // the request most likely never reached it. Told apart, it is replayed on a new connection.
    if (this.reused && !this.answered && err.kind === 'reset') {
      user.failed(new UpstreamError('reset', 'UPSTREAM_STALE_CONNECTION', `upstream ${this.pool.id} closed a reused connection before answering`, err));
      return;
    }
    user.failed(err);
  }

  /** Gone for good: out of the pool, socket and parser released. */
  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.forget(this);
    this.socket.destroy();
    this.parser.close();
  }

  get isDead(): boolean {
    return this.dead;
  }
}

interface Waiter {
  user: ConnUser;
}

export class UpstreamPool {
  readonly id: string;
  private readonly host: string;
  private readonly port: number;
  private readonly options: PoolOptions;
  /** most recently used last: reuse the warmest connection */
  private readonly idle: UpstreamConn[] = [];
  private readonly all = new Set<UpstreamConn>();
  private readonly waiters: Waiter[] = [];
  private closing = false;

  constructor(id: string, host: string, port: number, options: PoolOptions) {
    this.id = id;
    this.host = host;
    this.port = port;
    this.options = options;
  }

  /** Gives `user` a connection now, or as soon as one is free (at the connection limit). */
  acquire(user: ConnUser, fresh = false): void {
    const conn = fresh ? undefined : this.idle.pop();
    if (conn !== undefined) {
      conn.reused = true;
      conn.user = user;
      user.attached(conn);
      return;
    }
    const max = this.options.connections;
    if (max > 0 && this.all.size >= max) {
      this.waiters.push({ user });
      return;
    }
    this.open(user);
  }

  /** A user that no longer wants the connection it waits for. */
  cancel(user: ConnUser): void {
    const i = this.waiters.findIndex((w) => w.user === user);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  /** The response is over: the connection goes back for reuse, or is destroyed. */
  release(conn: UpstreamConn, reusable: boolean): void {
    conn.user = undefined;
    conn.answered = false;
    if (!reusable || this.closing || conn.isDead || conn.poisoned) {
      conn.destroy();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      conn.user = waiter.user;
      conn.reused = true;
      waiter.user.attached(conn);
      return;
    }
    conn.idleSince = Date.now();
    this.idle.push(conn);
  }

  /** Called by a connection as it dies. */
  forget(conn: UpstreamConn): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // a slot opened up for someone waiting
    const waiter = this.closing ? undefined : this.waiters.shift();
    if (waiter !== undefined) queueMicrotask(() => this.acquire(waiter.user));
  }

  /** Closes idle connections past the keep-alive time. */
  sweep(now: number): void {
    const limit = now - this.options.keepAliveTimeoutMs;
    while (this.idle.length > 0 && this.idle[0]!.idleSince <= limit) this.idle[0]!.destroy();
  }

  get size(): number {
    return this.all.size;
  }

  /** No new connections; idle ones close now, busy ones when their response ends. */
  close(): void {
    this.closing = true;
    for (const conn of [...this.idle]) conn.destroy();
    for (const w of this.waiters.splice(0)) w.user.failed(new UpstreamError('connect', 'UPSTREAM_REMOVED', `upstream ${this.id} removed`));
  }

  /** Cuts everything still open. */
  destroy(): void {
    this.close();
    for (const conn of [...this.all]) conn.destroy();
  }

  private open(user: ConnUser): void {
    const conn = new UpstreamConn(this, this.host, this.port, this.options);
    this.all.add(conn);
    conn.user = user;
    user.attached(conn);
  }
}

function parseError(err: ParseError, id: string, kind: 'reset' | 'other' = 'other'): UpstreamError {
  return new UpstreamError(kind, 'UPSTREAM_BAD_RESPONSE', `bad response from upstream ${id}: ${err.reason ?? err.code}`, err);
}

function socketError(err: NodeJS.ErrnoException, connected: boolean, id: string): UpstreamError {
  const code = err.code === 'ECONNREFUSED' || err.code === 'ETIMEDOUT' ? err.code : 'ECONNRESET';
  return new UpstreamError(connected ? 'reset' : 'connect', code, `upstream ${id}: ${err.message}`, err);
}
