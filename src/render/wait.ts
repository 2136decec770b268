/** `--wait min:max` with consul-template semantics, and the debouncer it drives. */
import { parseDuration } from '../config/duration.js';

export interface Wait {
  readonly minMs: number;
  readonly maxMs: number;
}

/** `500ms:5s`, `2s` (max defaults to 4 x min, as in consul-template), `0` disables. */
export function parseWait(text: string): Wait | string {
  const [a, b, extra] = text.split(':');
  if (extra !== undefined || a === undefined || a === '') return 'expected MIN[:MAX] durations such as 500ms:5s';
  const min = parseDuration(a);
  if (min === undefined) return `bad minimum ${JSON.stringify(a)}`;
  const max = b === undefined ? min * 4 : parseDuration(b);
  if (max === undefined) return `bad maximum ${JSON.stringify(b)}`;
  if (max < min) return `maximum (${b}) is less than minimum (${a})`;
  return { minMs: min, maxMs: max };
}

/**
 * Fires `min` after the last trigger, but never later than `max` after the first trigger of a
 * burst: a stream of changes causes one run per `max`, a quiet single change one run after `min`.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private burstStart: number | undefined;
  private readonly wait: Wait;
  private readonly fire: () => void;

  constructor(wait: Wait, fire: () => void) {
    this.wait = wait;
    this.fire = fire;
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  trigger(): void {
    const now = Date.now();
    this.burstStart ??= now;
    const at = Math.min(now + this.wait.minMs, this.burstStart + this.wait.maxMs);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.burstStart = undefined;
      this.fire();
    }, Math.max(0, at - now));
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.burstStart = undefined;
  }
}
