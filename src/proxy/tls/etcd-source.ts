/**
 * `/beacon/tls/<name>` values, mirrored by the proxy's catalog (as a raw prefix) and offered to
 * the certificate store on every change: `{"cert","key"}` or `{"cert","sealedKey"}`.
 */
import type { Catalog, CatalogChange } from '../../catalog/catalog.js';
import type { CertificateStore } from './cert-store.js';
import { parseTlsValue } from './seal.js';

export class CertEtcdSource {
  private readonly prefix: string;
  /** the value last offered per key: the catalog reports raw changes of other prefixes too */
  private readonly seen = new Map<string, string>();

  constructor(
    prefix: string,
    private readonly catalog: Catalog,
    private readonly store: CertificateStore,
    private readonly sealKey: Buffer | undefined,
  ) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  /** the raw prefix the catalog must mirror */
  get watchPrefix(): string {
    return this.prefix;
  }

  /** After every catalog change: offer what changed under the prefix. */
  changed(change: CatalogChange): void {
    if (!change.reset && ![...change.keys].some((k) => k.startsWith(this.prefix))) return;
    const entries = this.catalog.rawEntries();
    const present = new Set<string>();
    for (const [key, kv] of entries) {
      if (!key.startsWith(this.prefix)) continue;
      const name = key.slice(this.prefix.length);
      if (name === '' || name.includes('/')) continue;
      present.add(name);
      if (this.seen.get(name) === kv.value) continue;
      this.seen.set(name, kv.value);
      const parsed = parseTlsValue(kv.value, this.sealKey);
      if ('error' in parsed) this.store.offer('etcd', name, undefined, `${key}: ${parsed.error}`);
      else this.store.offer('etcd', name, parsed);
    }
    for (const name of [...this.seen.keys()]) {
      if (present.has(name)) continue;
      this.seen.delete(name);
      this.store.offer('etcd', name, undefined);
    }
  }
}
