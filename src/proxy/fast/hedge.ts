/**
 * A hedge: the second attempt of an idempotent bodiless request whose first attempt sent no
 * response head in time (Traffic.hedgeAfter). It borrows its own connection from another
 * instance and writes the same head. The first final response head wins: when the hedge's
 * comes first, its exchange adopts it (the slow attempt is cut and counted against its
 * instance, see Traffic.hedgeWon) and from then on the hedge only passes its connection's events
 * to the exchange; when the first attempt's comes first, the hedge is cut and counts for
 * nothing. Made only when a hedge is sent: nothing per ordinary request.
 */
import type { UpstreamError } from '../failures.js';
import type { Exchange, FastUpstream } from './exchange.js';
import type { ConnUser, ResponseHead, UpstreamConn } from './pool.js';

export class FastHedge implements ConnUser {
  readonly skipBody: boolean;
  readonly peer: FastUpstream;
  private readonly ex: Exchange;
  conn: UpstreamConn | undefined;
  /** the exchange carries its response from this attempt: events pass through */
  adopted = false;
  /** cut (the other attempt answered, the client left, the exchange ended) */
  private gone = false;

  constructor(ex: Exchange, peer: FastUpstream) {
    this.ex = ex;
    this.peer = peer;
    this.skipBody = ex.skipBody;
  }

  attached(conn: UpstreamConn): void {
    if (this.gone) {
      conn.release(true);
      return;
    }
    this.conn = conn;
    conn.write(this.ex.headFor(this.peer));
  }

  connected(): void {
    // bodiless: the head is all there is, and net sent it on connect
  }

  onHead(head: ResponseHead): boolean {
    if (this.gone) return true;
    if (!this.adopted) {
      // an interim response says nothing yet: the other attempt may still answer first
      if (head.status < 200) return false;
      this.ex.hedgeAnswered(this);
    }
    return this.ex.onHead(head);
  }

  onBody(chunk: Buffer, from: number, to: number): void {
    if (this.adopted) this.ex.onBody(chunk, from, to);
  }

  onMessageEnd(): void {
    if (this.adopted) this.ex.onMessageEnd();
  }

  failed(err: UpstreamError): void {
    if (this.gone) return;
    this.conn = undefined;
    if (this.adopted) {
      this.ex.failed(err);
      return;
    }
    this.gone = true;
    this.ex.hedgeFailed(this, err);
  }

  cork(): void {
    if (this.adopted) this.ex.cork();
  }

  uncork(): void {
    if (this.adopted) this.ex.uncork();
  }

  /** Cuts the attempt; says nothing about its instance. */
  cancel(): void {
    if (this.gone || this.adopted) return;
    this.gone = true;
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) {
      conn.user = undefined;
      conn.destroy();
    } else this.peer.pool.cancel(this);
    this.ex.traffic.neutral(this.peer);
  }
}
