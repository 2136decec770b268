import { html, trusted, type Html } from './html.js';

/** at most this many points are drawn: longer series are averaged in buckets */
const MAX_POINTS = 100;

/** Averages `values` down to at most `max` points, oldest first. */
export function downsample(values: readonly number[], max = MAX_POINTS): number[] {
  if (values.length <= max) return [...values];
  const out: number[] = [];
  const step = values.length / max;
  for (let i = 0; i < max; i++) {
    const from = Math.floor(i * step);
    const to = Math.max(from + 1, Math.floor((i + 1) * step));
    let sum = 0;
    for (let j = from; j < to; j++) sum += values[j]!;
    out.push(sum / (to - from));
  }
  return out;
}

/** The `points` attribute of a polyline in a 100 x 24 box, highest value at the top. */
export function sparkPoints(values: readonly number[], floor = 0): string {
  const drawn = downsample(values);
  if (drawn.length === 0) return '';
  const max = Math.max(floor, ...drawn);
  const dx = drawn.length > 1 ? 100 / (drawn.length - 1) : 0;
  return drawn.map((v, i) => `${(i * dx).toFixed(1)},${(23 - (max > 0 ? (v / max) * 22 : 0)).toFixed(1)}`).join(' ');
}

/**
 * An inline SVG sparkline with its last value beside it. `floor`: the least top of the scale
 * (an error rate of 0.1% must not fill the box). Server-rendered: no script needed.
 */
export function sparkline(label: string, values: readonly number[], shown: string, options: { floor?: number; bad?: boolean } = {}): Html {
  const points = sparkPoints(values, options.floor ?? 0);
  return html`<span class="spark${options.bad ? ' bad' : ''}" title="${label}, last ${Math.round(values.length)} s"><svg viewBox="0 0 100 24" preserveAspectRatio="none" role="img" aria-label="${label}: ${shown}">${
    points ? html`<polyline points="${points}"/>` : trusted('')
  }</svg><span class="spark-label">${label}</span> <b>${shown}</b></span>`;
}
