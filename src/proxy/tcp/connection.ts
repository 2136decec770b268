/**
 * One client connection of a TCP listener: pick an instance, connect (trying the next one on
 * refusal or timeout before the client sees anything), then pass raw bytes both ways: a side
 * that cannot take more pauses the other until it drains (bounded memory), an end from one side
 * is passed on as a half-close, an error on either side resets both.
 */
import { connect, type Socket } from 'node:net';
import { reportFailure, reportSuccess, type EjectionPolicy } from '../balancer.js';
import type { Logger } from '../../log.js';
import { pickTcp } from './balance.js';
import type { ConnectDeadlines } from './deadlines.js';
import { countClosed, countConnected, type ConnectFailure, type Rejection, type TcpMetrics, type UpstreamCounts } from './metrics.js';
import type { Closable, ServicePeers, TcpPeer } from './peers.js';
import { encodeProxyHeader, type ProxyProtocolVersion } from './proxy-protocol.js';
import type { TcpListenerSpec } from './spec.js';

export interface TcpOptions {
  connectTimeoutMs: number;
  /** 0 = none */
  idleTimeoutMs: number;
  /** per listener; 0 = unlimited */
  maxConnections: number;
  /** how long connections to a removed instance stay; 0 = keep them */
  drainTimeoutMs: number;
  /** instances tried per connection */
  maxTries: number;
  proxyProtocol: ProxyProtocolVersion | 'off';
  policy: EjectionPolicy;
}

/** What a connection needs from its listener. */
export interface ConnectionHost {
  readonly spec: TcpListenerSpec;
  readonly options: TcpOptions;
  readonly metrics: TcpMetrics;
  readonly log: Logger;
  readonly accessLog: Logger | undefined;
  readonly buffers: ReadBuffers;
  /** the listener's connect timeouts (items: upstream sockets while they connect) */
  readonly deadlines: ConnectDeadlines<Socket>;
  peers(): ServicePeers | undefined;
  /** the metric counts of this listener and `peer` (looked up once per peer, not per connection) */
  countsFor(peer: TcpPeer): UpstreamCounts;
  finished(conn: TcpConnection): void;
}

export type CloseReason = 'closed' | 'error' | 'idle-timeout' | 'drained' | 'shutdown' | Rejection;

/** The socket a forwarded socket writes to (set on both sides once connected). */
const PARTNER = Symbol('partner');
type Forwarded = Socket & { [PARTNER]: Socket };

// Shared handlers (`this` is the socket): no closures per connection on the hot path. What
// stream.pipe does, minus its bookkeeping: pause on a full write buffer, resume on drain, end on end.
function forwardData(this: Forwarded, chunk: Buffer): void {
  if (!this[PARTNER].write(chunk)) this.pause();
}
function resumePartner(this: Forwarded): void {
  this[PARTNER].resume();
}
function endPartner(this: Forwarded): void {
  this[PARTNER].end();
}

function forward(from: Socket, to: Socket, viaData: boolean): void {
  (from as Forwarded)[PARTNER] = to;
  if (viaData) from.on('data', forwardData);
  from.on('end', endPartner);
  from.on('drain', resumePartner);
}

/**
 * Upstream sockets read into a buffer of their own through net's `onread` (no allocation per
 * read: about 1.3x the MB/s of 'data' events in bench/tcp.mjs), at the price of this much memory
 * per open upstream connection.
 */
export const UPSTREAM_READ_BUFFER = 64 * 1024;

/** Client bytes held while the upstream connects; the client is not read beyond this until then. */
const EARLY_MAX = 64 * 1024;

/**
 * Read buffers of closed connections kept for the next ones: a fresh 64 KiB ArrayBuffer per
 * connection is a cost of its own at thousands of connections a second. A buffer comes back only
 * when both sockets of its connection are closed, so no read or pending write can touch it.
 */
export class ReadBuffers {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep = 256) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(UPSTREAM_READ_BUFFER);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}

/** The connection a socket belongs to (the client, and each upstream attempt). */
const CONN = Symbol('connection');
type Owned = Socket & { [CONN]: TcpConnection };

/**
 * One upstream read, written to the client. The chunk is a view of the connection's read buffer:
 * if the client could not take it at once (the write is still pending and points into the
 * buffer), reading stops until the client drains, so the next read cannot overwrite it.
 * net calls it as a method of the upstream socket.
 */
function upstreamRead(this: Owned, n: number, buffer: Buffer): boolean {
  const conn = this[CONN];
  const client = conn.client;
  // 'drain' (which resumes this socket) comes only after a write that reached the high-water
  // mark; a smaller write still pending would leave reading stopped for good. Its completion
  // resumes reading instead.
  client.write(buffer.subarray(0, n), conn.clientWrote);
  return client.writableLength === 0;
}

// The rest of the per-socket events, shared too: the socket says which connection it is.
function onClientError(this: Owned): void {
  this[CONN].close('error');
}
function onClientClose(this: Owned): void {
  this[CONN].clientClosed();
}
function onClientIdle(this: Owned): void {
  this[CONN].close('idle-timeout');
}
function onEarlyData(this: Owned, chunk: Buffer): void {
  this[CONN].earlyData(chunk);
}
function onUpstreamConnect(this: Owned): void {
  this[CONN].upstreamConnected(this);
}
function onUpstreamError(this: Owned, err: NodeJS.ErrnoException): void {
  this[CONN].upstreamError(this, err);
}
function onUpstreamClose(this: Owned): void {
  this[CONN].upstreamClosed(this);
}

/** What the listener's connect-deadline queue calls for an attempt that ran out of time. */
export function connectTimedOut(upstream: Socket): void {
  (upstream as Owned)[CONN].upstreamTimedOut(upstream);
}

function failureKind(code: string | undefined): ConnectFailure {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  return 'other';
}

const NO_TICKET = -1;

export class TcpConnection implements Closable {
  upstream: Socket | undefined;
  peer: TcpPeer | undefined;
  private tried: TcpPeer[] | undefined;
  private connected = false;
  private clientDone = false;
  private upstreamDone = false;
  private result: CloseReason = 'closed';
  private readonly startedAt: number;
  /** the upstream's read buffer (the same across connect attempts) */
  private readBuffer: Buffer | undefined;
  /** a write of upstream bytes to the client completed: reading the upstream may go on */
  readonly clientWrote = (): void => {
    this.upstream?.resume();
  };
  /** the current attempt's place in the listener's connect-deadline queue */
  private ticket = NO_TICKET;
  private counts: UpstreamCounts | undefined;
  /** client bytes that arrived before the upstream was connected */
  private early: Buffer[] | undefined;
  private earlyBytes = 0;
  /** for the access log, read at accept (a destroyed socket no longer knows it) */
  private readonly clientAddress: string | undefined;

  constructor(
    private readonly host: ConnectionHost,
    readonly client: Socket,
  ) {
    const logged = host.accessLog !== undefined;
    this.clientAddress = logged ? `${client.remoteAddress}:${client.remotePort}` : undefined;
    this.startedAt = logged ? Date.now() : 0;
    (client as Owned)[CONN] = this;
    client.on('error', onClientError);
    client.on('close', onClientClose);
    // Read what the client sends while the upstream connects (a request sent right after connect
    // goes out with the upstream's connect instead of one event-loop turn later), kept here so a
    // retry on another instance still has it, and bounded: reading pauses at EARLY_MAX.
    client.on('data', onEarlyData);
    this.tryNext();
  }

  get bytesIn(): number {
    return this.client.bytesRead;
  }

  get bytesOut(): number {
    return this.client.bytesWritten;
  }

  /** Closes both sides now (drain, idle timeout, shutdown). */
  close(reason: CloseReason): void {
    if (this.result === 'closed') this.result = reason;
    this.client.destroy();
    this.upstream?.destroy();
  }

  earlyData(chunk: Buffer): void {
    (this.early ??= []).push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes >= EARLY_MAX) this.client.pause();
  }

  private tryNext(): void {
    const host = this.host;
    const peers = host.peers()?.peers ?? [];
    const tried = (this.tried ??= []);
    const peer = tried.length < host.options.maxTries ? pickTcp(host.spec.balance, peers, Date.now(), tried) : undefined;
    if (peer === undefined) {
      const reason: Rejection = tried.length === 0 ? 'no-instance' : 'connect-failed';
      host.metrics.rejected(host.spec.listen, reason);
      this.close(reason);
      return;
    }
    tried.push(peer);
    this.peer = peer;
    const upstream = connect({
      host: peer.host,
      port: peer.port,
      allowHalfOpen: true,
      noDelay: true,
      onread: { buffer: (this.readBuffer ??= host.buffers.take()), callback: upstreamRead },
    }) as Owned;
    upstream[CONN] = this;
    this.upstream = upstream;
    this.ticket = host.deadlines.add(upstream);
    upstream.on('connect', onUpstreamConnect);
    upstream.on('error', onUpstreamError);
  }

  upstreamTimedOut(upstream: Socket): void {
    this.ticket = NO_TICKET;
    if (!this.connected) this.connectFailed(upstream, 'timeout');
  }

  upstreamError(upstream: Socket, err: NodeJS.ErrnoException): void {
    if (this.connected) this.close('error');
    else this.connectFailed(upstream, failureKind(err.code));
  }

  private endAttempt(): void {
    if (this.ticket === NO_TICKET) return;
    this.host.deadlines.cancel(this.ticket);
    this.ticket = NO_TICKET;
  }

  private connectFailed(upstream: Socket, kind: ConnectFailure): void {
    if (upstream !== this.upstream) return;
    this.endAttempt();
    upstream.destroy();
    this.upstream = undefined;
    const host = this.host;
    const peer = this.peer!;
    const ejected = reportFailure(peer, Date.now(), host.options.policy);
    host.metrics.connectFailed(host.spec.listen, host.spec.service, peer.id, kind, ejected);
    host.log.warn({ listener: host.spec.listen, service: host.spec.service, upstream: peer.id, kind, ejected }, 'tcp upstream connect failed');
    if (this.clientDone) {
      this.peer = undefined;
      this.maybeFinished();
      return;
    }
    this.tryNext();
  }

  upstreamConnected(upstream: Socket): void {
    this.endAttempt();
    const host = this.host;
    if (this.clientDone) {
      upstream.destroy();
      return;
    }
    const peer = this.peer!;
    this.connected = true;
    reportSuccess(peer);
    host.peers()?.attach(peer, this);
    countConnected((this.counts = host.countsFor(peer)));
    upstream.on('close', onUpstreamClose);
    const client = this.client;
    if (host.options.idleTimeoutMs > 0) {
      // every byte either way passes the client socket, so its inactivity is the connection's
      client.setTimeout(host.options.idleTimeoutMs);
      client.on('timeout', onClientIdle);
    }
    if (host.options.proxyProtocol !== 'off') {
      upstream.write(
        encodeProxyHeader(host.options.proxyProtocol, {
          sourceAddress: client.remoteAddress,
          sourcePort: client.remotePort,
          destinationAddress: client.localAddress,
          destinationPort: client.localPort,
        }),
      );
    }
    client.off('data', onEarlyData);
    if (this.early !== undefined) for (const chunk of this.early) upstream.write(chunk);
    this.early = undefined;
    forward(upstream, client, false);
    if (client.readableEnded) upstream.end(); // its FIN came while connecting
    else {
      forward(client, upstream, true);
      // paused at EARLY_MAX: go on now, or at the upstream's drain if the early bytes filled it
      if (!upstream.writableNeedDrain) client.resume();
    }
  }

  upstreamClosed(upstream: Socket): void {
    if (upstream !== this.upstream) return;
    this.upstreamDone = true;
    this.maybeFinished();
  }

  clientClosed(): void {
    this.clientDone = true;
    if (!this.connected) {
      // gave up while connecting: the attempt is dropped without reporting on the instance
      this.endAttempt();
      this.upstream?.destroy();
      this.upstream = undefined;
    } else if (!this.upstreamDone && this.client.errored) this.upstream?.destroy();
    this.maybeFinished();
  }

  private maybeFinished(): void {
    if (!this.clientDone) return;
    if (this.connected ? !this.upstreamDone : this.upstream !== undefined) return;
    const host = this.host;
    const peer = this.connected ? this.peer : undefined;
    if (peer) {
      host.peers()?.detach(peer.id, this);
      countClosed(this.counts!, this.bytesIn, this.bytesOut);
    }
    host.finished(this);
    if (this.readBuffer) host.buffers.give(this.readBuffer);
    this.readBuffer = undefined;
    host.accessLog?.info(
      {
        listener: host.spec.listen,
        service: host.spec.service,
        client: this.clientAddress,
        upstream: peer?.id ?? '-',
        tries: this.tried?.length ?? 0,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        ms: Date.now() - this.startedAt,
        result: this.result,
      },
      'tcp connection',
    );
  }
}
