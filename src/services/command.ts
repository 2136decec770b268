import type { ModeDefinition, ModeContext, RunningMode } from '../cli/mode.js';
import { Catalog } from '../catalog/catalog.js';
import type { StoreConfig } from '../config/common.js';
import { formatTable, serviceRows } from './table.js';

interface ServicesConfig extends StoreConfig {
  json: boolean;
  watch: boolean;
  timeout: number;
}

class ServicesCommand implements RunningMode {
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

export const definition: ModeDefinition = {
  name: 'services',
  usage: 'beacon services [--json] [--watch]',
  summary: 'list services and their instances from the store',
  daemon: false,
  flags: [
    { name: 'json', type: 'bool', default: false, help: 'print JSON (one array of {service, instance, address, key, lease}) for scripts' },
    { name: 'watch', type: 'bool', default: false, help: 'keep running and print the table again on every change' },
    { name: 'timeout', type: 'duration', default: 10_000, min: 100, help: 'give up when the store does not answer in this time' },
  ],
  create: (ctx) => new ServicesCommand(ctx.flags as unknown as ServicesConfig, ctx),
};
