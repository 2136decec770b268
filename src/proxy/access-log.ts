/**
 * The access log's destination: asynchronous (a request never waits for a log write) and
 * bounded. When stdout is slower than the traffic, lines beyond ACCESS_LOG_MAX_BYTES of backlog
 * are dropped and counted instead of growing the buffer without limit.
 *
 * A SonicBoom of our own rather than pino.destination(): pino registers its asynchronous
 * destinations for a synchronous flush at process exit, which retries forever when stdout's
 * reader stopped reading, so SIGTERM would never finish. The engine flushes within a deadline.
 */
import sonicBoom, { type SonicBoom } from 'sonic-boom';

// sonic-boom is CommonJS: its class is the default export at run time.
const SonicBoomClass = sonicBoom as unknown as typeof SonicBoom;

/** Backlog kept for a slow stdout: some seconds of lines at a high request rate. */
export const ACCESS_LOG_MAX_BYTES = 16 * 1024 * 1024;

export type AccessLogDestination = SonicBoom;

export function accessLogDestination(fd: number, onDrop: (lines: number) => void, maxBytes = ACCESS_LOG_MAX_BYTES): AccessLogDestination {
  const destination = new SonicBoomClass({ fd, sync: false, maxLength: maxBytes });
  // A closed reader (EPIPE) loses the log, not the proxy.
  destination.on('error', () => undefined);
  destination.on('drop', (data: unknown) => {
    // pino writes one line per call; count the lines to be safe
    const text = String(data);
    let lines = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    onDrop(Math.max(1, lines));
  });
  return destination;
}
