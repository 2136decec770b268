/**
 * The time series behind the sparklines: per key, a fixed ring of per-second rates computed from
 * counter totals sampled by the admin module. Pure: the caller passes the totals and the clock.
 */

/** A fixed-size ring of numbers, oldest first. */
export class Ring {
  private readonly data: Float64Array;
  private start = 0;
  private size = 0;
  /** how many of the newest values are 0 */
  private zeros = 0;

  constructor(readonly capacity: number) {
    this.data = new Float64Array(capacity);
  }

  push(value: number): void {
    this.zeros = value === 0 ? this.zeros + 1 : 0;
    if (this.size < this.capacity) this.data[(this.start + this.size++) % this.capacity] = value;
    else {
      this.data[this.start] = value;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  get length(): number {
    return this.size;
  }

  /** every value held is 0 (or none is held) */
  get allZero(): boolean {
    return this.zeros >= this.size;
  }

  values(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.data[(this.start + i) % this.capacity]!;
    return out;
  }

  last(): number | undefined {
    return this.size === 0 ? undefined : this.data[(this.start + this.size - 1) % this.capacity];
  }
}

/** Rates per key from successive counter totals, `capacity` samples deep. */
export class RateSeries {
  private readonly rings = new Map<string, Ring>();
  private readonly totals = new Map<string, number>();
  private lastAt: number | undefined;
  /** rounds with rates, at most `capacity`: the length of every series */
  private rounds = 0;

  constructor(private readonly capacity: number) {}

  /**
   * Records one round of totals taken at `now`; returns each key's increase since the last round
   * (a counter that went down was reset: its whole value is the increase). The first round only
   * sets the baseline. A key whose rates are all 0 (it stopped being reported, or its counter
   * stays still, as a service's does once the service is gone) has no ring: it reads as zeros,
   * so memory follows the keys with traffic in the window, not every key ever seen.
   */
  sample(totals: ReadonlyMap<string, number>, now: number): Map<string, number> {
    const deltas = new Map<string, number>();
    const seconds = this.lastAt === undefined ? 0 : (now - this.lastAt) / 1000;
    if (seconds > 0) {
      this.rounds = Math.min(this.capacity, this.rounds + 1);
      for (const [key, total] of totals) {
        const before = this.totals.get(key);
        // a key first seen after the baseline is a counter created since (from 0): all of it is new
        const delta = before === undefined ? total : total >= before ? total - before : total;
        deltas.set(key, delta);
        let ring = this.rings.get(key);
        if (!ring) {
          if (delta === 0) continue;
          // the rounds before read as 0/s
          ring = new Ring(this.capacity);
          for (let i = 1; i < this.rounds; i++) ring.push(0);
          this.rings.set(key, ring);
        }
        ring.push(delta / seconds);
      }
      for (const [key, ring] of this.rings) {
        if (!totals.has(key)) ring.push(0);
        if (ring.allZero) this.rings.delete(key);
      }
    }
    this.totals.clear();
    for (const [key, total] of totals) this.totals.set(key, total);
    if (seconds > 0 || this.lastAt === undefined) this.lastAt = now;
    return deltas;
  }

  /** per-second rates, oldest first; zeros for a counter that stays still; empty for an unknown key */
  rates(key: string): number[] {
    const ring = this.rings.get(key);
    if (ring) return ring.values();
    return this.totals.has(key) ? new Array<number>(this.rounds).fill(0) : [];
  }

  /** keys with a ring (some rate above 0 in the window) */
  get series(): number {
    return this.rings.size;
  }

  /** the counter's last total, as sampled */
  total(key: string): number | undefined {
    return this.totals.get(key);
  }
}

/** a[i] / b[i] per point (0 where b is 0): error rates from error and request rates. */
export function ratio(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out = new Array<number>(n);
  const offA = a.length - n;
  const offB = b.length - n;
  for (let i = 0; i < n; i++) {
    const d = b[offB + i]!;
    out[i] = d > 0 ? a[offA + i]! / d : 0;
  }
  return out;
}
