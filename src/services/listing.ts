import { Catalog } from '../catalog/catalog.js';
import type { ModeContext, RunningMode } from '../mode.js';
import type { ServicesConfig } from './command.js';
import { formatTable, serviceRows } from './table.js';

/** `beacon services`: print the catalog once, or on every change with --watch. */
export class ServicesCommand implements RunningMode {
  private readonly catalog: Catalog;
  private resolveFinished!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.resolveFinished = resolve));

  constructor(
    private readonly config: ServicesConfig,
    private readonly ctx: ModeContext,
  ) {
    this.catalog = new Catalog({ store: ctx.store(), log: ctx.log, services: { prefix: config.servicesPrefix } });
  }

  async start(): Promise<void> {
    const synced = this.catalog.start().then(() => true);
    const timedOut = new Promise<false>((resolve) => setTimeout(() => resolve(false), this.config.timeout).unref());
    if (!(await Promise.race([synced, timedOut]))) {
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

  private print(): void {
    const rows = serviceRows(this.catalog.services());
    if (this.config.json) {
      this.ctx.stdout.write(`${JSON.stringify(rows)}\n`);
    } else {
      // In watch mode on a terminal, redraw in place.
      const clear = this.config.watch && (this.ctx.stdout as NodeJS.WriteStream).isTTY ? '\x1b[H\x1b[2J' : '';
      this.ctx.stdout.write(`${clear}${formatTable(rows)}`);
    }
  }

  async stop(): Promise<void> {
    await this.catalog.stop();
  }

  ready(): boolean {
    return this.catalog.ready;
  }

  status(): unknown {
    return { mode: 'services', revision: this.catalog.revision };
  }
}
