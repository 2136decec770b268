/**
 * The client side of an exchange's response: what one upstream read produces (head, chunk
 * framing, small bodies) is gathered into one write to the client, and a client that reads
 * slower than the upstream sends stops the upstream being read until it drains.
 */
import type { Traffic } from '../traffic.js';
import type { ExchangeClient } from './exchange.js';
import type { UpstreamConn, UpstreamPool } from './pool.js';

/** Response bodies up to this size are gathered with their head into one write. */
const GATHER_MAX = 16 * 1024;

export abstract class ResponseGathering {
  readonly client: ExchangeClient;
  readonly traffic: Traffic<UpstreamPool>;
  /** the upstream connection the response comes from */
  protected abstract conn: UpstreamConn | undefined;
  /** last upstream activity during the body (ms), for the body timeout */
  protected lastActivity = 0;
  /** the upstream is not read until the client drains */
  protected waitingDrain = false;
  /** response text gathered during one upstream read (see cork) */
  private out = '';
  private batching = false;

  constructor(client: ExchangeClient, traffic: Traffic<UpstreamPool>) {
    this.client = client;
    this.traffic = traffic;
  }

  /** Upstream bytes are being parsed: small writes to the client are gathered until uncork. */
  cork(): void {
    this.batching = true;
  }

  uncork(): void {
    this.batching = false;
    this.flush();
  }

  protected emit(text: string): void {
    if (this.batching) this.out += text;
    else this.send(text);
  }

  protected emitChunk(chunk: Buffer, from: number, to: number): void {
    if (this.batching && to - from <= GATHER_MAX) {
      this.out += chunk.toString('latin1', from, to);
      return;
    }
    this.flush();
    // the upstream's read buffer is reused for the next read
    this.send(Buffer.from(chunk.subarray(from, to)));
  }

  protected flush(): void {
    const out = this.out;
    if (out === '') return;
    this.out = '';
    this.send(out);
  }

  private send(data: string | Buffer): void {
    if (this.client.gone) return;
    if (this.client.write(data) || this.waitingDrain) return;
    // the client reads slower than the upstream sends: stop reading the upstream until it drains
    const conn = this.conn;
    if (conn === undefined) return;
    this.waitingDrain = true;
    conn.socket.pause();
    this.client.onceDrained(() => {
      this.waitingDrain = false;
      this.lastActivity = this.traffic.now;
      conn.socket.resume();
    });
  }
}
