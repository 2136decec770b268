/** Pieces every page uses: tables, state badges, the store bar, the event list. */
import { formatAgo, formatClock } from './format.js';
import { html, type Html, type Part } from './html.js';
import { asArray, asBoolean, asNumber, asObject, asString, get } from './read.js';
import type { PageEvent } from './types.js';

const GOOD = new Set(['up', 'healthy', 'ok', 'pass', 'registered', 'connected', 'written', 'unchanged', 'ready', 'yes']);
const BAD = new Set(['ejected', 'down', 'unhealthy', 'fail', 'failed', 'error', 'render-failed', 'check-failed', 'reload-failed', 'disconnected', 'no']);

/** A state word in a coloured badge (colour and the word itself: readable without colour too). */
export function badge(state: string): Html {
  const tone = GOOD.has(state) ? 'good' : BAD.has(state) ? 'bad' : 'warn';
  return html`<span class="badge ${tone}">${state}</span>`;
}

/** A table with a caption; `empty` is shown when there are no rows. */
export function table(caption: string, headers: readonly string[], rows: readonly (readonly Part[])[], empty = 'none'): Html {
  if (rows.length === 0) return html`<p class="empty">${caption}: ${empty}</p>`;
  return html`<div class="scroll"><table><caption>${caption}</caption><thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => html`<tr>${r.map((cell, i) => html`<td data-label="${headers[i] ?? ''}">${cell}</td>`)}</tr>`,
  )}</tbody></table></div>`;
}

export function section(id: string, title: string, ...body: Part[]): Html {
  return html`<section id="${id}"><h2>${title}</h2>${body}</section>`;
}

/** `label: value` pairs in a compact grid */
export function facts(pairs: readonly (readonly [string, Part])[]): Html {
  return html`<dl class="facts">${pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl>`;
}

function errorText(value: unknown, now: number): string | undefined {
  if (typeof value === 'string') return value;
  const message = asString(get(value, 'message'));
  if (message === undefined) return undefined;
  const at = asString(get(value, 'at'));
  return at ? `${message} (${formatAgo(at, now)})` : message;
}

/**
 * Store connection, revision and last error, from `status.store` (falling back to the top-level
 * `ready`/`revision` older statuses have), plus values the catalog skipped as malformed.
 */
export function storeBar(status: unknown, now: number): Html {
  const store = asObject(get(status, 'store')) ?? {};
  const connected = asBoolean(store.connected) ?? (asString(store.state) !== undefined ? store.state === 'up' : asBoolean(get(status, 'ready')));
  const state = connected === undefined ? 'unknown' : connected ? 'connected' : 'disconnected';
  const revision = asNumber(store.revision) ?? asNumber(get(status, 'revision'));
  const lastError = errorText(store.lastError, now);
  const malformed = asNumber(store.malformed) ?? asNumber(get(status, 'malformed')) ?? asNumber(get(status, 'malformedValues'));
  const skipped = asArray(store.recentMalformed).flatMap((m) => {
    const key = asString(get(m, 'key'));
    return key === undefined ? [] : [[html`<code>${key}</code>`, asString(get(m, 'reason')) ?? '', asString(get(m, 'at')) ? formatAgo(asString(get(m, 'at'))!, now) : ''] as const];
  });
  return html`<section id="store" class="store"><h2>Store</h2>${facts([
    ['store', asString(store.url)],
    ['state', badge(state)],
    ['revision', revision],
    ['last error', lastError ?? 'none'],
    ['malformed values skipped', malformed],
  ])}${skipped.length > 0 ? table('Recently skipped values', ['key', 'reason', 'when'], skipped.reverse()) : ''}</section>`;
}

export function eventList(title: string, events: readonly PageEvent[]): Html {
  if (events.length === 0) return html`<p class="empty">${title}: none since this process started</p>`;
  return html`<ol class="events" reversed>${[...events].reverse().map((e) => html`<li class="ev-${e.kind}"><time>${formatClock(e.at)}</time> ${e.text}</li>`)}</ol>`;
}
