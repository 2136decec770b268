/**
 * The fast engine's listener: a plain TCP server whose connections are read by ClientConn,
 * one sweep timer for every client and upstream timeout (it also advances the shared clock),
 * WebSocket hand-over, and a graceful stop.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { pollUntil } from '../../wait.js';
import { listenOn, type FrontDoor } from '../front-door.js';
import type { Traffic } from '../traffic.js';
import { WebSocketUpgrades, type UpgradeRequest } from '../upgrade.js';
import { ClientConn, type ConnListener } from './client-conn.js';
import { DirectWriter } from './direct-write.js';
import type { UpstreamPool } from './pool.js';
import { SharedReads } from './shared-reads.js';
import { FastH2 } from './h2-stream.js';
import { H2Sessions } from '../tls/h2-session.js';
import type { TLSSocket } from 'node:tls';

export class FastFrontDoor implements FrontDoor, ConnListener {
  readonly engine = 'fast';
  readonly traffic: Traffic<UpstreamPool>;
  readonly writer: DirectWriter;
  readonly reads = new SharedReads();
  private readonly server: Server;
  private readonly conns = new Set<ClientConn>();
  private readonly upgrades: WebSocketUpgrades;
  private readonly sweeper: NodeJS.Timeout;
  private listening = false;
  /** HTTP/2 from the TLS listener: each stream runs an Exchange like a request on a ClientConn */
  private readonly h2: FastH2;
  private readonly h2Sessions: H2Sessions;

  /** `writer` is shared with the upstream pools: it keeps a spare write request between writes */
  constructor(traffic: Traffic<UpstreamPool>, writer: DirectWriter) {
    this.traffic = traffic;
    this.writer = writer;
    this.upgrades = new WebSocketUpgrades(traffic);
    this.h2 = new FastH2(traffic);
    this.h2Sessions = new H2Sessions(traffic.limits.maxHeaderSize, traffic.limits.idleTimeoutMs, (stream, headers, raw) => this.h2.serve(stream, headers, raw));
    // paused until the ClientConn has chosen how the socket is read (see SharedReads)
    this.server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) => {
      if (traffic.stopping) {
        socket.destroy();
        return;
      }
      this.conns.add(new ClientConn(this, socket));
    });
    // Timeouts are checked by one timer for every connection, not a timer per request.
    const l = traffic.limits;
    const smallest = Math.min(l.clientHeaderTimeoutMs, l.idleTimeoutMs, l.upstreamHeaderTimeoutMs, l.clientRequestTimeoutMs || Infinity, l.upstreamBodyTimeoutMs || Infinity, l.hedgeAfterMs || Infinity);
    const every = Math.max(20, Math.min(1000, Math.floor(smallest / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const where = await listenOn(this.server, host, port, this.traffic.log, 'proxy listener');
    this.listening = true;
    return where;
  }

  accept(socket: Socket): void {
    if (this.traffic.stopping) socket.destroy();
    else this.conns.add(new ClientConn(this, socket));
  }

  acceptH2(socket: TLSSocket): void {
    if (this.traffic.stopping) socket.destroy();
    else this.h2Sessions.accept(socket);
  }

  get isListening(): boolean {
    return this.listening;
  }

  private sweep(): void {
    const now = this.traffic.tick();
    for (const conn of this.conns) conn.checkTimeouts(now);
    this.h2.checkTimeouts(now);
    this.traffic.table.sweep(now);
  }

  forget(conn: ClientConn): void {
    this.conns.delete(conn);
  }

  upgrade(req: UpgradeRequest, socket: Socket, head: Buffer): void {
    this.upgrades.pass(req, socket, head);
  }

  /**
   * Graceful: stop accepting, let in-flight requests finish (closing keep-alive connections as
   * they go idle) until `deadlineMs`, then cut what is left.
   */
  async stop(deadlineMs: number): Promise<{ unfinished: number }> {
    const traffic = this.traffic;
    traffic.stopping = true;
    const deadline = Date.now() + deadlineMs;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of [...this.conns]) if (conn.idle) conn.close();
    this.h2Sessions.close();
    await traffic.drain(deadlineMs);
    const unfinished = traffic.inflight;
    // A finished response may still be on its way out of a closing connection: it gets the
    // rest of the deadline to reach the kernel ('finish'), rather than being cut by destroy.
    await pollUntil(() => ![...this.conns].some((conn) => conn.flushing), deadline);
    this.upgrades.destroyAll();
    this.h2Sessions.destroyAll();
    for (const conn of [...this.conns]) conn.destroy();
    clearInterval(this.sweeper);
    await closed;
    this.listening = false;
    return { unfinished };
  }
}
