/**
 * One full garbage collection on request. A mode that has just built a large view (100,000
 * records parsed from a paged read) leaves a heap full of the read's garbage and of young objects
 * that will all be promoted; V8 then collects it in the first second of serving, in pauses of
 * 10-30 ms that land on the first queries and changes (bench/RESULTS.md, scale). Collected once
 * before the mode reports ready, that work is done while nothing waits on it.
 *
 * `gc` is not exposed without `--expose-gc`; the flag set at run time exposes it in contexts made
 * after it (the way node:v8's documentation shows setFlagsFromString). Where that does not give a
 * function, nothing is collected and nothing else changes.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** a first view this large (records, instances) is worth one collection before serving */
export const SETTLE_HEAP_ENTRIES = 20_000;

export function collectGarbage(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc !== 'function') return false;
    (gc as () => void)();
    return true;
  } catch {
    return false;
  }
}
