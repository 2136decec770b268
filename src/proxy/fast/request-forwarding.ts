/**
 * The request side of an exchange: the body read from the client goes to the upstream
 * connection as it comes (re-framed when chunked), held back (bounded) while no connection takes
 * it yet, with backpressure both ways. The response side is ResponseGathering's; attempts,
 * failures and hedging are the Exchange's.
 */
import type { ForwardInfo, RequestFacts } from '../headers.js';
import type { Upstream } from '../upstreams.js';
import type { Traffic } from '../traffic.js';
import type { Exchange } from './exchange.js';
import type { UpstreamConn, UpstreamPool } from './pool.js';
import { ResponseGathering } from './response-gathering.js';

/** A request head as routing and its exchange need it, from either parser. */
export interface RequestStart {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  keepAlive: boolean;
  facts: RequestFacts;
  /** header lines for the upstream: hop-by-hop and X-Forwarded-* removed */
  lines: string;
  /** X-Forwarded-For as received ('' when none) */
  forwardedFor: string;
}

/** What an exchange needs of its client connection. */
export interface ExchangeClient {
  readonly address: string;
  readonly forward: ForwardInfo;
  /** the client is gone (closed, or closing after an error) */
  readonly gone: boolean;
  /** the connection stays open after this response */
  readonly keepAlive: boolean;
  /** the connection closes after the current response */
  closeAfterResponse(): void;
  write(data: string | Buffer): boolean;
  /** calls `fn` once when the client's socket drains */
  onceDrained(fn: () => void): void;
  pauseReading(reason: number): void;
  resumeReading(reason: number): void;
  sendError(status: number, body: string, retryAfter?: boolean, close?: boolean): void;
  destroy(): void;
  /** the exchange is over (response ended, failed, or the client left) */
  exchangeDone(ex: Exchange): void;
}

export type FastUpstream = Upstream<UpstreamPool>;

/** Why a client connection is not being read (several may hold at once). */
export const PAUSE_PENDING = 1;
export const PAUSE_QUEUE = 2;
export const PAUSE_UPSTREAM = 4;

/** Where an exchange is with its current attempt. */
export const Phase = {
  /** asked the instance's pool for a connection */
  Waiting: 0,
  /** has a connection that is still connecting: the body is held back */
  Connecting: 1,
  /** the request (head, then body as it comes) goes to the upstream */
  Forwarding: 2,
  /** the response head went to the client */
  Responding: 3,
  Done: 4,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** Request body bytes held while no upstream connection takes them yet. */
const MAX_QUEUED_BODY = 64 * 1024;

export abstract class RequestForwarding extends ResponseGathering {
  /** the request body is chunked: re-framed to the upstream as chunks */
  readonly chunked: boolean;
  readonly hasBody: boolean;
  protected phase: Phase = Phase.Waiting;
  protected conn: UpstreamConn | undefined;
  /** removes the listener waiting for the upstream to drain */
  private upstreamDrain: (() => void) | undefined;
  /** body chunks read from the client and not written upstream yet */
  protected queued: Buffer[] | undefined;
  protected queuedBytes = 0;
  /** the client's body has ended */
  protected requestEnded: boolean;
  protected bodyConsumed = false;
  /** the whole request went to the upstream */
  protected requestSent = false;
  /** when the request went upstream (ms, Traffic's clock), for the header timeout */
  protected sentAt = 0;

  constructor(client: ExchangeClient, traffic: Traffic<UpstreamPool>, chunked: boolean, hasBody: boolean) {
    super(client, traffic);
    this.chunked = chunked;
    this.hasBody = hasBody;
    this.requestEnded = !hasBody;
  }

  connected(): void {
    const conn = this.conn;
    if (this.phase !== Phase.Connecting || conn === undefined) return;
    this.phase = Phase.Forwarding;
    const queued = this.queued;
    conn.socket.cork();
    if (queued !== undefined) {
      this.queued = undefined;
      this.queuedBytes = 0;
      for (const chunk of queued) this.writeBody(conn, chunk);
    }
    if (this.chunked && this.requestEnded) conn.write('0\r\n\r\n');
    conn.socket.uncork();
    this.client.resumeReading(PAUSE_QUEUE);
    if (this.requestEnded) {
      this.requestSent = true;
      this.sentAt = this.traffic.now;
    }
  }

  private writeBody(conn: UpstreamConn, chunk: Buffer): boolean {
    this.bodyConsumed = true;
    if (!this.chunked) return conn.write(chunk);
    conn.write(`${chunk.length.toString(16)}\r\n`);
    conn.write(chunk);
    return conn.write('\r\n');
  }

  /** A piece of the client's request body. */
  requestBody(chunk: Buffer): void {
    if (this.phase === Phase.Done || chunk.length === 0) return;
    const conn = this.conn;
    if (conn === undefined || this.phase < Phase.Forwarding) {
      (this.queued ??= []).push(chunk);
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > MAX_QUEUED_BODY) this.client.pauseReading(PAUSE_QUEUE);
      return;
    }
    if (!this.writeBody(conn, chunk) && this.upstreamDrain === undefined) {
      // the upstream reads slower than the client sends: one listener until it drains
      this.client.pauseReading(PAUSE_UPSTREAM);
      const socket = conn.socket;
      const onDrain = (): void => {
        this.upstreamDrain = undefined;
        this.client.resumeReading(PAUSE_UPSTREAM);
      };
      this.upstreamDrain = () => socket.off('drain', onDrain);
      socket.once('drain', onDrain);
    }
  }

  /** Stops waiting for the upstream to drain (the exchange ended or moved on). */
  protected stopUpstreamDrain(): void {
    const off = this.upstreamDrain;
    if (off === undefined) return;
    this.upstreamDrain = undefined;
    off();
    this.client.resumeReading(PAUSE_UPSTREAM);
  }

  /** The client's request body is complete. */
  requestEnd(): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    const conn = this.conn;
    if (this.phase === Phase.Done || conn === undefined || this.phase < Phase.Forwarding) return;
    if (this.chunked) conn.write('0\r\n\r\n');
    this.requestSent = true;
    this.sentAt = this.traffic.now;
  }

}
