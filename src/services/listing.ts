import { CatalogCommand } from '../catalog-command.js';
import { Catalog } from '../catalog/catalog.js';
import type { ModeContext } from '../mode.js';
import type { ServicesConfig } from './command.js';
import { formatTable, serviceRows } from './table.js';

/** `beacon services`: print the catalog once, or on every change with --watch. */
export class ServicesCommand extends CatalogCommand {
  constructor(
    private readonly config: ServicesConfig,
    ctx: ModeContext,
  ) {
    super(new Catalog({ store: ctx.store(), log: ctx.log, services: { prefix: config.servicesPrefix } }), ctx, { mode: 'services', timeout: config.timeout, watch: config.watch });
  }

  protected print(): void {
    const rows = serviceRows(this.catalog.services());
    if (this.config.json) {
      this.ctx.stdout.write(`${JSON.stringify(rows)}\n`);
    } else {
      this.redraw(formatTable(rows));
    }
  }
}
