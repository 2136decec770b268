/** One key as the store holds it. */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** lease id (decimal string) the key is attached to, if any */
  readonly lease?: string;
  readonly modRevision: number;
}

/** Every key under some prefixes, read at one revision. */
export interface Snapshot {
  readonly revision: number;
  readonly kvs: readonly KeyValue[];
}

export type ChangeEvent =
  | { readonly type: 'put'; readonly kv: KeyValue }
  | { readonly type: 'delete'; readonly key: string; readonly modRevision: number };

export interface WatchHandlers {
  /** changes in revision order, batched as they arrive */
  onChanges(events: readonly ChangeEvent[], revision: number): void;
  /**
   * The watch could not resume (history compacted, or the file store lost track):
   * here is a fresh snapshot of the watched prefixes; replace the whole view with it.
   */
  onReset(snapshot: Snapshot): void;
  /** connection state, for readiness and logs */
  onConnectionChange?(connected: boolean, error?: Error): void;
}

export interface Watch {
  cancel(): Promise<void>;
}

/**
 * A lease keeps keys alive while its holder is. When the store loses it (expired during
 * an outage, revoked elsewhere), `onLost` fires once; the holder grants a new one.
 */
export interface Lease {
  readonly id: string;
  readonly ttlMs: number;
  /** puts every pair atomically, attached to this lease */
  putAll(pairs: readonly (readonly [string, string])[]): Promise<void>;
  /** revoking deletes every key attached to the lease */
  revoke(): Promise<void>;
  onLost(listener: (error: Error) => void): void;
  /** every keepalive round trip, for metrics and store-lost/store-back logs */
  onKeepalive(listener: (ok: boolean, error?: Error) => void): void;
  /** stops the keepalive without revoking (keys then expire after the TTL) */
  release(): void;
}

export interface Store {
  /** a human description without secrets, e.g. `etcd://127.0.0.1:2379` */
  readonly description: string;
  /** every key under each prefix, all from one revision */
  read(prefixes: readonly string[]): Promise<Snapshot>;
  /** changes under the prefixes after `afterRevision`, resumed across disconnects */
  watch(prefixes: readonly string[], afterRevision: number, handlers: WatchHandlers): Promise<Watch>;
  grantLease(ttlMs: number): Promise<Lease>;
  /** remaining time of a lease in ms; undefined when the lease is gone */
  leaseRemaining(id: string): Promise<number | undefined>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * A lock held for as long as a lease lives: when no one holds `key`, it is created with the
   * lease's id as value and attached to the lease (so it goes when the holder dies or revokes).
   * Returns the id of the lease holding the lock now, this one or another: the caller holds it
   * when that is its own lease's id. Never waits for the lock; ask again later.
   */
  tryLock(key: string, lease: Lease): Promise<string>;
  close(): Promise<void>;
}
