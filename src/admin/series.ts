/**
 * The time series behind the sparklines: per key, a fixed ring of per-second rates computed from
 * counter totals sampled by the admin module. Pure: the caller passes the totals and the clock.
 */

/** A fixed-size ring of numbers, oldest first. */
export class Ring {
  private readonly data: Float64Array;
  private start = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.data = new Float64Array(capacity);
  }

  push(value: number): void {
    if (this.size < this.capacity) this.data[(this.start + this.size++) % this.capacity] = value;
    else {
      this.data[this.start] = value;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  get length(): number {
    return this.size;
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

  constructor(private readonly capacity: number) {}

  /**
   * Records one round of totals taken at `now`; returns each key's increase since the last round
   * (a counter that went down was reset: its whole value is the increase). The first round only
   * sets the baseline. A key that stops being reported reads 0/s and is forgotten once its ring
   * holds nothing else, so keys stay bounded by what the counters hold.
   */
  sample(totals: ReadonlyMap<string, number>, now: number): Map<string, number> {
    const deltas = new Map<string, number>();
    const seconds = this.lastAt === undefined ? 0 : (now - this.lastAt) / 1000;
    if (seconds > 0) {
      for (const [key, total] of totals) {
        const before = this.totals.get(key);
        const delta = before === undefined ? 0 : total >= before ? total - before : total;
        deltas.set(key, delta);
        let ring = this.rings.get(key);
        if (!ring) this.rings.set(key, (ring = new Ring(this.capacity)));
        ring.push(delta / seconds);
      }
      for (const [key, ring] of this.rings) {
        if (totals.has(key)) continue;
        ring.push(0);
        if (ring.values().every((v) => v === 0)) this.rings.delete(key);
      }
    }
    this.totals.clear();
    for (const [key, total] of totals) this.totals.set(key, total);
    if (seconds > 0 || this.lastAt === undefined) this.lastAt = now;
    return deltas;
  }

  /** per-second rates, oldest first; empty for an unknown key */
  rates(key: string): number[] {
    return this.rings.get(key)?.values() ?? [];
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
