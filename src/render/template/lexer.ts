/**
 * Lexer for Go's text/template syntax (the subset confd templates use, which is nearly all of it):
 * text, actions between `{{` and `}}`, trim markers `{{- ` / ` -}}`, and comments (slash-star ... star-slash).
 * Follows text/template/parse/lex.go; tokens carry their byte offset for error positions.
 */
import { TemplateError, positionOf } from './errors.js';

export type TokenType =
  | 'text'
  | 'left'
  | 'right'
  | 'space'
  | 'identifier'
  | 'keyword'
  | 'field'
  | 'variable'
  | 'string'
  | 'rawString'
  | 'char'
  | 'number'
  | 'bool'
  | 'nil'
  | 'dot'
  | 'pipe'
  | 'leftParen'
  | 'rightParen'
  | 'declare'
  | 'assign'
  | 'comma'
  | 'eof';

export interface Token {
  readonly type: TokenType;
  readonly value: string;
  /** offset in the source */
  readonly pos: number;
}

export const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with']);

const LEFT = '{{';
const RIGHT = '}}';
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{Nd}_]/u.test(c);

export function lex(name: string, src: string): Token[] {
  const out: Token[] = [];
  const fail = (pos: number, msg: string): never => {
    throw new TemplateError(name, positionOf(src, pos), msg);
  };
  let pos = 0;
  let trimNextText = false;
  while (pos <= src.length) {
    const next = src.indexOf(LEFT, pos);
    let textEnd = next === -1 ? src.length : next;
    let text = src.slice(pos, textEnd);
    let textPos = pos;
    if (trimNextText) {
      const trimmed = text.replace(/^[ \t\r\n]+/, '');
      textPos += text.length - trimmed.length;
      text = trimmed;
      trimNextText = false;
    }
    if (next === -1) {
      if (text.length > 0) out.push({ type: 'text', value: text, pos: textPos });
      break;
    }
    // left delimiter, possibly with a trim marker: "{{- " (the dash must be followed by a space)
    let after = next + LEFT.length;
    const trimLeft = src[after] === '-' && isSpace(src[after + 1]);
    if (trimLeft) {
      text = text.replace(/[ \t\r\n]+$/, '');
      after += 2;
    }
    if (text.length > 0) out.push({ type: 'text', value: text, pos: textPos });
    // comment: {{/* ... */}}
    let at = after;
    if (trimLeft) while (isSpace(src[at])) at++;
    if (src.startsWith('/*', at)) {
      const close = src.indexOf('*/', at + 2);
      if (close === -1) fail(next, 'unclosed comment');
      let p = close + 2;
      if (src.startsWith(RIGHT, p)) {
        pos = p + RIGHT.length;
      } else if (isSpace(src[p])) {
        let q = p;
        while (isSpace(src[q])) q++;
        if (!src.startsWith('-' + RIGHT, q) || q !== p + 1) fail(next, 'comment ends before closing delimiter');
        pos = q + 1 + RIGHT.length;
        trimNextText = true;
      } else {
        fail(next, 'comment ends before closing delimiter');
      }
      continue;
    }
    out.push({ type: 'left', value: LEFT, pos: next });
    pos = lexInsideAction(name, src, trimLeft ? after - 1 : after, out, fail);
    const last = out[out.length - 1]!;
    if (last.value === '-}}') trimNextText = true;
  }
  out.push({ type: 'eof', value: '', pos: src.length });
  return out;
}

/** Lexes one action; returns the offset after its closing delimiter. */
function lexInsideAction(_name: string, src: string, start: number, out: Token[], fail: (pos: number, msg: string) => never): number {
  let pos = start;
  let parenDepth = 0;
  for (;;) {
    if (pos >= src.length) fail(start, 'unclosed action');
    const c = src[pos]!;
    // right delimiter, possibly " -}}"
    if (isSpace(c)) {
      let q = pos;
      while (isSpace(src[q])) q++;
      if (src.startsWith('-' + RIGHT, q)) {
        if (parenDepth > 0) fail(pos, 'unclosed left paren');
        out.push({ type: 'right', value: '-}}', pos: q });
        return q + 1 + RIGHT.length;
      }
      out.push({ type: 'space', value: src.slice(pos, q), pos });
      pos = q;
      continue;
    }
    if (src.startsWith(RIGHT, pos)) {
      if (parenDepth > 0) fail(pos, 'unclosed left paren');
      out.push({ type: 'right', value: RIGHT, pos });
      return pos + RIGHT.length;
    }
    if (c === '=') {
      out.push({ type: 'assign', value: '=', pos });
      pos++;
    } else if (c === ':') {
      if (src[pos + 1] !== '=') fail(pos, 'expected :=');
      out.push({ type: 'declare', value: ':=', pos });
      pos += 2;
    } else if (c === '|') {
      out.push({ type: 'pipe', value: '|', pos });
      pos++;
    } else if (c === ',') {
      out.push({ type: 'comma', value: ',', pos });
      pos++;
    } else if (c === '(') {
      parenDepth++;
      out.push({ type: 'leftParen', value: '(', pos });
      pos++;
    } else if (c === ')') {
      parenDepth--;
      if (parenDepth < 0) fail(pos, 'unexpected right paren');
      out.push({ type: 'rightParen', value: ')', pos });
      pos++;
    } else if (c === '"') {
      let q = pos + 1;
      for (;;) {
        const d = src[q];
        if (d === undefined || d === '\n') fail(pos, 'unterminated quoted string');
        if (d === '\\') q += 2;
        else if (d === '"') break;
        else q++;
      }
      out.push({ type: 'string', value: src.slice(pos, q + 1), pos });
      pos = q + 1;
    } else if (c === '`') {
      const q = src.indexOf('`', pos + 1);
      if (q === -1) fail(pos, 'unterminated raw quoted string');
      out.push({ type: 'rawString', value: src.slice(pos, q + 1), pos });
      pos = q + 1;
    } else if (c === "'") {
      let q = pos + 1;
      for (;;) {
        const d = src[q];
        if (d === undefined || d === '\n') fail(pos, 'unterminated character constant');
        if (d === '\\') q += 2;
        else if (d === "'") break;
        else q++;
      }
      out.push({ type: 'char', value: src.slice(pos, q + 1), pos });
      pos = q + 1;
    } else if (c === '$') {
      let q = pos + 1;
      while (isAlnum(src[q])) q++;
      out.push({ type: 'variable', value: src.slice(pos, q), pos });
      pos = q;
      checkTerminator(src, pos, fail);
    } else if (c === '.' && !(src[pos + 1] !== undefined && /[0-9]/.test(src[pos + 1]!))) {
      if (isAlnum(src[pos + 1])) {
        let q = pos + 1;
        while (isAlnum(src[q])) q++;
        out.push({ type: 'field', value: src.slice(pos, q), pos });
        pos = q;
        checkTerminator(src, pos, fail);
      } else {
        out.push({ type: 'dot', value: '.', pos });
        pos++;
      }
    } else if (c === '+' || c === '-' || c === '.' || /[0-9]/.test(c)) {
      const m = /^[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?|0[oO][0-7_]+|0[bB][01_]+|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)/.exec(src.slice(pos));
      const text = m?.[0] ?? '';
      if (text === '' || text === '+' || text === '-' || isAlnum(src[pos + text.length])) {
        fail(pos, `bad number syntax: ${JSON.stringify(src.slice(pos, pos + Math.max(text.length, 1) + 1))}`);
      }
      out.push({ type: 'number', value: text, pos });
      pos += text.length;
    } else if (isAlnum(c)) {
      let q = pos;
      while (isAlnum(src[q])) q++;
      const word = src.slice(pos, q);
      const type: TokenType = KEYWORDS.has(word) ? 'keyword' : word === 'true' || word === 'false' ? 'bool' : word === 'nil' ? 'nil' : 'identifier';
      out.push({ type, value: word, pos });
      pos = q;
      checkTerminator(src, pos, fail);
    } else {
      fail(pos, `unrecognized character in action: ${JSON.stringify(c)}`);
    }
  }
}

function checkTerminator(src: string, pos: number, fail: (pos: number, msg: string) => never): void {
  const c = src[pos];
  if (c === undefined || isSpace(c) || c === '.' || c === ',' || c === '|' || c === ':' || c === ')' || c === '(' || c === '=') return;
  if (src.startsWith(RIGHT, pos)) return;
  fail(pos, `bad character ${JSON.stringify(c)}`);
}
