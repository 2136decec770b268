/**
 * The unified diff `--noop` prints: common prefix and suffix trimmed, Myers' O((N+M)D) diff of
 * the rest, hunks with CONTEXT lines around each change. A rewrite too large for an exact diff
 * (more than MAX_EDITS changed lines) is shown as the old middle removed and the new one added.
 */
const CONTEXT = 3;
const MAX_EDITS = 2000;

/** One line of the edit script: kept (' '), removed ('-') or added ('+'). */
type Op = ' ' | '-' | '+';

export function lineDiff(oldText: string, newText: string, oldName: string, newName: string): string {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const middle = editScript(a.slice(prefix, a.length - suffix), b.slice(prefix, b.length - suffix));
  const ops: Op[] = new Array<Op>(prefix).fill(' ');
  for (const op of middle) ops.push(op);
  for (let i = 0; i < suffix; i++) ops.push(' ');
  return [`--- ${oldName}`, `+++ ${newName}`, ...hunks(ops, a, b)].join('\n') + '\n';
}

/** Myers' greedy shortest edit script of `a` -> `b`; beyond MAX_EDITS, remove all then add all. */
function editScript(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const limit = Math.min(MAX_EDITS, n + m);
  const offset = limit + 1;
  const v = new Int32Array(2 * limit + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= limit && found < 0; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? v[offset + k + 1]! : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return [...new Array<Op>(n).fill('-'), ...new Array<Op>(m).fill('+')];
  const reversed: Op[] = [];
  let x = n;
  let y = m;
  for (let d = found; d >= 0; d--) {
    // trace[d] holds V[-d-1 .. d+1] as it was when round d started
    const at = (k: number): number => trace[d]![k + d + 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : at(prevK);
    const prevY = d === 0 ? 0 : prevX - prevK;
    while (x > prevX && y > prevY) {
      reversed.push(' ');
      x--;
      y--;
    }
    if (d > 0) {
      if (x === prevX) {
        reversed.push('+');
        y--;
      } else {
        reversed.push('-');
        x--;
      }
    }
  }
  return reversed.reverse();
}

/** Unified-diff hunks (`@@ -l,s +l,s @@`) of an edit script over the whole files. */
function hunks(ops: readonly Op[], a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  // old/new line numbers before each op
  const oldAt = new Int32Array(ops.length + 1);
  const newAt = new Int32Array(ops.length + 1);
  for (let i = 0; i < ops.length; i++) {
    oldAt[i + 1] = oldAt[i]! + (ops[i] === '+' ? 0 : 1);
    newAt[i + 1] = newAt[i]! + (ops[i] === '-' ? 0 : 1);
  }
  let i = 0;
  while (i < ops.length) {
    if (ops[i] === ' ') {
      i++;
      continue;
    }
    const start = Math.max(0, i - CONTEXT);
    // extend over changes closer than two contexts apart
    let last = i;
    for (let j = i + 1; j < ops.length && j <= last + 2 * CONTEXT; j++) if (ops[j] !== ' ') last = j;
    const end = Math.min(ops.length, last + 1 + CONTEXT);
    const oldCount = oldAt[end]! - oldAt[start]!;
    const newCount = newAt[end]! - newAt[start]!;
    out.push(`@@ -${range(oldAt[start]!, oldCount)} +${range(newAt[start]!, newCount)} @@`);
    for (let j = start; j < end; j++) {
      const op = ops[j]!;
      out.push(op + (op === '+' ? b[newAt[j]!] : a[oldAt[j]!]));
    }
    i = end;
  }
  return out;
}

/** GNU diff's hunk range: `start,count`, `start` alone for one line, `before,0` for none. */
function range(before: number, count: number): string {
  if (count === 0) return `${before},0`;
  return count === 1 ? `${before + 1}` : `${before + 1},${count}`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
