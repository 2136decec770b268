/**
 * Which HTTP engine serves: `fast` (beacon's own HTTP/1.1 engine on Node internals: llhttp
 * through `_http_common`, direct writes through `process.binding('stream_wrap')`, shared reads
 * through net's onread fields) or `portable` (node:http and undici, public APIs only). `auto`
 * probes the internals once at start and takes `fast` only when every probe passes.
 */
import type { EngineName } from './front-door.js';

export const ENGINE_CHOICES = ['auto', 'fast', 'portable'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

export interface Probe {
  /** what was probed */
  readonly name: 'llhttp' | 'direct-writes' | 'shared-reads';
  readonly ok: boolean;
  /** why it failed */
  readonly detail?: string;
}

export interface Decision {
  readonly engine: EngineName;
  /** one line for the log and /status */
  readonly reason: string;
}

/** Thrown when `--engine fast` is asked for on a Node.js that cannot run it. */
export class EngineUnavailableError extends Error {
  override readonly name = 'EngineUnavailableError';
}

/** Pure: the engine for what was asked and what the probes found. */
export function decideEngine(requested: EngineChoice, probes: readonly Probe[]): Decision {
  if (requested === 'portable') return { engine: 'portable', reason: '--engine portable' };
  const failed = probes.filter((p) => !p.ok);
  const llhttp = probes.find((p) => p.name === 'llhttp');
  if (requested === 'fast') {
    if (llhttp === undefined || !llhttp.ok) {
      throw new EngineUnavailableError(`--engine fast needs Node's llhttp binding, which this Node.js (${process.version}) does not offer (${llhttp?.detail ?? 'not probed'}); use --engine portable or auto`);
    }
    // writes and reads fall back to socket.write and 'data' events on their own
    return { engine: 'fast', reason: failed.length === 0 ? '--engine fast' : `--engine fast (falling back for ${failed.map((p) => p.name).join(', ')})` };
  }
  if (failed.length === 0) return { engine: 'fast', reason: 'auto: every probe of the Node internals passed' };
  return { engine: 'portable', reason: `auto: ${failed.map((p) => `${p.name} unavailable (${p.detail ?? 'probe failed'})`).join('; ')}` };
}

/** Probes the internals the fast engine rests on (imports it, so only when it may run). */
export async function probeInternals(): Promise<Probe[]> {
  let llhttp: Probe;
  try {
    await import('./fast/http1.js');
    llhttp = { name: 'llhttp', ok: true };
  } catch (err) {
    llhttp = { name: 'llhttp', ok: false, detail: (err as Error).message };
  }
  if (!llhttp.ok) return [llhttp];
  const [{ DirectWriter }, { SharedReads }] = await Promise.all([import('./fast/direct-write.js'), import('./fast/shared-reads.js')]);
  const writes = new DirectWriter().direct;
  const reads = new SharedReads(1).shared;
  return [
    llhttp,
    writes ? { name: 'direct-writes', ok: true } : { name: 'direct-writes', ok: false, detail: "process.binding('stream_wrap') is missing or changed" },
    reads ? { name: 'shared-reads', ok: true } : { name: 'shared-reads', ok: false, detail: "net's onread fields are missing or changed" },
  ];
}
