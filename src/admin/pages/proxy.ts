/**
 * The proxy page: routes, services with their instances and state, requests/s and error rate
 * per service, recent ejections and retries; TLS certificates and TCP listeners when the
 * status has them (shapes in ../types.ts).
 */
import { formatClock, formatDuration, formatPercent, formatRate } from '../format.js';
import { html, type Html, type Part } from '../html.js';
import { asArray, asBoolean, asNumber, asObject, asString, get } from '../read.js';
import { ratio } from '../series.js';
import { sparkline } from '../sparkline.js';
import type { ModePage, PageEvent, PageView } from '../types.js';
import { badge, eventList, facts, section, table } from '../widgets.js';

const key = {
  requests: (service: string) => `req:${service}`,
  errors: (service: string) => `err:${service}`,
  retries: (service: string) => `retry:${service}`,
  ejections: (service: string) => `eject:${service}`,
};

function serviceMap(status: unknown): ReadonlyMap<string, readonly unknown[]> {
  const services = asObject(get(status, 'services')) ?? {};
  return new Map(Object.entries(services).map(([name, list]) => [name, asArray(list)]));
}

/** instance states by `service/id` */
function states(status: unknown): Map<string, { name: string; state: string; fails?: number; ejectedForMs?: number }> {
  const out = new Map<string, { name: string; state: string; fails?: number; ejectedForMs?: number }>();
  for (const [service, list] of serviceMap(status)) {
    for (const peer of list) {
      const id = asString(get(peer, 'id'));
      const state = asString(get(peer, 'state'));
      if (id === undefined || state === undefined) continue;
      const ids = asArray(get(peer, 'instances')).map(asString).filter((x) => x !== undefined);
      const name = `${service}/${ids.length > 0 ? `${ids.join(',')} (${id})` : id}`;
      const fails = asNumber(get(peer, 'fails'));
      const ejectedForMs = asNumber(get(peer, 'ejectedForMs'));
      out.set(`${service}/${id}`, { name, state, ...(fails !== undefined ? { fails } : {}), ...(ejectedForMs !== undefined ? { ejectedForMs } : {}) });
    }
  }
  return out;
}

/** Ejections and returns (state changes between two samples) and retries (counter increases). */
export function proxyEvents(before: unknown, after: unknown, deltas: ReadonlyMap<string, number>, now: number): PageEvent[] {
  const events: PageEvent[] = [];
  // the same sample twice (the status is resampled less often than the counters): no state changed
  const was = before === after ? new Map() : states(before);
  for (const [peerKey, peer] of before === after ? [] : states(after)) {
    const old = was.get(peerKey)?.state;
    const name = peer.name;
    if (old === undefined || old === peer.state) continue;
    if (peer.state === 'ejected' || peer.state === 'partly-ejected') {
      const until = peer.ejectedForMs !== undefined ? ` until ${formatClock(now + peer.ejectedForMs)}` : '';
      events.push({ at: now, kind: 'ejected', text: `${name} ejected${until}${peer.fails !== undefined ? ` after ${peer.fails} failures` : ''}` });
    } else if (peer.state === 'up') events.push({ at: now, kind: 'recovered', text: `${name} back up (was ${old})` });
    else events.push({ at: now, kind: 'info', text: `${name} ${old} -> ${peer.state}` });
  }
  for (const [k, delta] of deltas) {
    if (delta > 0 && k.startsWith('retry:')) events.push({ at: now, kind: 'retry', text: `${k.slice(6)}: ${delta} ${delta === 1 ? 'request' : 'requests'} retried on another instance` });
    // from the counter only when the status was not compared (else the comparison names the instance)
    if (delta > 0 && k.startsWith('eject:') && before === after) {
      events.push({ at: now, kind: 'ejected', text: `${k.slice(6)}: ${delta} ${delta === 1 ? 'instance' : 'instances'} ejected` });
    }
  }
  return events;
}

function stateCell(peer: unknown, now: number): Html {
  const state = asString(get(peer, 'state')) ?? 'unknown';
  const forMs = asNumber(get(peer, 'ejectedForMs'));
  const draining = asBoolean(get(peer, 'draining'));
  const workers = asArray(get(peer, 'workerStates')).map(asString).filter((s) => s !== undefined);
  return html`${badge(state)}${forMs !== undefined ? html` <small>until ${formatClock(now + forMs)} (${formatDuration(forMs)})</small>` : ''}${
    draining ? html` ${badge('draining')}` : ''
  }${workers.length > 1 ? html` <small>workers: ${workers.join(', ')}</small>` : ''}`;
}

function instanceRows(list: readonly unknown[], now: number): Part[][] {
  return list.map((peer) => {
    const ids = asArray(get(peer, 'instances')).map(asString).filter((s) => s !== undefined);
    const lease = asNumber(get(peer, 'leaseLeftMs'));
    return [
      ids.length > 0 ? ids.join(', ') : '-',
      html`<code>${asString(get(peer, 'id')) ?? '?'}</code>`,
      stateCell(peer, now),
      asNumber(get(peer, 'fails')) ?? '-',
      asNumber(get(peer, 'inflight')) ?? '-',
      asNumber(get(peer, 'weight')) ?? '-',
      lease !== undefined ? formatDuration(lease) : '-',
    ];
  });
}

function serviceBlock(name: string, list: readonly unknown[], view: PageView): Html {
  const requests = view.series.rates(key.requests(name));
  const errors = ratio(view.series.rates(key.errors(name)), requests);
  const retries = view.series.rates(key.retries(name));
  const lastErr = errors.at(-1) ?? 0;
  const up = list.filter((p) => asString(get(p, 'state')) === 'up').length;
  return html`<article class="service" data-service="${name}"><h3>${name} <small>${up}/${list.length} up</small></h3><div class="sparks">${sparkline('requests/s', requests, formatRate(requests.at(-1) ?? 0))}${sparkline('errors', errors, formatPercent(lastErr), { floor: 0.05, bad: lastErr > 0 })}${sparkline('retries/s', retries, formatRate(retries.at(-1) ?? 0), { bad: (retries.at(-1) ?? 0) > 0 })}</div>${table(
    `Instances of ${name}`,
    ['instance', 'address', 'state', 'fails', 'in flight', 'weight', 'lease left'],
    instanceRows(list, view.now),
    'no live instances',
  )}</article>`;
}

function routesSection(status: unknown): Html | '' {
  // src/proxy/engine.ts RoutesStatus: the effective table, shadowed routes, invalid values
  const routes = get(status, 'routes');
  const list = Array.isArray(routes) ? routes : asArray(get(routes, 'table'));
  if (routes === undefined) return '';
  const row = (r: unknown): Part[] => [
    asString(get(r, 'name')) ?? '',
    asString(get(r, 'source')) ?? '',
    asString(get(r, 'host')) ?? '*',
    asString(get(r, 'path')) ?? '/',
    `${asString(get(r, 'action')) ?? ''}${asString(get(r, 'service')) ? ` to ${asString(get(r, 'service'))}` : ''}`,
    asString(get(r, 'balance')) ?? '',
  ];
  const shadowed = asArray(get(routes, 'shadowed')).map((r) => [...row(r), asString(get(r, 'shadowedBy')) ?? '']);
  const invalid = asArray(get(routes, 'invalid')).map((i) => [asString(get(i, 'key')) ?? '', asString(get(i, 'reason')) ?? '']);
  return section(
    'routes',
    'Routes',
    html`${table('Routes', ['name', 'source', 'host', 'path', 'action', 'balance'], list.map(row), 'no routes')}${shadowed.length > 0 ? table('Shadowed routes', ['name', 'source', 'host', 'path', 'action', 'balance', 'shadowed by'], shadowed, '') : ''}${invalid.length > 0 ? table('Invalid route values (skipped)', ['key', 'reason'], invalid, '') : ''}`,
  );
}

function certificatesSection(status: unknown, now: number): Html | '' {
  const certs = get(status, 'certificates');
  if (!Array.isArray(certs)) return '';
  const rows = certs.map((c) => {
    const notAfter = asString(get(c, 'notAfter'));
    const left = notAfter ? Date.parse(notAfter) - now : NaN;
    return [
      asString(get(c, 'name')) ?? '',
      asArray(get(c, 'hosts')).map(asString).filter((s) => s !== undefined).join(', '),
      notAfter ?? '-',
      Number.isFinite(left) ? (left < 0 ? badge('expired') : left < 14 * 86_400_000 ? html`<span class="badge warn">${formatDuration(left)}</span>` : formatDuration(left)) : '-',
      asString(get(c, 'issuer')) ?? '',
    ];
  });
  return section('certificates', 'TLS certificates', table('Certificates', ['name', 'hosts', 'expires', 'left', 'issuer'], rows, 'no certificates'));
}

function acmeSection(status: unknown): Html | '' {
  const acme = get(status, 'acme');
  const hosts = asArray(get(acme, 'hosts'));
  const skipped = asArray(get(acme, 'skipped'));
  if (hosts.length === 0 && skipped.length === 0) return '';
  // the shape of src/proxy/acme/issuer.ts AcmeStatus
  const rows = hosts.map((h) => [
    asString(get(h, 'host')) ?? '',
    badge(asString(get(h, 'state')) ?? 'unknown'),
    asString(get(h, 'validUntil')) ?? '-',
    asString(get(h, 'renewAt')) ?? '-',
    asString(get(h, 'nextTry')) ?? '-',
    asString(get(h, 'lastError')) ?? '',
  ]);
  const issuer = asBoolean(get(acme, 'issuer'));
  return section(
    'acme',
    'ACME certificates',
    facts([
      ['directory', asString(get(acme, 'directory'))],
      ['this proxy orders', issuer === undefined ? undefined : badge(issuer ? 'yes' : 'no')],
      ['routes skipped', skipped.map((r) => `${asString(get(r, 'route')) ?? '?'}: ${asString(get(r, 'reason')) ?? ''}`).join('; ') || undefined],
    ]),
    table('ACME hosts', ['host', 'state', 'valid until', 'renew at', 'next try', 'last error'], rows, 'no hosts ask for ACME'),
  );
}

function tcpSection(status: unknown): Html | '' {
  const listeners = get(status, 'tcp');
  if (!Array.isArray(listeners)) return '';
  // the shape of src/proxy/tcp/listeners.ts TcpListenerStatus: open/total connections, and each
  // instance with its state and open connections
  const rows = listeners.map((l) => [
    asString(get(l, 'listen')) ?? '',
    asString(get(l, 'service')) ?? '',
    asString(get(l, 'balance')) ?? '',
    `${asNumber(get(l, 'open')) ?? asNumber(get(l, 'connections')) ?? '-'} open / ${asNumber(get(l, 'total')) ?? '-'} total`,
    asArray(get(l, 'instances'))
      .map((i) => `${asString(get(i, 'id')) ?? '?'} (${asString(get(i, 'state')) ?? '?'}, ${asNumber(get(i, 'open')) ?? 0} open)`)
      .join(', ') || 'no live instance',
  ]);
  return section('tcp', 'TCP listeners', table('TCP listeners', ['listen', 'service', 'balance', 'connections', 'instances'], rows, 'no TCP listeners'));
}

function workersSection(status: unknown): Html | '' {
  const workers = asArray(get(status, 'workers'));
  if (workers.length === 0) return '';
  const rows = workers.map((w) => [asNumber(get(w, 'index')) ?? '', asNumber(get(w, 'pid')) ?? '-', badge(asBoolean(get(w, 'ready')) ? 'ready' : 'not ready'), asNumber(get(w, 'inflight')) ?? '-', asNumber(get(w, 'requests')) ?? '-', asNumber(get(w, 'restarts')) ?? 0]);
  return section('workers', 'Workers', table('Workers', ['#', 'pid', 'state', 'in flight', 'requests', 'restarts'], rows));
}

function sumOver(view: PageView, prefix: string): number[] {
  let out: number[] = [];
  for (const name of serviceMap(view.status).keys()) {
    const r = view.series.rates(`${prefix}${name}`);
    if (r.length > out.length) out = [...Array<number>(r.length - out.length).fill(0), ...out];
    const off = out.length - r.length;
    r.forEach((v, i) => (out[off + i]! += v));
  }
  return out;
}

export const proxyPage: ModePage = {
  counters: [
    {
      metric: 'beacon_proxy_requests_total',
      keys: (labels) => {
        const service = String(labels.service ?? '-');
        return Number(labels.status) >= 500 ? [key.requests(service), key.errors(service)] : [key.requests(service)];
      },
    },
    { metric: 'beacon_proxy_retries_total', keys: (labels) => [key.retries(String(labels.service ?? '-'))] },
    { metric: 'beacon_proxy_ejections_total', keys: (labels) => [key.ejections(String(labels.service ?? '-'))] },
  ],
  events: proxyEvents,
  sections(view) {
    const status = view.status;
    const services = serviceMap(status);
    const total = sumOver(view, 'req:');
    const errs = ratio(sumOver(view, 'err:'), total);
    const ejections = view.events.filter((e) => e.kind === 'ejected' || e.kind === 'recovered' || e.kind === 'info');
    const retries = view.events.filter((e) => e.kind === 'retry');
    return html`${section(
      'summary',
      'Proxy',
      facts([
        ['listen', asString(get(status, 'listen'))],
        ['ready', badge(asBoolean(get(status, 'ready')) ? 'yes' : 'no')],
        ['in flight', asNumber(get(status, 'inflight'))],
        ['requests', asNumber(get(status, 'requests'))],
        ['services', services.size],
      ]),
      html`<div class="sparks">${sparkline('requests/s', total, formatRate(total.at(-1) ?? 0))}${sparkline('errors', errs, formatPercent(errs.at(-1) ?? 0), { floor: 0.05, bad: (errs.at(-1) ?? 0) > 0 })}</div>`,
    )}${routesSection(status)}${section(
      'services',
      'Services',
      services.size === 0 ? html`<p class="empty">No services in the store yet.</p>` : [...services].map(([name, list]) => serviceBlock(name, list, view)),
    )}${section('ejections', 'Recent ejections', eventList('Ejections', ejections))}${section('retries', 'Recent retries', eventList('Retries', retries))}${certificatesSection(status, view.now)}${acmeSection(status)}${tcpSection(status)}${workersSection(status)}`;
  },
};
