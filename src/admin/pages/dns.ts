/**
 * The dns page: zone, record counts, queries/s by response code, cache hit rate, forwarders
 * and how forwarding goes; the search box (outside the live part) looks names up.
 */
import { formatDuration, formatPercent, formatRate } from '../format.js';
import { html, type Html } from '../html.js';
import { asArray, asBoolean, asNumber, asString, get } from '../read.js';
import { ratio } from '../series.js';
import { sparkline } from '../sparkline.js';
import type { ModePage, PageView } from '../types.js';
import { badge, facts, section, table } from '../widgets.js';

/** rcodes always shown, in this order; others appear when they occur */
const RCODES = ['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'REFUSED'];
const FORWARD_OUTCOMES = ['ok', 'servfail', 'timeout', 'error'];

function rcodeSparks(view: PageView): Html[] {
  const seen = new Set(RCODES);
  const codes = [...RCODES];
  for (const code of ['FORMERR', 'NOTIMP', 'YXDOMAIN', 'NOTAUTH', 'NOTZONE']) {
    if (view.series.rates(`rcode:${code}`).some((v) => v > 0) && !seen.has(code)) codes.push(code);
  }
  return codes.map((code) => {
    const rates = view.series.rates(`rcode:${code}`);
    return sparkline(code, rates, formatRate(rates.at(-1) ?? 0), { bad: code === 'SERVFAIL' && (rates.at(-1) ?? 0) > 0 });
  });
}

function forwarders(status: unknown): Html {
  // per-forwarder health when the dns mode reports it, else the configured list
  const detailed = asArray(get(status, 'forwarders'));
  if (detailed.length > 0) {
    return table(
      'Forwarders',
      ['nameserver', 'state', 'last error'],
      detailed.map((f) => [asString(get(f, 'address')) ?? asString(get(f, 'nameserver')) ?? '?', badge(asBoolean(get(f, 'healthy')) === false ? 'down' : asBoolean(get(f, 'healthy')) ? 'up' : 'unknown'), asString(get(f, 'lastError')) ?? '']),
    );
  }
  const list = asArray(get(status, 'settings', 'forward')).map(asString).filter((s) => s !== undefined);
  const recursion = asBoolean(get(status, 'settings', 'noRecursion')) ? 'off (--no-recursion)' : 'on';
  return html`${facts([
    ['forwarders', list.length > 0 ? list.join(', ') : 'none'],
    ['recursion', recursion],
    ['forward timeout', asNumber(get(status, 'settings', 'forwardTimeoutMs')) !== undefined ? formatDuration(asNumber(get(status, 'settings', 'forwardTimeoutMs'))!) : undefined],
  ])}`;
}

export const dnsPage: ModePage = {
  counters: [
    { metric: 'beacon_dns_queries_total', keys: (labels) => ['queries', `rcode:${String(labels.rcode ?? '?')}`] },
    { metric: 'beacon_dns_cache_hits_total', keys: () => ['cache-hits'] },
    { metric: 'beacon_dns_forwarded_total', keys: (labels) => [`forward:${String(labels.outcome ?? '?')}`] },
  ],
  search: { label: 'Records of a name', placeholder: 'web.skydns.local' },
  sections(view) {
    const status = view.status;
    const queries = view.series.rates('queries');
    const hitRate = ratio(view.series.rates('cache-hits'), queries);
    const totalQueries = asNumber(get(status, 'queries'));
    const totalHits = asNumber(get(status, 'cacheHits'));
    const forwardRates = FORWARD_OUTCOMES.map((o) => [o, view.series.rates(`forward:${o}`)] as const);
    return html`${section(
      'summary',
      'DNS',
      facts([
        ['zone', asString(get(status, 'settings', 'domain'))],
        ['listen', asString(get(status, 'listen'))],
        ['ready', badge(asBoolean(get(status, 'ready')) ? 'yes' : 'no')],
        ['records', asNumber(get(status, 'records'))],
        ['records with a lease', asNumber(get(status, 'leases'))],
        ['ttl', asNumber(get(status, 'settings', 'ttl')) !== undefined ? `${asNumber(get(status, 'settings', 'ttl'))} s` : undefined],
        ['cache entries', asNumber(get(status, 'cacheEntries'))],
        ['queries', totalQueries],
        ['cache hit rate (all time)', totalQueries && totalHits !== undefined ? formatPercent(totalHits / totalQueries) : undefined],
        ['serving stale', asBoolean(get(status, 'stale')) === true ? badge('stale') : undefined],
      ]),
    )}${section(
      'queries',
      'Queries',
      html`<div class="sparks">${sparkline('queries/s', queries, formatRate(queries.at(-1) ?? 0))}${sparkline('cache hits', hitRate, formatPercent(hitRate.at(-1) ?? 0), { floor: 1 })}</div><h3>By response code</h3><div class="sparks">${rcodeSparks(view)}</div>`,
    )}${section(
      'forwarding',
      'Forwarding',
      forwarders(status),
      html`<div class="sparks">${forwardRates.map(([o, r]) => sparkline(`forward ${o}`, r, formatRate(r.at(-1) ?? 0), { bad: o !== 'ok' && (r.at(-1) ?? 0) > 0 }))}</div>`,
      facts([
        ['refused (outside --allow-recursion)', asNumber(get(status, 'recursionRefused'))],
        ['shed (too many forwards)', asNumber(get(status, 'forwardsShed'))],
      ]),
    )}`;
  },
};

/** The lookup result (`/lookup` JSON) as a table; rendered by the server for the no-script form. */
export function lookupTable(result: unknown): Html {
  const name = asString(get(result, 'name')) ?? '';
  const rows = asArray(get(result, 'records')).map((r) => [
    asString(get(r, 'name')) ?? '',
    asString(get(r, 'host')) ?? '',
    asNumber(get(r, 'port')) ?? '',
    asString(get(r, 'text')) ?? '',
    asNumber(get(r, 'ttl')) ?? '',
    asNumber(get(r, 'priority')) ?? '',
    asNumber(get(r, 'weight')) ?? '',
    html`<code>${asString(get(r, 'key')) ?? ''}</code>`,
  ]);
  return html`${table(`Records of ${name}`, ['name', 'host', 'port', 'text', 'ttl', 'priority', 'weight', 'key'], rows, 'no records')}${
    asBoolean(get(result, 'truncated')) ? html`<p class="empty">More records exist; the first ${rows.length} are shown.</p>` : ''
  }`;
}
