import type { Catalog } from '../catalog/catalog.js';
import type { ModeContext, RunningMode } from '../mode.js';
import type { Route } from '../routes/route.js';
import type { RoutesConfig } from './command.js';
import { actionText, aligned, openCatalog, synced, tableOf } from './view.js';

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
export class RoutesCommand implements RunningMode {
  private readonly catalog: Catalog;
  private resolveFinished!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.resolveFinished = resolve));

  constructor(
    private readonly config: RoutesConfig,
    private readonly ctx: ModeContext,
  ) {
    this.catalog = openCatalog(config, ctx);
  }

  async start(): Promise<void> {
    if (!(await synced(this.catalog, this.config.timeout))) {
      this.ctx.log.error({ store: this.ctx.store().description, timeoutMs: this.config.timeout }, 'store did not answer');
      this.resolveFinished(1);
      return;
    }
    this.print();
    if (!this.config.watch) {
      this.resolveFinished(0);
      return;
    }
    this.catalog.on('change', () => this.print());
  }

  private row(r: Route): RouteRow {
    const instances = r.service === undefined ? 0 : this.catalog.instances(r.service).length;
    return { name: r.name, source: r.source, host: r.host ?? null, path: r.path, action: actionText(r), service: r.service ?? null, balance: r.balance, priority: r.priority, instances };
  }

  private print(): void {
    const table = tableOf(this.catalog, this.config);
    const rows = table.routes.map((r) => this.row(r));
    const shadowed = table.shadowed.map((s) => ({ ...this.row(s.route), shadowedBy: s.by.name }));
    const invalid = [...this.catalog.routesInvalid()].map(([key, reason]) => ({ key, reason }));
    const fallback = { domain: this.config.domain ?? null, defaultService: this.config.defaultService ?? null };
    if (this.config.json) {
      this.ctx.stdout.write(`${JSON.stringify({ revision: this.catalog.revision, routes: rows, shadowed, invalid, fallback })}\n`);
      return;
    }
    const clear = this.config.watch && (this.ctx.stdout as NodeJS.WriteStream).isTTY ? '\x1b[H\x1b[2J' : '';
    const cells = rows.map((r) => [r.source, r.host ?? '*', r.path, r.action, r.service ?? '-', String(r.instances), r.balance, r.name]);
    let out = `${aligned(['SOURCE', 'HOST', 'PATH', 'ACTION', 'SERVICE', 'LIVE', 'BALANCE', 'NAME'], cells)}\n`;
    out += `${rows.length} route(s) at revision ${this.catalog.revision}`;
    if (fallback.domain) out += `; then <service>.${fallback.domain}`;
    if (fallback.defaultService) out += `; then --default-service ${fallback.defaultService}`;
    out += '\n';
    for (const s of shadowed) out += `shadowed: ${s.name} (${s.host ?? '*'}${s.path}) by ${s.shadowedBy}\n`;
    for (const i of invalid) out += `invalid: ${i.key}: ${i.reason}\n`;
    this.ctx.stdout.write(clear + out);
  }

  async stop(): Promise<void> {
    await this.catalog.stop();
  }

  ready(): boolean {
    return this.catalog.ready;
  }

  status(): unknown {
    return { mode: 'routes', revision: this.catalog.revision };
  }
}
