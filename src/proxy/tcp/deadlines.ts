/**
 * Connect timeouts of a TCP listener's upstream attempts, in one queue and one timer instead of
 * a timer per socket (`socket.setTimeout` binds a callback, makes a Timeout and is cleared again
 * on every connect). Every attempt waits the same `--connect-timeout`, so deadlines arrive in the
 * order attempts start: a FIFO is already sorted, and one timer armed for its first pending entry
 * is enough. An attempt that connects or fails is cancelled by its ticket (its slot emptied, so
 * nothing of it is held until its deadline); the timer skips empty slots.
 */
export class ConnectDeadlines<T> {
  private items: (T | undefined)[] = [];
  private deadlines: number[] = [];
  /** index in `items` of the first entry not yet swept */
  private head = 0;
  /** ticket of items[0] */
  private base = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    /** called for each attempt whose deadline passed without being cancelled */
    private readonly expired: (item: T) => void,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Attempts still waiting. */
  get pending(): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (this.items[i] !== undefined) n++;
    return n;
  }

  /** Queues an attempt; the ticket cancels it. */
  add(item: T): number {
    this.items.push(item);
    this.deadlines.push(this.clock() + this.timeoutMs);
    if (this.timer === undefined) this.arm();
    return this.base + this.items.length - 1;
  }

  cancel(ticket: number): void {
    const i = ticket - this.base;
    if (i >= this.head && i < this.items.length) this.items[i] = undefined;
  }

  /** Hands every attempt whose deadline is at or before now to `expired`; returns how many. */
  sweep(): number {
    const now = this.clock();
    let n = 0;
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      if (item !== undefined && this.deadlines[this.head]! > now) break;
      this.items[this.head] = undefined;
      this.head++;
      if (item !== undefined) {
        n++;
        this.expired(item);
      }
    }
    this.skipCancelled();
    return n;
  }

  /** Forgets every queued attempt and the timer (stop). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.base += this.items.length;
    this.items = [];
    this.deadlines = [];
    this.head = 0;
  }

  private skipCancelled(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
    // drop the swept prefix once it is most of the arrays (amortised O(1) per attempt)
    if (this.head === this.items.length || (this.head > 1024 && this.head * 2 > this.items.length)) {
      this.items = this.items.slice(this.head);
      this.deadlines = this.deadlines.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
  }

  private arm(): void {
    const wait = Math.max(0, this.deadlines[this.head]! - this.clock());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweep();
      if (this.head < this.items.length) this.arm();
    }, wait);
    this.timer.unref();
  }
}
