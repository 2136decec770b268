/**
 * Recent response-head latencies of one service and their 99th percentile, for hedging: an
 * idempotent bodiless request with no response head after `hedgeDelay` goes to a second
 * instance as well (Envoy's request hedging; Dean and Barroso, "The Tail at Scale"). Pure: a
 * ring of the last samples, no clock; the percentile is sorted out of the ring at most once per
 * change, so asking for it on every sweep costs one sort per service per sweep at most.
 */

/** Samples kept per service: the latest ones only, so the estimate follows the service. */
export const WINDOW = 256;

/** A hedge waits this many times the service's recent p99 (and at least the configured minimum). */
export const HEDGE_FACTOR = 3;

/** The last WINDOW head latencies (ms) of one service. */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private readonly sorted: Float64Array;
  private count = 0;
  private next = 0;
  private cached = 0;
  private stale = false;

  constructor(size = WINDOW) {
    this.samples = new Float64Array(size);
    this.sorted = new Float64Array(size);
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = this.next + 1 === this.samples.length ? 0 : this.next + 1;
    if (this.count < this.samples.length) this.count++;
    this.stale = true;
  }

  /** How many samples the window holds. */
  get size(): number {
    return this.count;
  }

  /** The 99th percentile (nearest rank) of the samples held; 0 when there are none. */
  p99(): number {
    if (!this.stale) return this.cached;
    this.stale = false;
    const n = this.count;
    const view = this.sorted.subarray(0, n);
    view.set(this.samples.subarray(0, n));
    view.sort();
    this.cached = n === 0 ? 0 : view[Math.max(0, Math.ceil(n * 0.99) - 1)]!;
    return this.cached;
  }
}

/** How long an attempt may go without a response head before it is hedged: max(min, factor x p99); 0 = never. */
export function hedgeDelay(minMs: number, p99: number, factor = HEDGE_FACTOR): number {
  if (minMs <= 0) return 0;
  return Math.max(minMs, factor * p99);
}
