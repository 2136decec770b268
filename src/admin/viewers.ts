/**
 * The server-sent-event streams of the page's viewers. Each gets the latest fragment at most once
 * per tick; a viewer whose previous update is still unread gets none (it will get the newest one
 * once it catches up), and one that stays behind for `maxBehind` ticks, or holds more than
 * `maxBuffered` bytes unread, is dropped: nothing is queued without bound.
 */

/** The part of an http.ServerResponse a stream needs (tests pass a fake). */
export interface EventSink {
  write(chunk: string): boolean;
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  destroy(): void;
}

export interface ViewerLimits {
  /** concurrent viewers; more are refused */
  max: number;
  /** ticks a viewer may stay behind before it is dropped */
  maxBehind: number;
  /** unread bytes a viewer may hold */
  maxBuffered: number;
}

export const DEFAULT_VIEWER_LIMITS: ViewerLimits = { max: 32, maxBehind: 10, maxBuffered: 1 << 20 };

interface Viewer {
  sink: EventSink;
  last: string | undefined;
  behind: number;
}

/** One SSE event; every line of `data` gets its own `data:` field. */
export function sseFrame(event: string, data: string): string {
  return `event: ${event}\n${data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join('')}\n`;
}

export class Viewers {
  private readonly viewers = new Set<Viewer>();
  dropped = 0;

  constructor(private readonly limits: ViewerLimits = DEFAULT_VIEWER_LIMITS) {}

  get size(): number {
    return this.viewers.size;
  }

  get full(): boolean {
    return this.viewers.size >= this.limits.max;
  }

  /** Adds a viewer and sends it `fragment` now; returns a remover, or undefined when full. */
  add(sink: EventSink, fragment: string): (() => void) | undefined {
    if (this.viewers.size >= this.limits.max) return undefined;
    const viewer: Viewer = { sink, last: undefined, behind: 0 };
    this.viewers.add(viewer);
    this.send(viewer, fragment);
    return () => this.viewers.delete(viewer);
  }

  /** The newest fragment to every viewer that does not have it yet and can take it. */
  broadcast(fragment: string): void {
    for (const viewer of this.viewers) this.send(viewer, fragment);
  }

  /** A comment line, so proxies and browsers see the stream alive while nothing changes. */
  keepalive(): void {
    for (const viewer of this.viewers) {
      if (!viewer.sink.writableNeedDrain) viewer.sink.write(': keepalive\n\n');
    }
  }

  closeAll(): void {
    for (const viewer of this.viewers) viewer.sink.destroy();
    this.viewers.clear();
  }

  private send(viewer: Viewer, fragment: string): void {
    if (viewer.last === fragment) return;
    if (viewer.sink.writableNeedDrain || viewer.sink.writableLength > this.limits.maxBuffered) {
      if (++viewer.behind > this.limits.maxBehind || viewer.sink.writableLength > this.limits.maxBuffered) this.drop(viewer);
      return;
    }
    viewer.behind = 0;
    viewer.last = fragment;
    viewer.sink.write(sseFrame('update', fragment));
  }

  private drop(viewer: Viewer): void {
    this.viewers.delete(viewer);
    this.dropped++;
    viewer.sink.destroy();
  }
}
