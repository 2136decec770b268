import { spawn } from 'node:child_process';

export interface ShellResult {
  /** exit 0 within the time limit */
  readonly ok: boolean;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** stdout and stderr, interleaved, trimmed to the first 4000 characters */
  readonly output: string;
}

/**
 * `sh -c CMD` in its own process group, killed as a group after `timeoutMs`, so a timed-out
 * pipeline (`curl ... | grep ...`, `nginx -s reload`) leaves nothing behind. Never throws.
 */
export function runShell(cmd: string, timeoutMs: number): Promise<ShellResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', cmd], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      if (output.length < 16_384) output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, code: null, signal: null, timedOut, output: err.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ ok: code === 0 && !timedOut, code, signal, timedOut, output: output.trim().slice(0, 4000) });
    });
  });
}
