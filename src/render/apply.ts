/**
 * Safe apply, one named step each (after confd's resource/template): compare with the current
 * file, stage next to it, check, swap into place, reload, and restore the previous file when the
 * reload fails. Nothing here exits the process; every failure is a result.
 */
import { chmod, chown, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { lineDiff } from './diff.js';
import { Template } from './template/exec.js';
import { runShell, type ShellResult } from '../shell.js';

export interface ApplyTarget {
  /** resource name for logs */
  readonly name: string;
  readonly dest: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** `{{.src}}` is the staged file; without it the check runs with the new file in place */
  readonly checkCmd?: string;
  readonly reloadCmd?: string;
}

export interface ApplyOptions {
  readonly noop: boolean;
  /** limit for check_cmd and reload_cmd */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** where --noop diffs go */
  readonly out: { write(chunk: string): unknown };
}

export type ApplyResult =
  | { readonly outcome: 'unchanged' }
  | { readonly outcome: 'diff'; readonly diff: string }
  | { readonly outcome: 'written'; readonly reloaded: boolean }
  | { readonly outcome: 'check-failed'; readonly error: string }
  | { readonly outcome: 'reload-failed'; readonly error: string; readonly restored: boolean }
  | { readonly outcome: 'write-failed'; readonly error: string };

export type CommandResult = ShellResult;

let stageCounter = 0;

/** Runs every step for one rendered text (or its UTF-8 bytes). */
export async function applyContent(target: ApplyTarget, content: string | Buffer, options: ApplyOptions): Promise<ApplyResult> {
  const { log } = options;
  const current = await readCurrent(target.dest);
  const next = typeof content === 'string' ? Buffer.from(content) : content;
  if (current && current.equals(next)) return { outcome: 'unchanged' };
  if (options.noop) {
    const diff = lineDiff(current?.toString() ?? '', next.toString(), current ? target.dest : '/dev/null', `${target.dest} (rendered)`);
    options.out.write(diff);
    return { outcome: 'diff', diff };
  }

  const problem = commandProblem(target);
  if (problem) return { outcome: 'check-failed', error: problem };

  let staged: string;
  try {
    staged = await stageNextTo(target, next);
  } catch (err) {
    return { outcome: 'write-failed', error: `staging next to ${target.dest}: ${(err as Error).message}` };
  }

  if (target.checkCmd) {
    const checkInPlace = !usesSrc(target.checkCmd);
    if (checkInPlace) await swapIntoPlace(staged, target.dest);
    const check = await runShell(expandCommand(target.checkCmd, checkInPlace ? target.dest : staged, target.dest), options.timeoutMs);
    if (!check.ok) {
      if (checkInPlace) await restorePrevious(target, current);
      else await unlink(staged).catch(() => undefined);
      const error = describeFailure('check_cmd', check);
      log.error({ resource: target.name, dest: target.dest, output: check.output }, `${error}; keeping the previous file`);
      return { outcome: 'check-failed', error };
    }
    if (!checkInPlace) await swapIntoPlace(staged, target.dest);
  } else {
    await swapIntoPlace(staged, target.dest);
  }
  log.info({ resource: target.name, dest: target.dest }, 'wrote new configuration');

  if (!target.reloadCmd) return { outcome: 'written', reloaded: false };
  const reload = await runShell(expandCommand(target.reloadCmd, target.dest, target.dest), options.timeoutMs);
  if (reload.ok) {
    log.info({ resource: target.name }, 'reloaded');
    return { outcome: 'written', reloaded: true };
  }
  const error = describeFailure('reload_cmd', reload);
  if (!current) {
    // Nothing to go back to (first write, e.g. before nginx runs): the checked file stays.
    log.error({ resource: target.name, dest: target.dest, output: reload.output }, `${error}; no previous file to restore, keeping the new one`);
    return { outcome: 'reload-failed', error, restored: false };
  }
  log.error({ resource: target.name, dest: target.dest, output: reload.output }, `${error}; restoring the previous file`);
  await restorePrevious(target, current);
  const again = await runShell(expandCommand(target.reloadCmd, target.dest, target.dest), options.timeoutMs);
  const restored = again.ok;
  if (again.ok) log.warn({ resource: target.name }, 'previous file restored and reloaded');
  else log.error({ resource: target.name, output: again.output }, `${describeFailure('reload_cmd', again)} after restoring the previous file`);
  return { outcome: 'reload-failed', error, restored };
}

/** The destination's bytes, or undefined when it does not exist yet. */
export async function readCurrent(dest: string): Promise<Buffer | undefined> {
  try {
    return await readFile(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes the new text next to dest under a name an nginx `include *.conf` glob does not match
 * (`.<dest>.beacon-<pid>-<n>.staged`), with the mode and owner dest should have.
 */
export async function stageNextTo(target: ApplyTarget, content: Buffer): Promise<string> {
  const staged = join(dirname(target.dest), `.${basename(target.dest)}.beacon-${process.pid}-${++stageCounter}.staged`);
  const existing = await stat(target.dest).catch(() => undefined);
  const mode = target.mode ?? (existing ? existing.mode & 0o7777 : 0o644);
  await writeFile(staged, content, { mode });
  try {
    await chmod(staged, mode);
    const uid = target.uid ?? existing?.uid;
    const gid = target.gid ?? existing?.gid;
    if ((uid !== undefined && uid !== process.getuid?.()) || (gid !== undefined && gid !== process.getgid?.())) {
      await chown(staged, uid ?? -1, gid ?? -1);
    }
  } catch (err) {
    await unlink(staged).catch(() => undefined);
    throw err;
  }
  return staged;
}

/** Atomic on one filesystem: readers see the old file or the new one, never a partial one. */
export async function swapIntoPlace(staged: string, dest: string): Promise<void> {
  await rename(staged, dest);
}

/** Puts the previous bytes back (atomically), or removes dest if there was none. */
export async function restorePrevious(target: ApplyTarget, previous: Buffer | undefined): Promise<void> {
  if (!previous) {
    await unlink(target.dest).catch(() => undefined);
    return;
  }
  const staged = await stageNextTo(target, previous);
  await swapIntoPlace(staged, target.dest);
}

/** What is wrong with the target's command templates, if anything (checked before any write). */
export function commandProblem(target: Pick<ApplyTarget, 'checkCmd' | 'reloadCmd'>): string | undefined {
  for (const [what, cmd] of [['check_cmd', target.checkCmd], ['reload_cmd', target.reloadCmd]] as const) {
    if (cmd === undefined) continue;
    try {
      expandCommand(cmd, '/staged', '/dest');
    } catch (err) {
      return `${what} ${JSON.stringify(cmd)}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

export function usesSrc(cmd: string): boolean {
  return /\{\{-?\s*\.src\s*-?\}\}/.test(cmd);
}

/** check_cmd / reload_cmd are templates too: `{{.src}}` (staged or current file) and `{{.dest}}`. */
export function expandCommand(cmd: string, src: string, dest: string): string {
  return new Template('command', cmd, {}).execute({ src, dest });
}

function describeFailure(what: string, r: CommandResult): string {
  if (r.timedOut) return `${what} timed out`;
  return `${what} failed (exit ${r.code ?? 'signal'})`;
}
