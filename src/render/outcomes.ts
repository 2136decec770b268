/**
 * What became of each rendered resource: the `beacon_render_*` counters, the last-success gauge
 * and the per-resource status the admin page shows. No I/O besides logging.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { ApplyResult } from './apply.js';

export interface ResourceStatus {
  name: string;
  dest: string;
  src?: string;
  lastOutcome?: string;
  lastError?: string;
  lastRunAt?: string;
  lastWriteAt?: string;
  writes: number;
  failures: number;
}

export type Outcome = ApplyResult['outcome'] | 'render-failed' | 'guarded';

type CounterName = 'renders' | 'writes' | 'reloads' | 'checkFailures' | 'reloadFailures' | 'templateErrors' | 'guarded';

export function isSuccess(outcome: Outcome): boolean {
  return outcome === 'unchanged' || outcome === 'written' || outcome === 'diff';
}

export class RenderOutcomes {
  /** by resource file (or the upstreams file's name) */
  readonly statuses = new Map<string, ResourceStatus>();
  private readonly counters: Record<CounterName, Counter<'resource'>>;
  private readonly lastSuccess: Gauge<'resource'>;
  /** --nginx-upstreams service blocks rendered */
  readonly blocksRendered: Counter;

  constructor(
    metrics: Registry,
    private readonly log: Logger,
  ) {
    const counter = (name: string, help: string): Counter<'resource'> =>
      new Counter({ name: `beacon_render_${name}`, help, labelNames: ['resource'], registers: [metrics] });
    this.counters = {
      renders: counter('renders_total', 'templates rendered (successfully evaluated)'),
      writes: counter('writes_total', 'destination files replaced'),
      reloads: counter('reloads_total', 'successful reload_cmd runs'),
      checkFailures: counter('check_failures_total', 'check_cmd failures (previous file kept)'),
      reloadFailures: counter('reload_failures_total', 'reload_cmd failures (previous file restored)'),
      templateErrors: counter('template_errors_total', 'template parse or execution errors (previous file kept)'),
      guarded: counter('guarded_total', 'renders refused by a guard, e.g. an empty upstream (previous file kept)'),
    };
    this.lastSuccess = new Gauge({
      name: 'beacon_render_last_success_timestamp_seconds',
      help: 'when the destination last matched a successful render',
      labelNames: ['resource'],
      registers: [metrics],
    });
    this.blocksRendered = new Counter({
      name: 'beacon_render_upstream_blocks_rendered_total',
      help: '--nginx-upstreams service blocks rendered (one per service whose instances changed)',
      registers: [metrics],
    });
  }

  count(name: CounterName, resource: string): void {
    this.counters[name].inc({ resource });
  }

  /** Whether the last run of this resource failed (it is retried on the next change). */
  failed(key: string): boolean {
    const outcome = this.statuses.get(key)?.lastOutcome;
    return outcome !== undefined && !isSuccess(outcome as Outcome);
  }

  /** Counts and records what the apply pipeline did with one rendered text. */
  applied(key: string, target: { name: string; dest: string }, result: ApplyResult): Outcome {
    const name = target.name;
    switch (result.outcome) {
      case 'written':
        this.count('writes', name);
        if (result.reloaded) this.count('reloads', name);
        break;
      case 'check-failed':
        this.count('checkFailures', name);
        break;
      case 'reload-failed':
        this.count('reloadFailures', name);
        break;
      case 'write-failed':
        this.log.error({ resource: name, err: result.error }, 'could not write the destination; keeping the previous file');
        break;
    }
    if (isSuccess(result.outcome)) this.lastSuccess.set({ resource: name }, Date.now() / 1000);
    return this.record(key, target, result.outcome, 'error' in result ? result.error : undefined);
  }

  record(key: string, target: { name: string; dest: string }, outcome: Outcome, error?: string): Outcome {
    const s = this.statuses.get(key) ?? { name: target.name, dest: target.dest, writes: 0, failures: 0 };
    this.statuses.set(key, s);
    s.lastOutcome = outcome;
    s.lastRunAt = new Date().toISOString();
    if (outcome === 'written') {
      s.writes++;
      s.lastWriteAt = s.lastRunAt;
    }
    if (error !== undefined) {
      s.lastError = error;
      s.failures++;
    } else if (isSuccess(outcome)) delete s.lastError;
    this.log.debug({ resource: target.name, outcome }, 'render result');
    return outcome;
  }
}
