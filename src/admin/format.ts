/** Numbers as the page shows them. Pure. */

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  if (abs < 3_600_000) return `${Math.floor(abs / 60_000)} min ${Math.floor((abs % 60_000) / 1000)} s`;
  if (abs < 86_400_000) return `${Math.floor(abs / 3_600_000)} h ${Math.floor((abs % 3_600_000) / 60_000)} min`;
  return `${Math.floor(abs / 86_400_000)} d ${Math.floor((abs % 86_400_000) / 3_600_000)} h`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '-';
  if (perSecond === 0) return '0/s';
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  if (perSecond < 10_000) return `${Math.round(perSecond)}/s`;
  return `${(perSecond / 1000).toFixed(1)}k/s`;
}

export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  const p = fraction * 100;
  return p === 0 ? '0%' : p < 1 ? `${p.toFixed(2)}%` : `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

/** `14:03:07` in UTC (the page says so once): no locale or time zone surprises between viewers. */
export function formatClock(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

/** "12 s ago" for an ISO time, or the text itself when it is not one. */
export function formatAgo(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ms = now - at;
  return ms < 0 ? formatClock(at) : `${formatDuration(ms)} ago`;
}
