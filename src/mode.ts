import type { Writable } from 'node:stream';
import type { Registry } from 'prom-client';
import type { FlagSpec, ParsedFlags } from './config/flags.js';
import type { Logger } from './log.js';
import type { Store } from './store/store.js';

/**
 * The contract between the command line and the modes. Neutral ground: modes import it, and the
 * command line (src/cli/) imports the modes' definitions; no mode imports src/cli/.
 */

/** What every mode is: an object with start()/stop(), no global state. */
export interface RunningMode {
  /** resolves once the mode serves (listening, first sync attempted) */
  start(): Promise<void>;
  /** graceful: stop accepting, finish or hand back in-flight work, release the store */
  stop(): Promise<void>;
  /** for `GET /readyz` */
  ready(): boolean;
  /** for `GET /status` */
  status(): unknown;
  /** how many entries status() would list (instances): the admin page leaves a large one alone while nobody looks */
  statusSize?(): number;
  /** one-shot modes (services, render --onetime) resolve this with their exit code */
  readonly finished?: Promise<number>;
}

export interface ModeContext {
  readonly flags: ParsedFlags;
  readonly log: Logger;
  /** this process's Prometheus registry, served on `/metrics` */
  readonly metrics: Registry;
  /** opens the store named by --store on first call, then returns the same one */
  store(): Store;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Writable;
  /** the words before the flags, for modes that take them (`beacon tls put NAME`) */
  readonly args?: readonly string[];
}

/**
 * A mode as the command line sees it. The metadata (name, usage, summary, flags) is all a
 * definition module holds statically, with pure validators; the mode's code is imported by
 * create() only when the mode runs, so a mode that cannot load (the proxy on a Node without the
 * internals it reads) never takes `--help` or another mode down with it.
 */
export interface ModeDefinition {
  readonly name: string;
  /** one line: `beacon dns [--listen ADDR] ...` */
  readonly usage: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** a flag a leading bare argument fills (`beacon explain URL` = `beacon explain --url URL`) */
  readonly positional?: string;
  /** long-running modes get --admin and SIGTERM handling */
  readonly daemon: boolean;
  /** how many words before the flags the mode takes (e.g. `tls put NAME`: 2); default none */
  readonly positionals?: number;
  /**
   * Validates the flags (throwing UsageError, which exits 2), then imports the mode's code with
   * `await import()` and builds the mode. No I/O here beyond loading modules: start() does it.
   */
  create(ctx: ModeContext): Promise<RunningMode>;
}
