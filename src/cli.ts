#!/usr/bin/env node
// The supported Node.js is checked before anything else loads: static imports are evaluated first
// (hoisted), so this file imports only node: builtins and the pure runtime check, and brings in
// the command line itself with a dynamic import once the check has passed.
import { readFileSync } from 'node:fs';
import { runtimeProblem } from './runtime.js';

/** package.json's engines.node, the one statement of the supported runtime (the image ships it). */
function enginesNode(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { engines?: { node?: unknown } };
    return typeof pkg.engines?.node === 'string' ? pkg.engines.node : undefined;
  } catch {
    return undefined;
  }
}

const engines = enginesNode();
const problem = engines === undefined ? undefined : runtimeProblem(engines, process.versions.node);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exitCode = 2;
} else {
  const { main } = await import('./cli/main.js');
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
}
