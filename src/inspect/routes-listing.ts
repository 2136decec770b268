import { CatalogCommand } from '../catalog-command.js';
import type { ModeContext } from '../mode.js';
import type { Route } from '../routes/route.js';
import { alignedTable } from '../text-table.js';
import type { RoutesConfig } from './command.js';
import { actionText, openCatalog, tableOf } from './view.js';

export interface RouteRow {
  name: string;
  source: string;
  host: string | null;
  path: string;
  action: string;
  service: string | null;
  balance: string;
  priority: number;
  /** live instances of the service (registered in the store) */
  instances: number;
}

/** `beacon routes`: the effective table once, or on every change with --watch. */
export class RoutesCommand extends CatalogCommand {
  constructor(
    private readonly config: RoutesConfig,
    ctx: ModeContext,
  ) {
    super(openCatalog(config, ctx), ctx, { mode: 'routes', timeout: config.timeout, watch: config.watch });
  }

  private row(r: Route): RouteRow {
    const instances = r.service === undefined ? 0 : this.catalog.instances(r.service).length;
    return { name: r.name, source: r.source, host: r.host ?? null, path: r.path, action: actionText(r), service: r.service ?? null, balance: r.balance, priority: r.priority, instances };
  }

  protected print(): void {
    const table = tableOf(this.catalog, this.config);
    const rows = table.routes.map((r) => this.row(r));
    const shadowed = table.shadowed.map((s) => ({ ...this.row(s.route), shadowedBy: s.by.name }));
    const invalid = [...this.catalog.routesInvalid()].map(([key, reason]) => ({ key, reason }));
    const fallback = { domain: this.config.domain ?? null, defaultService: this.config.defaultService ?? null };
    if (this.config.json) {
      this.ctx.stdout.write(`${JSON.stringify({ revision: this.catalog.revision, routes: rows, shadowed, invalid, fallback })}\n`);
      return;
    }
    const cells = rows.map((r) => [r.source, r.host ?? '*', r.path, r.action, r.service ?? '-', String(r.instances), r.balance, r.name]);
    let out = `${alignedTable(['SOURCE', 'HOST', 'PATH', 'ACTION', 'SERVICE', 'LIVE', 'BALANCE', 'NAME'], cells)}\n`;
    out += `${rows.length} route(s) at revision ${this.catalog.revision}`;
    if (fallback.domain) out += `; then <service>.${fallback.domain}`;
    if (fallback.defaultService) out += `; then --default-service ${fallback.defaultService}`;
    out += '\n';
    for (const s of shadowed) out += `shadowed: ${s.name} (${s.host ?? '*'}${s.path}) by ${s.shadowedBy}\n`;
    for (const i of invalid) out += `invalid: ${i.key}: ${i.reason}\n`;
    this.redraw(out);
  }
}
