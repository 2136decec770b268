// The --noop diff: unified hunks with 3 lines of context, linear in the common part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineDiff } from '../../dist/render/diff.js';

const lines = (n: number, f: (i: number) => string = (i) => `line ${i}`): string => Array.from({ length: n }, (_, i) => `${f(i)}\n`).join('');

/** Applies a unified diff to `old` (checks context and removed lines on the way). */
function patch(old: string, diff: string): string {
  const a = old === '' ? [] : old.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  let at = 0;
  for (const line of diff.replace(/\n$/, '').split('\n').slice(2)) {
    const h = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@$/.exec(line);
    if (h) {
      const start = h[2] === '0' ? Number(h[1]) : Number(h[1]) - 1;
      while (at < start) out.push(a[at++]!);
      continue;
    }
    const body = line.slice(1);
    if (line[0] === '+') out.push(body);
    else {
      assert.equal(a[at], body, `line ${at + 1} of the old text`);
      if (line[0] === ' ') out.push(body);
      at++;
    }
  }
  while (at < a.length) out.push(a[at++]!);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

test('lineDiff: unified hunks with three lines of context', () => {
  const cases: [string, string, string][] = [
    ['a\nb\nc\n', 'a\nB\nc\nd\n', '@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n'],
    ['', 'x\n', '@@ -0,0 +1 @@\n+x\n'],
    ['x\n', '', '@@ -1 +0,0 @@\n-x\n'],
    [lines(10), lines(10, (i) => (i === 5 ? 'changed' : `line ${i}`)), '@@ -3,7 +3,7 @@\n line 2\n line 3\n line 4\n-line 5\n+changed\n line 6\n line 7\n line 8\n'],
    // two changes 10 lines apart: two hunks
    [lines(20), lines(20, (i) => (i === 2 || i === 12 ? `new ${i}` : `line ${i}`)), '@@ -1,6 +1,6 @@\n line 0\n line 1\n-line 2\n+new 2\n line 3\n line 4\n line 5\n@@ -10,7 +10,7 @@\n line 9\n line 10\n line 11\n-line 12\n+new 12\n line 13\n line 14\n line 15\n'],
  ];
  for (const [a, b, want] of cases) assert.equal(lineDiff(a, b, 'old', 'new'), `--- old\n+++ new\n${want}`, JSON.stringify([a, b]));
});

test('lineDiff: the diff turns the old text into the new one (random edits)', () => {
  let seed = 42;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  for (let round = 0; round < 300; round++) {
    const a = Array.from({ length: rnd(30) }, () => `l${rnd(6)}`);
    const b = a.filter(() => rnd(4) !== 0).flatMap((l) => (rnd(5) === 0 ? [l, `n${rnd(6)}`] : [l]));
    if (rnd(3) === 0) b.unshift('first');
    const oldText = a.length ? `${a.join('\n')}\n` : '';
    const newText = b.length ? `${b.join('\n')}\n` : '';
    assert.equal(patch(oldText, lineDiff(oldText, newText, 'o', 'n')), newText, JSON.stringify([a, b]));
  }
});

test('lineDiff: one changed line in a 20,000-line file is fast and prints one small hunk', () => {
  const oldText = lines(20_000);
  const newText = lines(20_000, (i) => (i === 12_345 ? 'changed' : `line ${i}`));
  const started = performance.now();
  const diff = lineDiff(oldText, newText, 'old', 'new');
  const ms = performance.now() - started;
  assert.ok(ms < 1000, `took ${ms} ms`);
  assert.equal(diff, '--- old\n+++ new\n@@ -12343,7 +12343,7 @@\n line 12342\n line 12343\n line 12344\n-line 12345\n+changed\n line 12346\n line 12347\n line 12348\n');
  // a full rewrite is bounded too, and still correct
  const rewritten = lines(20_000, (i) => `other ${i}`);
  const t2 = performance.now();
  const big = lineDiff(oldText, rewritten, 'old', 'new');
  assert.ok(performance.now() - t2 < 5000, 'full rewrite diff took too long');
  assert.equal(patch(oldText, big), rewritten);
});
