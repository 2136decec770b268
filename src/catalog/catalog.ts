import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ChangeEvent, KeyValue, Snapshot, Store, Watch } from '../store/store.js';
import { isDnsLabel, isInstanceId } from './names.js';
import { parseServiceValue, parseSkyRecord, type Endpoint, type SkyRecord } from './values.js';
import { parseRouteValue, type Route } from '../routes/route.js';

export interface Instance extends Endpoint {
  readonly service: string;
  readonly id: string;
  /** the store key it came from */
  readonly key: string;
  readonly lease?: string;
}

export interface SkyEntry {
  readonly key: string;
  readonly record: SkyRecord;
  readonly lease?: string;
}

export interface CatalogOptions {
  store: Store;
  log: Logger;
  /** watch `/services` (proxy, render, services) */
  services?: { prefix: string };
  /** watch `/skydns` (dns) */
  skydns?: { prefix: string };
  /** watch the proxy routes (`/beacon/routes`): parsed with the route parser, bad ones skipped */
  routes?: { prefix: string };
  /** extra raw prefixes to mirror (render templates' keys) */
  extraPrefixes?: readonly string[];
  /**
   * keep the raw key/value of `/services` and `/skydns` keys too (rawEntries(), for templates that
   * read them); otherwise only the parsed form is kept there and rawEntries() holds the rest
   */
  rawParsed?: boolean;
}

export interface CatalogChange {
  /** the whole view was replaced (first sync or a watch reset) */
  readonly reset: boolean;
  /** services whose instances changed */
  readonly services: ReadonlySet<string>;
  readonly skydns: boolean;
  /** a route was put or deleted (or the view was replaced) */
  readonly routes: boolean;
  readonly raw: boolean;
  /** the keys put or deleted (empty on a reset: everything may have changed) */
  readonly keys: ReadonlySet<string>;
}

/** What the admin page shows of the store: connection, revision, the last error, skipped values. */
export interface CatalogStoreState {
  readonly url: string;
  readonly connected: boolean;
  readonly synced: boolean;
  readonly revision: number;
  readonly malformed: number;
  readonly lastError?: { readonly message: string; readonly at: string };
  /** the last few values skipped as malformed (newest last), each once per key and value */
  readonly recentMalformed: readonly { readonly key: string; readonly reason: string; readonly at: string }[];
}

/** how many skipped values storeState() remembers */
const RECENT_MALFORMED = 10;

type Parsed = { kind: 'instance'; instance: Instance } | { kind: 'sky'; entry: SkyEntry } | { kind: 'config'; value: unknown } | { kind: 'route'; route: Route };

/**
 * The live view of the store: one snapshot at one revision, then watch events on top. The only
 * place that parses `/services` and `/skydns` values; a malformed one is skipped, logged once
 * and counted. Emits `change` (CatalogChange) after every batch, and `ready` (boolean).
 */
export class Catalog extends EventEmitter<{ change: [CatalogChange]; ready: [boolean] }> {
  private readonly prefixes: string[];
  private readonly rawKvs = new Map<string, KeyValue>();
  private readonly instancesByKey = new Map<string, Instance>();
  /** service -> its instances by key */
  private readonly byService = new Map<string, Map<string, Instance>>();
  private readonly skyByKey = new Map<string, SkyEntry>();
  /** proxy routes by key, and route keys whose value was skipped (with the reason) */
  private readonly routesByKey = new Map<string, Route>();
  private readonly invalidRoutes = new Map<string, string>();
  private skyConfigValue: unknown;
  /** services(): sorted by name, each list sorted by id */
  private servicesView = new Map<string, readonly Instance[]>();
  /** a service came since services() last sorted the names */
  private servicesUnordered = false;
  /** services whose list in servicesView is out of date */
  private readonly staleServices = new Set<string>();
  private readonly warned = new Map<string, string>();
  private lastError: { message: string; at: string } | undefined;
  private readonly recentMalformed: { key: string; reason: string; at: string }[] = [];
  private watch: Watch | undefined;
  private stopped = false;
  private synced = false;
  private connected = false;
  private syncPromise: Promise<void> | undefined;
  revision = 0;
  malformed = 0;
  syncs = 0;

  constructor(private readonly options: CatalogOptions) {
    super();
    this.prefixes = [
      ...(options.services ? [withSlash(options.services.prefix)] : []),
      ...(options.skydns ? [withSlash(options.skydns.prefix)] : []),
      ...(options.routes ? [withSlash(options.routes.prefix)] : []),
      ...(options.extraPrefixes ?? []),
    ];
  }

  get ready(): boolean {
    return this.synced && this.connected;
  }

  /** Resolves after the first snapshot; keeps retrying in the background while the store is down. */
  start(): Promise<void> {
    this.syncPromise ??= this.syncLoop();
    return this.syncPromise;
  }

  private async syncLoop(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const snapshot = await this.options.store.read(this.prefixes);
        if (this.stopped) return;
        this.replace(snapshot);
        this.watch = await this.options.store.watch(this.prefixes, snapshot.revision, {
          onChanges: (events, revision) => this.apply(events, revision),
          onReset: (s) => this.replace(s),
          onConnectionChange: (connected, error) => this.setConnected(connected, error),
        });
        if (this.stopped) await this.watch.cancel();
        this.setConnected(true);
        return;
      } catch (err) {
        this.lastError = { message: (err as Error).message, at: new Date().toISOString() };
        if (attempt === 0) this.options.log.warn({ err: (err as Error).message }, 'store unreachable; serving the last known view and retrying');
        await sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), () => this.stopped);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watch?.cancel();
  }

  private setConnected(connected: boolean, error?: Error): void {
    if (!connected && error) this.lastError = { message: error.message, at: new Date().toISOString() };
    if (connected === this.connected) return;
    const before = this.ready;
    this.connected = connected;
    if (connected) this.options.log.info({ store: this.options.store.description, revision: this.revision }, 'store watch connected');
    else this.options.log.warn({ store: this.options.store.description, err: error?.message }, 'store watch lost; keeping the last known view');
    if (before !== this.ready) this.emit('ready', this.ready);
  }

  private replace(snapshot: Snapshot): void {
    const before = new Set(this.byService.keys());
    this.rawKvs.clear();
    this.warned.clear();
    this.instancesByKey.clear();
    this.byService.clear();
    this.skyByKey.clear();
    this.routesByKey.clear();
    this.invalidRoutes.clear();
    this.skyConfigValue = undefined;
    for (const kv of snapshot.kvs) this.put(kv);
    this.revision = snapshot.revision;
    this.servicesView = new Map();
    this.staleServices.clear();
    for (const name of this.byService.keys()) this.staleServices.add(name);
    this.servicesUnordered = true;
    this.syncs++;
    const services = new Set([...before, ...this.byService.keys()]);
    const wasReady = this.ready;
    this.synced = true;
    this.emit('change', { reset: true, services, skydns: true, routes: true, raw: true, keys: new Set() });
    if (!wasReady && this.ready) this.emit('ready', true);
  }

  private apply(events: readonly ChangeEvent[], revision: number): void {
    const services = new Set<string>();
    const keys = new Set<string>();
    let skydns = false;
    let routes = false;
    for (const ev of events) {
      const key = ev.type === 'put' ? ev.kv.key : ev.key;
      keys.add(key);
      if (this.isRouteKey(key)) routes = true;
      const old = this.instancesByKey.get(key);
      if (old) services.add(old.service);
      if (this.skyByKey.has(key) || this.isSkyKey(key)) skydns = true;
      if (ev.type === 'put') {
        // a service whose one instance is rewritten stays a service throughout: dropping and
        // re-adding it would count as a new service and re-sort every service name (10,000 here)
        this.remove(key, false, true);
        const added = this.put(ev.kv);
        if (added?.kind === 'instance') services.add(added.instance.service);
        if (old) this.dropIfEmpty(old.service);
      } else {
        this.remove(key);
      }
    }
    this.revision = revision;
    this.emit('change', { reset: false, services, skydns, routes, raw: true, keys });
  }

  private isSkyKey(key: string): boolean {
    return this.options.skydns !== undefined && key.startsWith(withSlash(this.options.skydns.prefix));
  }

  private isRouteKey(key: string): boolean {
    return this.options.routes !== undefined && key.startsWith(withSlash(this.options.routes.prefix));
  }

  /** `forget`: also forget that a bad value under the key was logged (the key is gone). */
  /** `keepService`: a service left empty stays until dropIfEmpty (the key is being rewritten). */
  private remove(key: string, forget = true, keepService = false): void {
    if (forget) this.warned.delete(key);
    this.rawKvs.delete(key);
    const instance = this.instancesByKey.get(key);
    if (instance) {
      this.instancesByKey.delete(key);
      this.byService.get(instance.service)!.delete(key);
      this.staleServices.add(instance.service);
      if (!keepService) this.dropIfEmpty(instance.service);
    }
    this.skyByKey.delete(key);
    this.routesByKey.delete(key);
    this.invalidRoutes.delete(key);
    if (this.options.skydns && key === `${withSlash(this.options.skydns.prefix)}config`) this.skyConfigValue = undefined;
  }

  private dropIfEmpty(service: string): void {
    if (this.byService.get(service)?.size !== 0) return;
    this.byService.delete(service);
    this.servicesView.delete(service);
    this.staleServices.delete(service);
  }

  private put(kv: KeyValue): Parsed | undefined {
    const parsed = this.parse(kv);
    // parsed values are kept parsed only (the raw value once more would double their memory)
    if (this.options.rawParsed || !(parsed?.kind === 'instance' || parsed?.kind === 'sky' || parsed?.kind === 'route')) this.rawKvs.set(kv.key, kv);
    if (!parsed) return undefined;
    if (parsed.kind === 'instance') {
      const instance = parsed.instance;
      this.instancesByKey.set(kv.key, instance);
      const list = this.byService.get(instance.service);
      if (list) {
        list.set(kv.key, instance);
        this.staleServices.add(instance.service);
      } else {
        this.byService.set(instance.service, new Map([[kv.key, instance]]));
        this.staleServices.add(instance.service);
        this.servicesUnordered = true;
      }
    } else if (parsed.kind === 'sky') this.skyByKey.set(kv.key, parsed.entry);
    else if (parsed.kind === 'route') this.routesByKey.set(kv.key, parsed.route);
    else this.skyConfigValue = parsed.value;
    this.warned.delete(kv.key);
    return parsed;
  }

  private parse(kv: KeyValue): Parsed | undefined {
    const lease = kv.lease ? { lease: kv.lease } : {};
    const services = this.options.services && withSlash(this.options.services.prefix);
    if (services && kv.key.startsWith(services)) {
      const parts = kv.key.slice(services.length).split('/');
      if (parts.length !== 2 || !parts[0] || !parts[1]) {
        return this.reject(kv, 'key is not <prefix>/<service>/<instance>');
      }
      // Service names end up in DNS names, Host routing and nginx `upstream` blocks: only DNS
      // labels are safe there. Instance ids may be what sidekicks wrote (`apache@1`), but no more.
      if (!isDnsLabel(parts[0])) return this.reject(kv, 'service is not a DNS label (a-z, 0-9, -)');
      if (!isInstanceId(parts[1])) return this.reject(kv, 'instance id has characters outside A-Z a-z 0-9 . _ @ : + = -');
      const endpoint = parseServiceValue(kv.value);
      if (!endpoint.ok) return this.reject(kv, endpoint.error);
      // one shape for every instance; the service name shared with the others of its service
      const e = endpoint.value;
      const service = this.byService.has(parts[0]) ? this.serviceName(parts[0]) : parts[0];
      const instance: Instance = { service, id: parts[1], key: kv.key, host: e.host, port: e.port, weight: e.weight, lease: kv.lease };
      return { kind: 'instance', instance };
    }
    const skydns = this.options.skydns && withSlash(this.options.skydns.prefix);
    if (skydns && kv.key.startsWith(skydns)) {
      if (kv.key === `${skydns}config`) {
        try {
          return { kind: 'config', value: JSON.parse(kv.value) };
        } catch {
          return this.reject(kv, 'config is not valid JSON');
        }
      }
      const record = parseSkyRecord(kv.value);
      if (!record.ok) return this.reject(kv, record.error);
      return { kind: 'sky', entry: { key: kv.key, record: record.value, ...lease } };
    }
    const routes = this.options.routes && withSlash(this.options.routes.prefix);
    if (routes && kv.key.startsWith(routes)) {
      const name = kv.key.slice(routes.length);
      if (name === '' || name.includes('/')) return this.rejectRoute(kv, 'key is not <prefix>/<name>');
      const route = parseRouteValue(name, kv.value);
      if (!route.ok) return this.rejectRoute(kv, route.error);
      return { kind: 'route', route: route.value };
    }
    return undefined;
  }

  private rejectRoute(kv: KeyValue, reason: string): undefined {
    this.invalidRoutes.set(kv.key, reason);
    return this.reject(kv, reason);
  }

  private reject(kv: KeyValue, reason: string): undefined {
    this.malformed++;
    // Logged once per key and value: a sidekick rewriting the same bad value every 10 s stays quiet.
    if (this.warned.get(kv.key) !== kv.value) {
      this.warned.set(kv.key, kv.value);
      this.recentMalformed.push({ key: kv.key, reason, at: new Date().toISOString() });
      if (this.recentMalformed.length > RECENT_MALFORMED) this.recentMalformed.shift();
      this.options.log.warn({ key: kv.key, value: kv.value.slice(0, 200), reason }, 'skipping malformed value');
    }
    return undefined;
  }

  /** the name as the catalog holds it already (one string per service, not one per instance) */
  private serviceName(name: string): string {
    for (const instance of this.byService.get(name)!.values()) return instance.service;
    return name;
  }

  /**
   * service -> instances, sorted by id. Kept between calls: after a change only the lists of the
   * services that changed are sorted again (and the outer order only when a service came).
   */
  services(): ReadonlyMap<string, readonly Instance[]> {
    const view = this.servicesView;
    for (const name of this.staleServices) {
      const list = this.byService.get(name);
      if (list) view.set(name, sortedInstances(list));
    }
    this.staleServices.clear();
    if (this.servicesUnordered) {
      this.servicesUnordered = false;
      this.servicesView = new Map([...view].sort(([a], [b]) => compareText(a, b)));
    }
    return this.servicesView;
  }

  /** instances in the view, every service */
  get instanceCount(): number {
    return this.instancesByKey.size;
  }

  instances(service: string): readonly Instance[] {
    return this.services().get(service) ?? [];
  }

  /** the proxy routes (with `routes`), by key */
  routes(): ReadonlyMap<string, Route> {
    return this.routesByKey;
  }

  /** route keys whose value is skipped now, with the reason */
  routesInvalid(): ReadonlyMap<string, string> {
    return this.invalidRoutes;
  }

  skydnsEntries(): ReadonlyMap<string, SkyEntry> {
    return this.skyByKey;
  }

  /** the parsed `/skydns/config` JSON, if present and valid */
  skydnsConfig(): unknown {
    return this.skyConfigValue;
  }

  /** for `/status` and the admin page */
  storeState(): CatalogStoreState {
    return {
      url: this.options.store.description,
      connected: this.connected,
      synced: this.synced,
      revision: this.revision,
      malformed: this.malformed,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      recentMalformed: [...this.recentMalformed],
    };
  }

  /**
   * every key the catalog mirrors, as stored (for templates); `/services` and `/skydns` keys only
   * with `rawParsed`
   */
  rawEntries(): ReadonlyMap<string, KeyValue> {
    return this.rawKvs;
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedInstances(byKey: ReadonlyMap<string, Instance>): readonly Instance[] {
  return [...byKey.values()].sort((a, b) => compareText(a.id, b.id));
}

function withSlash(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

function sleep(ms: number, abort: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = (): void => {
      if (abort() || Date.now() - started >= ms) resolve();
      else setTimeout(tick, Math.min(100, ms));
    };
    tick();
  });
}
