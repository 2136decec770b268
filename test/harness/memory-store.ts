// An in-memory Store for in-process mode tests: every put or delete is one watch event batch,
// delivered synchronously; onReset can be called by the test through `handlers`.
import type { KeyValue, Store, WatchHandlers } from '../../dist/store/store.js';

/** An in-memory store: every put is one watch event batch, delivered synchronously. */
export class MemoryStore implements Store {
  readonly description = 'memory://';
  readonly kvs = new Map<string, KeyValue>();
  revision = 1;
  handlers: WatchHandlers | undefined;
  read(prefixes: readonly string[]) {
    return Promise.resolve({ revision: this.revision, kvs: [...this.kvs.values()].filter((kv) => prefixes.some((p) => kv.key.startsWith(p))) });
  }
  watch(_prefixes: readonly string[], _after: number, handlers: WatchHandlers) {
    this.handlers = handlers;
    return Promise.resolve({ cancel: () => Promise.resolve() });
  }
  grantLease(): never {
    throw new Error('no leases here');
  }
  leaseRemaining() {
    return Promise.resolve(undefined);
  }
  put(key: string, value: string) {
    const kv = { key, value, modRevision: ++this.revision };
    this.kvs.set(key, kv);
    this.handlers?.onChanges([{ type: 'put', kv }], this.revision);
    return Promise.resolve();
  }
  delete(key: string) {
    this.kvs.delete(key);
    this.handlers?.onChanges([{ type: 'delete', key, modRevision: ++this.revision }], ++this.revision);
    return Promise.resolve();
  }
  tryLock(): never {
    throw new Error('no locks here');
  }
  close() {
    return Promise.resolve();
  }
}

