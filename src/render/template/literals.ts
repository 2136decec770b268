/**
 * Go template literals: numbers (with character constants) and quoted strings with Go's escapes,
 * as text/template/parse reads them.
 */
import type { Token } from './lexer.js';

export function parseNumber(t: Token, fail: () => never): number {
  if (t.type === 'char') {
    const s = unquoteChar(t.value.slice(1, -1), fail);
    return s.codePointAt(0)!;
  }
  const text = t.value.replace(/_/g, '');
  let n: number;
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.replace(/^[+-]/, '');
  if (/^0[xX][0-9a-fA-F]+$/.test(body)) n = parseInt(body.slice(2), 16);
  else if (/^0[oO][0-7]+$/.test(body)) n = parseInt(body.slice(2), 8);
  else if (/^0[bB][01]+$/.test(body)) n = parseInt(body.slice(2), 2);
  else if (/^0[0-7]+$/.test(body)) n = parseInt(body.slice(1), 8);
  else if (/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(body)) n = Number(body);
  else return fail();
  return sign * n;
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"' };

function unquoteChar(body: string, fail: () => never): string {
  const s = unescape(body, fail);
  if ([...s].length !== 1) fail();
  return s;
}

/** Go's strconv.Unquote for "..." and `...` literals. */
export function unquote(text: string, fail: () => never): string {
  if (text.startsWith('`')) return text.slice(1, -1).replace(/\r/g, '');
  return unescape(text.slice(1, -1), fail);
}

function unescape(body: string, fail: () => never): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[++i];
    if (e === undefined) fail();
    if (e in ESCAPES) out += ESCAPES[e];
    else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) fail();
      const code = parseInt(hex, 16);
      out += e === 'x' ? Buffer.from([code]).toString('latin1') : String.fromCodePoint(code);
      i += len;
    } else if (/[0-7]/.test(e)) {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) fail();
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
    } else fail();
  }
  return out;
}
