import { CatalogCommand } from '../catalog-command.js';
import { formatEndpoint } from '../catalog/values.js';
import type { ModeContext } from '../mode.js';
import { routeAction } from '../routes/action.js';
import { normalizeHost, normalizePath } from '../routes/path.js';
import { describeMatch, matchRoute } from '../routes/table.js';
import type { ExplainConfig } from './command.js';
import { actionText, openCatalog, tableOf } from './view.js';

export interface InstanceState {
  instance: string;
  address: string;
  key: string;
  /** registered in the store (announce registers only passing instances) */
  state: 'registered';
  /** ms left on its lease, null when it has none (or it ran out meanwhile) */
  leaseMsLeft: number | null;
}

export interface Explanation {
  url: string;
  host: string;
  path: string;
  revision: number;
  route: { name: string; source: string; host: string | null; path: string; action: string; balance: string; priority: number } | null;
  why: string;
  action: { kind: 'forward'; service: string; target: string } | { kind: 'redirect'; status: number; location: string } | { kind: 'none'; status: 404 };
  instances: InstanceState[];
  shadowed: string[];
  note: string;
}

const EJECTION_NOTE = 'ejection is passive and per proxy process (its /status shows it); from the store an instance is registered or absent';

/** `beacon explain URL`: the route, service and instances a request would meet, from one store revision. */
export class ExplainCommand extends CatalogCommand {
  constructor(
    private readonly config: ExplainConfig,
    ctx: ModeContext,
  ) {
    super(openCatalog(config, ctx), ctx, { mode: 'explain', timeout: config.timeout, watch: false });
  }

  protected async print(): Promise<void> {
    const e = await this.explain();
    this.ctx.stdout.write(this.config.json ? `${JSON.stringify(e)}\n` : text(e));
  }

  private async explain(): Promise<Explanation> {
    // everything below comes from the catalog's one snapshot (one revision); only lease times are asked after
    const url = new URL(this.config.url!);
    const host = normalizeHost(url.host);
    const target = `${url.pathname}${url.search}`;
    const path = normalizePath(target);
    const table = tableOf(this.catalog, this.config);
    const revision = this.catalog.revision;
    const match = matchRoute(table, host, path);
    const shadowed = table.shadowed.filter((s) => match !== undefined && s.by === match.route).map((s) => s.route.name);
    if (match === undefined) {
      return { url: url.href, host, path, revision, route: null, why: `no route for host "${host}" covers path "${path}", and no --domain or --default-service applies`, action: { kind: 'none', status: 404 }, instances: [], shadowed, note: EJECTION_NOTE };
    }
    const r = match.route;
    const action = routeAction(r, target, path, url.host, url.protocol === 'https:' ? 'https' : 'http');
    const instances: InstanceState[] = [];
    if (action.kind === 'forward') {
      const store = this.ctx.store();
      for (const i of this.catalog.instances(action.service)) {
        const left = i.lease ? await store.leaseRemaining(i.lease).catch(() => undefined) : undefined;
        instances.push({ instance: i.id, address: formatEndpoint(i.host, i.port), key: i.key, state: 'registered', leaseMsLeft: left ?? null });
      }
    }
    return {
      url: url.href,
      host,
      path,
      revision,
      route: { name: r.name, source: r.source, host: r.host ?? null, path: r.path, action: actionText(r), balance: r.balance, priority: r.priority },
      why: describeMatch(match, host, path),
      action,
      instances,
      shadowed,
      note: EJECTION_NOTE,
    };
  }
}

function text(e: Explanation): string {
  const lines = [`url:      ${e.url}`, `match on: host "${e.host}", path "${e.path}" (normalised), store revision ${e.revision}`];
  if (e.route === null) {
    lines.push(`route:    none -> 404`, `why:      ${e.why}`);
    return `${lines.join('\n')}\n`;
  }
  const r = e.route;
  lines.push(`route:    ${r.name} (${r.source}): host ${r.host ?? '*'}, path ${r.path}, priority ${r.priority}`);
  lines.push(`why:      ${e.why}`);
  for (const s of e.shadowed) lines.push(`shadows:  ${s} (same host and path, lower precedence)`);
  const a = e.action;
  if (a.kind === 'redirect') lines.push(`action:   redirect ${a.status} to ${a.location}`);
  else if (a.kind === 'forward') {
    lines.push(`action:   forward to service ${a.service} as ${a.target}, balance ${r.balance}`);
    lines.push(`instances (${e.instances.length}):${e.instances.length === 0 ? ' none live -> 503' : ''}`);
    for (const i of e.instances) {
      const lease = i.leaseMsLeft === null ? 'no lease' : `lease ${(i.leaseMsLeft / 1000).toFixed(1)} s left`;
      lines.push(`  ${i.instance}  ${i.address}  ${i.state}, ${lease}`);
    }
    lines.push(`note:     ${e.note}`);
  }
  return `${lines.join('\n')}\n`;
}
