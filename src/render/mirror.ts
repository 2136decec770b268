/**
 * The raw values template resources read, copied out of the catalog once and then kept up to date
 * key by key: a run sees one revision even while the catalog moves on (renders await DNS lookups
 * and commands), and a change costs its keys, not a copy of every value.
 */

/** What the catalog's rawEntries() holds. */
interface StoredValue {
  readonly value: string;
}

export class ValuesMirror {
  private copy: Map<string, string> | undefined;
  private source: ReadonlyMap<string, StoredValue> | undefined;
  /** full copies made so far (start-up, a store reset, new resources) */
  copies = 0;

  /**
   * Takes the keys changed since the last call ('all': everything may have changed). Call it for
   * every batch of changes, and between runs only: the map `values()` returned is updated in place.
   */
  update(source: ReadonlyMap<string, StoredValue>, changed: ReadonlySet<string> | 'all'): void {
    if (changed === 'all' || source !== this.source) {
      this.copy = undefined;
      this.source = source;
      return;
    }
    const copy = this.copy;
    if (!copy) return;
    for (const key of changed) {
      const kv = source.get(key);
      if (kv) copy.set(key, kv.value);
      else copy.delete(key);
    }
  }

  /** Every value of `source` as of the last update (copied now if no copy is kept). */
  values(source: ReadonlyMap<string, StoredValue>): ReadonlyMap<string, string> {
    if (this.copy && source === this.source) return this.copy;
    const copy = new Map<string, string>();
    for (const [key, kv] of source) copy.set(key, kv.value);
    this.copies++;
    this.copy = copy;
    this.source = source;
    return copy;
  }
}
