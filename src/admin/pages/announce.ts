/** The announce page: the instance, its check, the last checks, registration and lease. */
import { formatAgo, formatDuration } from '../format.js';
import { html } from '../html.js';
import { asArray, asBoolean, asNumber, asString, get } from '../read.js';
import type { ModePage, PageEvent } from '../types.js';
import { badge, eventList, facts, section, table } from '../widgets.js';

export function announceEvents(before: unknown, after: unknown, _deltas: ReadonlyMap<string, number>, now: number): PageEvent[] {
  const events: PageEvent[] = [];
  const was = asBoolean(get(before, 'registered'));
  const is = asBoolean(get(after, 'registered'));
  if (was !== undefined && is !== undefined && was !== is) events.push({ at: now, kind: 'registration', text: is ? `registered (lease ${asString(get(after, 'lease')) ?? '?'})` : 'deregistered' });
  const wasHealthy = asBoolean(get(before, 'healthy'));
  const isHealthy = asBoolean(get(after, 'healthy'));
  if (wasHealthy !== undefined && isHealthy !== undefined && wasHealthy !== isHealthy) events.push({ at: now, kind: 'check', text: isHealthy ? 'became healthy' : `became unhealthy: ${asString(get(after, 'lastCheck', 'detail')) ?? ''}` });
  return events;
}

export const announcePage: ModePage = {
  events: announceEvents,
  sections(view) {
    const s = view.status;
    const registered = asBoolean(get(s, 'registered'));
    const leaseLeft = asNumber(get(s, 'leaseLeftMs'));
    const leaseTtl = asNumber(get(s, 'leaseTtlMs'));
    const checks = asArray(get(s, 'checks'));
    const last = get(s, 'lastCheck');
    const rows = (checks.length > 0 ? checks : last ? [last] : []).map((c) => {
      const at = asString(get(c, 'at'));
      const ms = asNumber(get(c, 'ms'));
      return [at ? formatAgo(at, view.now) : '', badge(asBoolean(get(c, 'ok')) ? 'pass' : 'fail'), ms !== undefined ? formatDuration(ms) : '-', asString(get(c, 'detail')) ?? ''];
    });
    return html`${section(
      'instance',
      'Instance',
      facts([
        ['service', asString(get(s, 'service'))],
        ['id', asString(get(s, 'id'))],
        ['address', asString(get(s, 'address'))],
        ['keys', asArray(get(s, 'keys')).map(asString).filter((k) => k !== undefined).map((k) => html`<code>${k}</code> `)],
      ]),
    )}${section(
      'registration',
      'Registration',
      facts([
        ['state', badge(registered === undefined ? 'unknown' : registered ? 'registered' : 'not registered')],
        ['healthy', badge(asBoolean(get(s, 'healthy')) ? 'healthy' : 'unhealthy')],
        ['draining', asBoolean(get(s, 'draining')) ? badge('draining') : 'no'],
        ['lease', asString(get(s, 'lease'))],
        ['lease time left', leaseLeft !== undefined ? `${formatDuration(leaseLeft)}${leaseTtl !== undefined ? ` of ${formatDuration(leaseTtl)}` : ''}` : undefined],
      ]),
    )}${section(
      'check',
      'Health check',
      facts([
        ['kind', asString(get(s, 'checkKind'))],
        ['target', asString(get(s, 'check'))],
      ]),
      table('Last checks, newest first', ['when', 'result', 'took', 'detail'], rows.reverse(), 'no check has run yet'),
    )}${section('changes', 'Recent changes', eventList('Changes', view.events))}`;
  },
};
