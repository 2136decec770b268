import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnTracked, type Tracked } from './procs.ts';
import { waitFor } from './wait.ts';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface BeaconProcess extends Tracked {
  /** JSON log lines so far (stderr), parsed */
  logs(): Record<string, unknown>[];
  /** waits for a log line whose `msg` equals `msg` (and whose fields match `fields`) */
  waitForLog(msg: string, fields?: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Starts `node dist/cli.js <args>` with this test's Node (24). */
export function startBeacon(args: readonly string[], env: Record<string, string> = {}): BeaconProcess {
  const tracked = spawnTracked(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  reportCrash(tracked, args);
  const logs = (): Record<string, unknown>[] =>
    tracked
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  return {
    ...tracked,
    logs,
    // 30 s: twice (once each in dns and faults) a mode that starts in well under a second said
    // nothing for 15 s during a full run on the loaded 2-core machine
    waitForLog: (msg, fields = {}, timeoutMs = 30_000) =>
      waitFor(
        `log "${msg}"`,
        () => logs().find((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)),
        timeoutMs,
      ).catch((err: Error) => {
        const state = tracked.child.exitCode !== null || tracked.child.signalCode !== null ? `exited (code ${tracked.child.exitCode}, signal ${tracked.child.signalCode})` : 'still running';
        throw new Error(`${err.message}; beacon ${state}\n--- beacon output ---\n${tracked.output().slice(-4000)}`);
      }),
  };
}

/**
 * A beacon that dies of an uncaught error mid-test usually shows up only as ECONNREFUSED in some
 * later wait; its own stack is what says why, so it goes to the test's output as it happens.
 */
function reportCrash(tracked: Tracked, args: readonly string[]): void {
  void tracked.exited.then(({ code, signal }) => {
    const out = tracked.output();
    const crashed = signal === 'SIGABRT' || signal === 'SIGSEGV' || (code !== 0 && code !== 2 && /\n\s+at \S.*:\d+:\d+\)?\n/.test(out));
    if (crashed) console.error(`[harness] beacon ${args.slice(0, 1).join(' ')} died (code ${code}, signal ${signal}); its last output:\n${out.slice(-4000)}`);
  });
}

/** Runs beacon to completion. */
export function runBeacon(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
