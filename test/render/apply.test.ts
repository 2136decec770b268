// The safe-apply pipeline with real files and shell commands (no nginx): every failure path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyContent } from '../../dist/render/apply.js';
import { runShell as runCommand } from '../../dist/shell.js';
import { createLogger } from '../../dist/log.js';

const log = createLogger('silent');

function setup(t: { after(fn: () => void): void }): { dir: string; dest: string; out: string[]; opts: { noop: boolean; timeoutMs: number; log: typeof log; out: { write(s: string): void } } } {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-apply-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out: string[] = [];
  return { dir, dest: join(dir, 'app.conf'), out, opts: { noop: false, timeoutMs: 5000, log, out: { write: (s: string) => void out.push(s) } } };
}

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
const leftovers = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.staged'));

test('apply: writes a new file with the requested mode, stages it next to dest under a name *.conf does not match', async (t) => {
  const { dir, dest, opts } = setup(t);
  const seen = join(dir, 'seen');
  const r = await applyContent({ name: 'r', dest, mode: 0o640, checkCmd: `echo {{.src}} > ${seen}; test -f {{.src}}` }, 'new\n', opts);
  assert.deepEqual(r, { outcome: 'written', reloaded: false });
  assert.equal(readFileSync(dest, 'utf8'), 'new\n');
  assert.equal(statSync(dest).mode & 0o777, 0o640);
  const staged = readFileSync(seen, 'utf8').trim();
  assert.equal(join(staged, '..'), dir, 'staged in the same directory (atomic rename)');
  assert.doesNotMatch(staged.split('/').pop()!, /^[^.].*\.conf$/, 'an include *.conf glob does not pick it up');
  assert.deepEqual(leftovers(dir), []);
});

test('apply: identical bytes change nothing and run no command', async (t) => {
  const { dir, dest, opts } = setup(t);
  writeFileSync(dest, 'same\n');
  const ran = join(dir, 'ran');
  const r = await applyContent({ name: 'r', dest, checkCmd: `touch ${ran}`, reloadCmd: `touch ${ran}` }, 'same\n', opts);
  assert.deepEqual(r, { outcome: 'unchanged' });
  assert.equal(existsSync(ran), false);
});

test('apply: a failing check of the staged file keeps the previous file and runs no reload', async (t) => {
  const { dir, dest, opts } = setup(t);
  writeFileSync(dest, 'old\n');
  const reloads = join(dir, 'reloads');
  const r = await applyContent({ name: 'r', dest, checkCmd: 'grep -q good {{.src}}', reloadCmd: `echo r >> ${reloads}` }, 'bad\n', opts);
  assert.equal(r.outcome, 'check-failed');
  assert.equal(readFileSync(dest, 'utf8'), 'old\n');
  assert.deepEqual(lines(reloads), []);
  assert.deepEqual(leftovers(dir), []);
});

test('apply: a failing in-place check (no {{.src}}) restores the previous file before any reload', async (t) => {
  const { dir, dest, opts } = setup(t);
  writeFileSync(dest, 'old\n');
  const reloads = join(dir, 'reloads');
  const r = await applyContent({ name: 'r', dest, checkCmd: `grep -q good ${dest}`, reloadCmd: `echo r >> ${reloads}` }, 'bad\n', opts);
  assert.equal(r.outcome, 'check-failed');
  assert.equal(readFileSync(dest, 'utf8'), 'old\n');
  assert.deepEqual(lines(reloads), []);
  // and a passing in-place check keeps the new file
  const ok = await applyContent({ name: 'r', dest, checkCmd: `grep -q good ${dest}`, reloadCmd: `echo r >> ${reloads}` }, 'good\n', opts);
  assert.deepEqual(ok, { outcome: 'written', reloaded: true });
  assert.equal(readFileSync(dest, 'utf8'), 'good\n');
  assert.deepEqual(lines(reloads), ['r']);
});

test('apply: a failing reload restores the previous file and reloads again', async (t) => {
  const { dir, dest, opts } = setup(t);
  writeFileSync(dest, 'old\n');
  const reloads = join(dir, 'reloads');
  // the reload fails while the new text is in place, succeeds with the old one
  const reloadCmd = `cat {{.dest}} >> ${reloads}; grep -q old {{.dest}}`;
  const r = await applyContent({ name: 'r', dest, reloadCmd }, 'new\n', opts);
  assert.deepEqual(r, { outcome: 'reload-failed', error: 'reload_cmd failed (exit 1)', restored: true });
  assert.equal(readFileSync(dest, 'utf8'), 'old\n');
  assert.deepEqual(lines(reloads), ['new', 'old']);
  assert.deepEqual(leftovers(dir), []);
});

test('apply: a reload that hangs is killed after the timeout and counts as failed', async (t) => {
  const { dir, dest, opts } = setup(t);
  writeFileSync(dest, 'old\n');
  const started = Date.now();
  const r = await applyContent({ name: 'r', dest, reloadCmd: 'grep -q old {{.dest}} || sleep 30' }, 'new\n', { ...opts, timeoutMs: 300 });
  assert.equal(r.outcome, 'reload-failed');
  assert.equal((r as { error: string }).error, 'reload_cmd timed out');
  assert.ok(Date.now() - started < 5000);
  assert.equal(readFileSync(dest, 'utf8'), 'old\n');
  assert.deepEqual(leftovers(dir), []);
});

test('apply: --noop prints a diff and touches nothing', async (t) => {
  const { dir, dest, out, opts } = setup(t);
  writeFileSync(dest, 'a\nb\nc\n');
  const ran = join(dir, 'ran');
  const r = await applyContent({ name: 'r', dest, checkCmd: `touch ${ran}`, reloadCmd: `touch ${ran}` }, 'a\nB\nc\nd\n', { ...opts, noop: true });
  assert.equal(r.outcome, 'diff');
  assert.equal(out.join(''), `--- ${dest}\n+++ ${dest} (rendered)\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n`);
  assert.equal(readFileSync(dest, 'utf8'), 'a\nb\nc\n');
  assert.equal(existsSync(ran), false);
  assert.deepEqual(leftovers(dir), []);
});

test('runCommand kills the whole process group on timeout', async () => {
  const r = await runCommand('sleep 20 & sleep 20; wait', 200);
  assert.equal(r.timedOut, true);
  assert.equal(r.ok, false);
});
