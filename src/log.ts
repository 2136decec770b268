import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * JSON lines on stderr (stdout stays free for command output such as `beacon services --json`).
 * Synchronous, so the line that explains an exit is never lost.
 */
export function createLogger(level: LevelWithSilent, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', 'etcdPassword', '*.password', '*.etcdPassword'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
