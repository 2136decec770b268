/**
 * The render mode's I/O shell: keeps the store view (catalog), watches conf.d and templates,
 * debounces changes and runs the apply pipeline for every resource, one run at a time.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Registry } from 'prom-client';
import { Catalog } from '../catalog/catalog.js';
import type { RunningMode } from '../mode.js';
import { describeCause, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { applyContent, readCurrent, type ApplyResult, type ApplyTarget } from './apply.js';
import { isSuccess, RenderOutcomes, type Outcome } from './outcomes.js';
import { confdFuncs } from './funcs.js';
import { KeyValues } from './kv.js';
import { dnsResolver, evaluateWithLookups, TemplateLookups, type LookupResolver } from './lookup.js';
import { loadResources, minimalPrefixes, resourceEntries, type TemplateResource } from './resource.js';
import { Template } from './template/exec.js';
import { emptyUpstreams, servicesFromValues, UpstreamsFile, type UpstreamsUpdate } from './upstreams.js';
import { ValuesMirror } from './mirror.js';
import { Debouncer, type Wait } from './wait.js';
import { registerCatalogMetrics } from '../catalog/metrics.js';

export interface RenderConfig {
  /** undefined: no template resources (only --nginx-upstreams) */
  readonly confdir?: string;
  readonly prefix: string;
  readonly onetime: boolean;
  readonly noop: boolean;
  readonly wait: Wait;
  readonly timeoutMs: number;
  readonly servicesPrefix: string;
  readonly nginxUpstreams?: { file: string; checkCmd?: string; reloadCmd?: string };
  /** template lookups: DNS servers (none: the system's) and the time limit of one lookup */
  readonly lookup: { readonly servers?: readonly string[]; readonly timeoutMs: number };
}

interface RenderDeps {
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(chunk: string): unknown };
}

/** What one run sees: every key of one revision, and the upstreams file of that revision. */
interface ViewSnapshot {
  readonly revision: number;
  readonly values: ReadonlyMap<string, string>;
  /** rendered when the run writes the --nginx-upstreams file */
  readonly upstreams?: UpstreamsUpdate;
}

const UPSTREAMS_NAME = 'nginx-upstreams';

const EMPTY_VIEW: ViewSnapshot = { revision: 0, values: new Map() };

export class Renderer implements RunningMode {
  readonly finished?: Promise<number>;
  private resolveFinished?: (code: number) => void;
  private confdir: string | undefined;
  private resources: TemplateResource[] = [];
  private resourceErrors: string[] = [];
  private catalog: Catalog | undefined;
  private catalogPrefixes: string[] = [];
  /** --onetime reads without a catalog; its skipped values are counted here */
  private readonly onetimeStats = { malformed: 0 };
  private watcher: FSWatcher | undefined;
  private readonly debouncer: Debouncer;
  private running: Promise<void> | undefined;
  private rerun = false;
  private resourcesDirty = false;
  /** keys changed since the last run began ('all': a new view or new resources) */
  private marked: Set<string> | 'all' = 'all';
  private stopped = false;
  private runs = 0;
  private lastRevision = 0;
  private readonly outcomes: RenderOutcomes;
  private readonly resolver: LookupResolver;
  /** the values templates read, kept up to date per changed key */
  private readonly mirror = new ValuesMirror();
  /** the upstreams file as blocks per service; undefined until the first run that writes it */
  private upstreamsFile: UpstreamsFile | undefined;

  constructor(
    private readonly config: RenderConfig,
    private readonly deps: RenderDeps,
  ) {
    this.confdir = config.confdir;
    if (config.onetime) this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.debouncer = new Debouncer(config.wait, () => this.schedule());
    this.resolver = dnsResolver(config.lookup);
    this.outcomes = new RenderOutcomes(deps.metrics, deps.log);
    registerCatalogMetrics(deps.metrics, () => this.catalog);
  }

  async start(): Promise<void> {
    if (this.confdir !== undefined && !(await isDirectory(join(this.confdir, 'conf.d')))) {
      if (!this.config.nginxUpstreams) throw new UsageError('--confdir', `${join(this.confdir, 'conf.d')} is not a directory (expected conf.d/*.toml and templates/)`);
      this.deps.log.debug({ confdir: this.confdir }, 'no conf.d directory; rendering --nginx-upstreams only');
      this.confdir = undefined;
    }
    this.reloadResources();
    if (this.config.onetime) {
      void this.runOnce().then(
        (code) => this.resolveFinished?.(code),
        (err) => {
          this.deps.log.error({ err: describeCause(err) }, 'render failed');
          this.resolveFinished?.(1);
        },
      );
      return;
    }
    this.watchConfdir();
    this.ensureCatalog();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.debouncer.cancel();
    await this.watcher?.close();
    await this.catalog?.stop();
    await this.running;
  }

  ready(): boolean {
    if (this.config.onetime) return true;
    // without a catalog, ready once there are resources (they read no keys)
    return this.catalog?.ready ?? this.resources.length > 0;
  }

  status(): unknown {
    return {
      mode: this.config.onetime ? 'onetime' : 'watch',
      noop: this.config.noop,
      confdir: this.confdir ?? null,
      wait: { min: this.config.wait.minMs, max: this.config.wait.maxMs },
      revision: this.lastRevision,
      runs: this.runs,
      pending: this.debouncer.pending || this.running !== undefined,
      prefixes: this.catalogPrefixes,
      malformed: this.catalog?.malformed ?? this.onetimeStats.malformed,
      resourceErrors: this.resourceErrors,
      resources: [...this.outcomes.statuses.values()],
      ...(this.catalog ? { store: this.catalog.storeState() } : {}),
    };
  }

  // ---- resources and watching ----

  private reloadResources(): void {
    this.resourcesDirty = false;
    if (this.confdir === undefined) return;
    const { resources, errors } = loadResources(this.confdir, this.config.prefix);
    this.resources = resources;
    this.resourceErrors = errors.map((e) => e.message);
    for (const e of errors) this.deps.log.error({ file: e.file }, `skipping template resource: ${e.message}`);
    for (const r of resources) {
      if (!this.outcomes.statuses.has(r.file)) this.outcomes.statuses.set(r.file, { name: r.name, dest: r.dest, src: r.src, writes: 0, failures: 0 });
    }
    for (const key of [...this.outcomes.statuses.keys()]) {
      if (key !== UPSTREAMS_NAME && !resources.some((r) => r.file === key)) this.outcomes.statuses.delete(key);
    }
    this.deps.log.info({ resources: resources.map((r) => r.name) }, 'template resources loaded');
  }

  private prefixes(): string[] {
    const keys = this.resources.flatMap((r) => r.keys);
    if (this.config.nginxUpstreams) keys.push(withSlash(this.config.servicesPrefix));
    return minimalPrefixes(keys);
  }

  /** (Re)creates the catalog when the set of prefixes changed (a new resource reads new keys). */
  private ensureCatalog(): void {
    const prefixes = this.prefixes();
    if (this.catalog && sameList(prefixes, this.catalogPrefixes)) return;
    const old = this.catalog;
    this.catalogPrefixes = prefixes;
    if (prefixes.length === 0) {
      this.catalog = undefined;
      void old?.stop();
      // resources that read no keys render without a store view (confd renders them too)
      if (this.resources.length > 0) this.debouncer.trigger();
      else this.deps.log.warn({ confdir: this.confdir }, 'no template resources yet; waiting for conf.d/*.toml');
      return;
    }
    const services = this.config.nginxUpstreams ? withSlash(this.config.servicesPrefix) : undefined;
    const catalog = new Catalog({
      store: this.deps.store,
      log: this.deps.log,
      ...(services ? { services: { prefix: this.config.servicesPrefix } } : {}),
      // the services prefix is mirrored by the catalog already; do not watch it twice
      extraPrefixes: prefixes.filter((p) => p !== services),
      // templates reading `/services` keys get them as stored (kept twice only then)
      rawParsed: services !== undefined && this.resources.some((r) => r.keys.some((k) => k.startsWith(services) || services.startsWith(k))),
    });
    this.catalog = catalog;
    catalog.on('change', (change) => {
      if (this.catalog !== catalog) return;
      if (change.reset) this.marked = 'all';
      else if (this.marked !== 'all') for (const key of change.keys) this.marked.add(key);
      this.debouncer.trigger();
    });
    void old?.stop();
    void catalog.start();
  }

  private watchConfdir(): void {
    const dir = this.confdir;
    if (dir === undefined) return;
    this.watcher = watch([join(dir, 'conf.d'), join(dir, 'templates')], { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 25 } });
    const changed = (path: string): void => {
      if (path.endsWith('.staged') || /\/\.[^/]*$/.test(path)) return;
      this.deps.log.info({ path }, 'confdir changed');
      this.resourcesDirty = true;
      this.debouncer.trigger();
    };
    this.watcher.on('add', changed).on('change', changed).on('unlink', changed);
    this.watcher.on('error', (err) => this.deps.log.warn({ err: describeCause(err) }, 'watching confdir failed'));
  }

  // ---- runs ----

  /** Serializes runs: a trigger during a run causes exactly one more run after it. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    const loop = async (): Promise<void> => {
      do {
        this.rerun = false;
        if (this.resourcesDirty) {
          this.reloadResources();
          this.ensureCatalog();
          this.marked = 'all';
        }
        const catalog = this.catalog;
        if (!catalog) {
          // no keys to read: only resources without keys (if any) are left to render
          if (this.resources.length > 0) await this.runAll(EMPTY_VIEW, { resources: this.resources, upstreams: false });
          continue;
        }
        // a new catalog's first snapshot triggers its own run
        if (catalog.revision === 0) continue;
        const target = this.config.nginxUpstreams;
        if (target && !this.upstreamsFile) this.upstreamsFile = await loadUpstreamsFile(target.file);
        // from here to runAll nothing awaits: the view is the catalog's at one revision
        const marked = this.marked;
        this.marked = new Set();
        this.mirror.update(catalog.rawEntries(), marked);
        const work = this.touched(marked);
        if (work.resources.length === 0 && !work.upstreams) {
          this.lastRevision = catalog.revision;
          continue;
        }
        await this.runAll(this.snapshot(catalog, work), work);
      } while (this.rerun && !this.stopped);
    };
    // .finally runs asynchronously, so `running` is cleared only after it was set
    this.running = loop()
      .catch((err: unknown) => this.deps.log.error({ err: describeCause(err) }, 'render run failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** --onetime: one read at one revision, every resource once; 0 when all succeeded. */
  private async runOnce(): Promise<number> {
    const prefixes = this.prefixes();
    this.catalogPrefixes = prefixes;
    if (this.resources.length === 0 && !this.config.nginxUpstreams) {
      this.deps.log.error({ confdir: this.confdir }, 'nothing to render: no template resources and no --nginx-upstreams');
      return 1;
    }
    if (prefixes.length === 0) {
      const ok = await this.runAll(EMPTY_VIEW, { resources: this.resources, upstreams: false });
      return ok && this.resourceErrors.length === 0 ? 0 : 1;
    }
    // one read of every prefix at one revision; no watch
    const snapshot = await this.deps.store.read(prefixes);
    const values = new Map(snapshot.kvs.map((kv) => [kv.key, kv.value] as const));
    const target = this.config.nginxUpstreams;
    let upstreams: UpstreamsUpdate | undefined;
    if (target) {
      const services = servicesFromValues(values, this.config.servicesPrefix, this.deps.log, this.onetimeStats);
      upstreams = (await loadUpstreamsFile(target.file)).update(services);
    }
    const ok = await this.runAll({ revision: snapshot.revision, values, ...(upstreams ? { upstreams } : {}) }, this.touched('all'));
    return ok && this.resourceErrors.length === 0 ? 0 : 1;
  }

  /**
   * What a run must render for these changed keys: the resources whose `keys` cover one of them,
   * the upstreams file if one is under the services prefix, and whatever failed last time (a
   * failure is retried on the next change, as before).
   */
  private touched(marked: ReadonlySet<string> | 'all'): { resources: TemplateResource[]; upstreams: boolean } {
    const failed = (key: string): boolean => this.outcomes.failed(key);
    const covers = (prefixes: readonly string[]): boolean => {
      if (marked === 'all') return true;
      for (const key of marked) if (prefixes.some((p) => key.startsWith(p))) return true;
      return false;
    };
    const resources = this.resources.filter((r) => covers(r.keys) || failed(r.file));
    const upstreams = this.config.nginxUpstreams !== undefined && (covers([withSlash(this.config.servicesPrefix)]) || failed(UPSTREAMS_NAME));
    return { resources, upstreams };
  }

  /** The given resources against one snapshot; resolves false if any failed. */
  private async runAll(view: ViewSnapshot, work: { resources: readonly TemplateResource[]; upstreams: boolean }): Promise<boolean> {
    this.runs++;
    this.lastRevision = view.revision;
    let allOk = true;
    // one run looks each name up once, whichever resources ask for it
    const lookups = new TemplateLookups();
    for (const resource of work.resources) {
      if (this.stopped) break;
      const outcome = await this.runResource(resource, view, lookups);
      if (!isSuccess(outcome)) allOk = false;
    }
    if (this.config.nginxUpstreams && view.upstreams && !this.stopped) {
      const outcome = await this.runUpstreams(this.config.nginxUpstreams, view.upstreams);
      if (!isSuccess(outcome)) allOk = false;
    }
    return allOk;
  }

  private async runResource(resource: TemplateResource, view: ViewSnapshot, lookups: TemplateLookups): Promise<Outcome> {
    const log = this.deps.log.child({ resource: resource.name });
    let content: string;
    try {
      content = await renderResource(resource, view.values, this.deps.env, lookups, this.resolver);
    } catch (err) {
      this.outcomes.count('templateErrors', resource.name);
      log.error({ err: describeCause(err), src: resource.src }, 'template failed; keeping the previous file');
      return this.record(resource.file, resource, 'render-failed', describeCause(err));
    }
    this.outcomes.count('renders', resource.name);
    const empty = emptyUpstreams(content);
    if (empty.length > 0) {
      this.outcomes.count('guarded', resource.name);
      const why = `upstream ${empty.join(', ')} would have no servers (nginx refuses empty upstreams)`;
      log.warn({ upstreams: empty, revision: view.revision }, `${why}; keeping the last good file`);
      return this.record(resource.file, resource, 'guarded', why);
    }
    return this.apply(resource.file, resource, content);
  }

  /**
   * The view a run renders, taken synchronously: the values template resources read (only when one
   * runs) and the upstreams file (only when it is written), both at the catalog's revision.
   */
  private snapshot(catalog: Catalog, work: { resources: readonly TemplateResource[]; upstreams: boolean }): ViewSnapshot {
    const values = work.resources.length > 0 ? this.mirror.values(catalog.rawEntries()) : EMPTY_VIEW.values;
    if (!work.upstreams || !this.upstreamsFile) return { revision: catalog.revision, values };
    const before = this.upstreamsFile.blocksRendered;
    const upstreams = this.upstreamsFile.update(catalog.services());
    this.outcomes.blocksRendered.inc(this.upstreamsFile.blocksRendered - before);
    return { revision: catalog.revision, values, upstreams };
  }

  private async runUpstreams(target: NonNullable<RenderConfig['nginxUpstreams']>, result: UpstreamsUpdate): Promise<Outcome> {
    this.outcomes.count('renders', UPSTREAMS_NAME);
    const applyTarget: ApplyTarget = {
      name: UPSTREAMS_NAME,
      dest: target.file,
      ...(target.checkCmd ? { checkCmd: target.checkCmd } : {}),
      ...(target.reloadCmd ? { reloadCmd: target.reloadCmd } : {}),
    };
    if (result.refused.length > 0) {
      this.deps.log.warn({ resource: UPSTREAMS_NAME, refused: result.refused.map((r) => r.slice(0, 200)) }, 'left out service names or servers nginx could misread');
    }
    if (result.kept.length > 0) {
      this.outcomes.count('guarded', UPSTREAMS_NAME);
      this.deps.log.warn({ resource: UPSTREAMS_NAME, services: result.kept }, 'service has no instances left; keeping its last good upstream block');
    }
    if (!this.outcomes.statuses.has(UPSTREAMS_NAME)) this.outcomes.statuses.set(UPSTREAMS_NAME, { name: UPSTREAMS_NAME, dest: target.file, writes: 0, failures: 0 });
    return this.apply(UPSTREAMS_NAME, applyTarget, result.bytes);
  }

  private async apply(key: string, target: ApplyTarget, content: string | Buffer): Promise<Outcome> {
    let result: ApplyResult;
    try {
      result = await applyContent(target, content, { noop: this.config.noop, timeoutMs: this.config.timeoutMs, log: this.deps.log, out: this.deps.stdout });
    } catch (err) {
      result = { outcome: 'write-failed', error: describeCause(err) };
    }
    return this.outcomes.applied(key, target, result);
  }

  private record(key: string, target: { name: string; dest: string }, outcome: Outcome, error?: string): Outcome {
    return this.outcomes.record(key, target, outcome, error);
  }
}

/**
 * Parses and executes a resource's template against the keys it reads; the DNS lookups it makes
 * are resolved between evaluations, never while the event loop waits.
 */
export async function renderResource(
  resource: TemplateResource,
  values: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
  lookups: TemplateLookups,
  resolver: LookupResolver,
): Promise<string> {
  let src: string;
  try {
    src = readFileSync(resource.src, 'utf8');
  } catch (err) {
    throw new Error(`cannot read template ${resource.src}: ${(err as Error).message}`);
  }
  const kv = new KeyValues(resourceEntries(resource, values));
  const template = new Template(resource.src, src, confdFuncs(kv, { env, lookups }));
  return evaluateWithLookups(() => template.execute(null), lookups, resolver);
}

/**
 * The upstreams file before this process rendered it: the blocks of the file already there (an
 * earlier run's) are kept for services that have no instance now. Parsed once, at start-up.
 */
async function loadUpstreamsFile(path: string): Promise<UpstreamsFile> {
  const file = new UpstreamsFile();
  const previous = (await readCurrent(path).catch(() => undefined))?.toString();
  if (previous) file.seed(previous);
  return file;
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
