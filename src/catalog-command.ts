/**
 * How the read-only commands over the catalog (`services`, `routes`, `explain`) run: wait for the
 * catalog's first snapshot, or give up after --timeout with exit code 1; print; with --watch,
 * print again on every change until stopped. Neutral ground, as src/mode.ts: the commands'
 * folders import it, never each other.
 */
import type { Catalog } from './catalog/catalog.js';
import type { ModeContext, RunningMode } from './mode.js';

export interface CatalogCommandSettings {
  /** the mode's name in /status */
  readonly mode: string;
  /** ms to wait for the store's first answer */
  readonly timeout: number;
  /** keep running and print again on every change */
  readonly watch: boolean;
}

export abstract class CatalogCommand implements RunningMode {
  private resolveFinished!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => (this.resolveFinished = resolve));

  constructor(
    protected readonly catalog: Catalog,
    protected readonly ctx: ModeContext,
    private readonly settings: CatalogCommandSettings,
  ) {}

  /** Writes the catalog's current state to stdout. Synchronous with --watch, so every change is printed in its turn. */
  protected abstract print(): void | Promise<void>;

  async start(): Promise<void> {
    const { timeout, watch } = this.settings;
    if (!(await synced(this.catalog, timeout))) {
      this.ctx.log.error({ store: this.ctx.store().description, timeoutMs: timeout }, 'store did not answer');
      this.resolveFinished(1);
      return;
    }
    if (!watch) {
      await this.print();
      this.resolveFinished(0);
      return;
    }
    void this.print();
    this.catalog.on('change', () => void this.print());
  }

  /** Writes text for a person: with --watch on a terminal, the screen is cleared first so the text redraws in place. */
  protected redraw(text: string): void {
    const clear = this.settings.watch && (this.ctx.stdout as NodeJS.WriteStream).isTTY ? '\x1b[H\x1b[2J' : '';
    this.ctx.stdout.write(clear + text);
  }

  async stop(): Promise<void> {
    await this.catalog.stop();
  }

  ready(): boolean {
    return this.catalog.ready;
  }

  status(): unknown {
    return { mode: this.settings.mode, revision: this.catalog.revision };
  }
}

/** Resolves true once the catalog holds its first snapshot, false after the timeout. */
async function synced(catalog: Catalog, timeoutMs: number): Promise<boolean> {
  const done = catalog.start().then(() => true);
  const timedOut = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  return Promise.race([done, timedOut]);
}
