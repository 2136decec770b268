/**
 * What the page shows, sampled once per tick from the same sources `/status` and `/metrics`
 * read: the mode's status, counter totals turned into rates, events noticed between samples.
 * Viewers share it: however many are watching, the mode is asked once per tick.
 */
import type { Registry } from 'prom-client';
import { RateSeries } from './series.js';
import type { ModePage, PageEvent, PageView } from './types.js';

/** five minutes of one-second samples */
export const SERIES_POINTS = 300;
/** events kept for "recent ejections and retries" */
const EVENTS_KEPT = 50;

export interface StatusSource {
  status(): unknown;
  /** how many entries status() would list (a proxy's instances): its cost, known before building it */
  statusSize?(): number;
}

/**
 * The mode's status is O(instances) to build and to compare (100,000 instances: a few hundred ms
 * of main thread, and as much garbage), and a stall that long is a stall in the mode itself. So
 * while someone watches the page, a status sample is taken only when the last one's cost fits
 * this share of the time since (at least once a minute); while no one does, only a status that
 * costs under UNWATCHED_COST_MS (announce's, a small proxy's) is sampled, so that the page opens
 * on recent changes. Counters (the sparklines, and events pages derive from them) are sampled
 * every round either way.
 */
export const STATUS_SHARE = 0.02;
/** while watched, however costly, the status is sampled at least this often */
export const STATUS_MAX_INTERVAL_MS = 60_000;
/** unwatched, a status is sampled only while it costs less than this... */
export const UNWATCHED_COST_MS = 5;
/** ...or when this long has passed (a cost measured once, in a GC pause, does not stick) */
export const UNWATCHED_MAX_INTERVAL_MS = 600_000;
/** a status listing this many entries is never sampled unwatched (not even once to learn its cost) */
export const UNWATCHED_MAX_SIZE = 10_000;

export class LiveState {
  private status: unknown;
  private sampled = false;
  private statusDueAt = 0;
  private statusCostMs = 0;
  private readonly series = new RateSeries(SERIES_POINTS);
  private readonly events: PageEvent[] = [];

  constructor(
    private readonly mode: string,
    private readonly page: ModePage,
    private readonly source: StatusSource,
    private readonly metrics: Registry,
    private readonly clock: () => number = Date.now,
    /** what a status sample's cost is measured with */
    private readonly costClock: () => number = () => performance.now(),
  ) {}

  /**
   * One round: the page's counters, the status when it is due, and what changed since the last
   * round. `watched`: someone has the page open (or is opening it). `fresh`: the status is read
   * now whatever its schedule (a page being opened, so also watched).
   */
  async sample(watched: boolean, fresh = false): Promise<void> {
    const totals = await this.counterTotals();
    const now = this.clock();
    const deltas = this.series.sample(totals, now);
    let status = this.status;
    const large = !watched && (this.source.statusSize?.() ?? 0) >= UNWATCHED_MAX_SIZE;
    const due = fresh || (now >= this.statusDueAt && (watched || this.statusCostMs < UNWATCHED_COST_MS || now - this.sampledAt >= UNWATCHED_MAX_INTERVAL_MS));
    if (!large && (!this.sampled || due)) {
      const started = this.costClock();
      status = this.source.status();
      this.noticeEvents(status, deltas, now);
      this.statusCostMs = this.costClock() - started;
      this.statusDueAt = now + Math.min(STATUS_MAX_INTERVAL_MS, this.statusCostMs / STATUS_SHARE);
      this.sampledAt = now;
    } else {
      // the same status twice: only the counters can say something happened
      this.noticeEvents(status, deltas, now);
    }
    this.status = status;
    this.sampled = true;
  }

  private noticeEvents(status: unknown, deltas: ReadonlyMap<string, number>, now: number): void {
    if (!this.sampled || !this.page.events) return;
    for (const event of this.page.events(this.status, status, deltas, now)) this.events.push(event);
    if (this.events.length > EVENTS_KEPT) this.events.splice(0, this.events.length - EVENTS_KEPT);
  }

  /** when the status was last sampled (the clock's ms; 0 before the first) */
  sampledAt = 0;

  /** The view as of the last sample (the status read fresh when nothing was sampled yet). */
  view(): PageView {
    return { mode: this.mode, status: this.sampled ? this.status : this.source.status(), series: this.series, events: this.events, now: this.clock() };
  }

  private async counterTotals(): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    for (const spec of this.page.counters ?? []) {
      const metric = this.metrics.getSingleMetric(spec.metric);
      if (!metric) continue;
      let values: readonly { value: number; labels: Record<string, string | number>; metricName?: string }[];
      try {
        values = (await metric.get()).values as typeof values;
      } catch {
        continue;
      }
      for (const sample of values) {
        if (sample.metricName !== undefined && sample.metricName !== spec.metric) continue;
        for (const key of spec.keys(sample.labels)) totals.set(key, (totals.get(key) ?? 0) + sample.value);
      }
    }
    return totals;
  }
}
