#!/usr/bin/env node
import { main } from './cli/main.js';

main({ argv: process.argv.slice(2), env: process.env, stdout: process.stdout, stderr: process.stderr }).then(
  (code) => {
    process.exitCode = code;
    // Timers of libraries (grpc reconnects, keepalives) must not hold a finished process open,
    // but output piped to another program is flushed first, unless that reader stopped reading.
    const exit = (): never => process.exit(code);
    setTimeout(exit, 2000).unref();
    process.stdout.write('', () => setTimeout(exit, 200).unref());
  },
  (err: unknown) => {
    process.stderr.write(`beacon: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
