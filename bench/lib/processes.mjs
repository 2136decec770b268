// What every benchmark needs to run its targets: a free loopback port, the peer's program, and
// child processes that die with the benchmark whatever way it ends. (bench/run.mjs runs
// bench/*.mjs only, not lib/.)
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** the first of `candidates` that runs (`-v`), or undefined */
export function findProgram(candidates) {
  return candidates.find((b) => {
    try {
      execFileSync(b, ['-v'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

/** the benchmark's child processes: SIGKILLed when it exits */
export const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** At the end of a run: SIGTERM, 300 ms to shut down cleanly, then SIGKILL for what is left. */
export async function stopChildren() {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  for (const c of children) c.kill('SIGKILL');
}
