/**
 * Go's strings functions that confd templates call, where JavaScript's built-ins differ:
 * Split with an empty separator, Replace with a count, and ToUpper/ToLower, which map each rune
 * to one rune (unicode.ToUpper, Unicode's simple case mapping) where JavaScript applies the full
 * mapping (`ß` -> `SS`, `İ` -> `i̇`) and context rules (final sigma).
 */

/** strings.Split: an empty separator splits into characters. */
export function goSplit(s: string, sep: string): string[] {
  return sep === '' ? [...s] : s.split(sep);
}

/** strings.Replace with Go's n (negative: all). */
export function goReplace(s: string, old: string, repl: string, n: number): string {
  if (n === 0 || old === repl) return s;
  if (old === '') {
    const chars = [...s];
    const limit = n < 0 ? chars.length + 1 : n;
    let out = '';
    let done = 0;
    for (let i = 0; i <= chars.length; i++) {
      if (done < limit) {
        out += repl;
        done++;
      }
      if (i < chars.length) out += chars[i];
    }
    return out;
  }
  let out = '';
  let rest = s;
  let done = 0;
  while (n < 0 || done < n) {
    const i = rest.indexOf(old);
    if (i === -1) break;
    out += rest.slice(0, i) + repl;
    rest = rest.slice(i + old.length);
    done++;
  }
  return out + rest;
}

/**
 * Runes whose full uppercase mapping (SpecialCasing.txt) is several characters but whose simple
 * mapping (UnicodeData.txt, what Go uses) is another single rune: the Greek letters with
 * ypogegrammeni become their title-case forms. Every other rune with a multi-character full
 * mapping (`ß`, `ŉ`, `ǰ`, `ΐ`, `և`, `ẖ`, the `ﬀ` ligatures...) has no simple mapping and stays.
 */
function simpleUpperOfExpanding(cp: number): number {
  if ((cp >= 0x1f80 && cp <= 0x1f87) || (cp >= 0x1f90 && cp <= 0x1f97) || (cp >= 0x1fa0 && cp <= 0x1fa7)) return cp + 8;
  if (cp === 0x1fb3 || cp === 0x1fc3 || cp === 0x1ff3) return cp + 9;
  return cp;
}

/** The one rune with a multi-character full lowercase mapping: `İ` (U+0130) -> `i` in Go. */
function simpleLowerOfExpanding(cp: number): number {
  return cp === 0x130 ? 0x69 : cp;
}

const ASCII = /^[\x00-\x7f]*$/;

function mapRunes(s: string, full: (c: string) => string, simpleOfExpanding: (cp: number) => number): string {
  if (ASCII.test(s)) return full(s);
  let out = '';
  for (const c of s) {
    // one rune at a time: no context rules (a final Σ lowers to σ, as in Go)
    const m = full(c);
    out += m.length === 1 || [...m].length === 1 ? m : String.fromCodePoint(simpleOfExpanding(c.codePointAt(0)!));
  }
  return out;
}

/** strings.ToUpper */
export function goToUpper(s: string): string {
  return mapRunes(s, (c) => c.toUpperCase(), simpleUpperOfExpanding);
}

/** strings.ToLower */
export function goToLower(s: string): string {
  return mapRunes(s, (c) => c.toLowerCase(), simpleLowerOfExpanding);
}
