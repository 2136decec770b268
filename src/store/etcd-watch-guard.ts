import { createRequire } from 'node:module';
import { ClientRuntimeError } from 'etcd3';

/**
 * etcd3 1.1.x throws from inside its watch stream's 'data' handler when a response names a watcher
 * it no longer lists ("Failed to find watcher for IWatchResponse", "Could not find watcher
 * corresponding to create response"): a response already in flight when a link drops and its
 * watchers are re-attached or cancelled. Thrown there, nothing can catch it and the process ends;
 * seen in the split-brain test about once in eight runs on a loaded machine. A stream that lost
 * track of its watchers is broken, so the guard turns the throw into what a stream error does:
 * the stream is torn down and re-established, every watcher hears 'disconnected', and beacon's
 * watch then re-reads and re-watches (see EtcdWatch). The manager is not exported by the
 * package's index, so it is reached by its file; when that file or its methods are not what this
 * expects (another etcd3 version), nothing is patched and the library behaves as shipped.
 */
interface ManagerProto {
  handleResponse?: unknown;
  handleCreatedResponse?: unknown;
  handleError?: unknown;
  [GUARDED]?: true;
}

const GUARDED = Symbol.for('beacon.etcd3-watch-guard');
const GUARDED_METHODS = ['handleResponse', 'handleCreatedResponse'] as const;

export type GuardResult = 'installed' | 'already' | 'unavailable';

export function guardWatchManager(proto: ManagerProto | undefined = watchManagerPrototype()): GuardResult {
  if (!proto || typeof proto.handleError !== 'function' || GUARDED_METHODS.some((m) => typeof proto[m] !== 'function')) return 'unavailable';
  if (proto[GUARDED]) return 'already';
  for (const name of GUARDED_METHODS) {
    const original = proto[name] as (this: { handleError(err: Error): void }, res: unknown) => unknown;
    proto[name] = function guarded(this: { handleError(err: Error): void }, res: unknown): unknown {
      try {
        return original.call(this, res);
      } catch (err) {
        if (!(err instanceof ClientRuntimeError)) throw err;
        this.handleError(err);
        return undefined;
      }
    };
  }
  proto[GUARDED] = true;
  return 'installed';
}

function watchManagerPrototype(): ManagerProto | undefined {
  try {
    const mod = createRequire(import.meta.url)('etcd3/lib/watch.js') as { WatchManager?: { prototype?: ManagerProto } };
    return mod.WatchManager?.prototype;
  } catch {
    return undefined;
  }
}
