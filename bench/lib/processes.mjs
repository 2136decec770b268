// What every benchmark needs to run its targets: a free loopback port, and child processes that
// die with the benchmark whatever way it ends. (bench/run.mjs runs bench/*.mjs only, not lib/.)
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

/** the benchmark's child processes: SIGKILLed when it exits */
export const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
