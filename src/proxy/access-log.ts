/**
 * The access log's destination: asynchronous (a request never waits for a log write) and
 * bounded. When stdout is slower than the traffic, lines beyond ACCESS_LOG_MAX_BYTES of backlog
 * are dropped and counted instead of growing the buffer without limit.
 */
import { pino } from 'pino';

/** Backlog kept for a slow stdout: some seconds of lines at a high request rate. */
export const ACCESS_LOG_MAX_BYTES = 16 * 1024 * 1024;

export type AccessLogDestination = ReturnType<typeof pino.destination>;

export function accessLogDestination(fd: number, onDrop: (lines: number) => void, maxBytes = ACCESS_LOG_MAX_BYTES): AccessLogDestination {
  const destination = pino.destination({ fd, sync: false, maxLength: maxBytes });
  destination.on('drop', (data: unknown) => {
    // pino writes one line per call; count the lines to be safe
    const text = String(data);
    let lines = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    onDrop(Math.max(1, lines));
  });
  return destination;
}
