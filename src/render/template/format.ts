/** Go's fmt.Sprintf / Sprint / Sprintln for the verbs templates use. */
import { formatNumber, formatValue, GoStruct, isMap, typeName } from './values.js';

function bad(verb: string, arg: unknown): string {
  return `%!${verb}(${typeName(arg)}=${formatValue(arg, false)})`;
}

function pad(s: string, width: number | undefined, minus: boolean, zero: boolean): string {
  if (width === undefined || s.length >= width) return s;
  if (minus) return s + ' '.repeat(width - s.length);
  if (zero) {
    const sign = /^[+-]/.test(s) ? s[0]! : '';
    const body = sign ? s.slice(1) : s;
    return sign + '0'.repeat(width - s.length) + body;
  }
  return ' '.repeat(width - s.length) + s;
}

export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    i++;
    let minus = false;
    let plus = false;
    let zero = false;
    let space = false;
    let sharp = false;
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') minus = true;
      else if (f === '+') plus = true;
      else if (f === '0') zero = true;
      else if (f === ' ') space = true;
      else if (f === '#') sharp = true;
      else break;
    }
    let width: number | undefined;
    let prec: number | undefined;
    if (format[i] === '*') {
      width = Number(args[argi++]);
      i++;
    } else {
      const m = /^\d+/.exec(format.slice(i));
      if (m) {
        width = Number(m[0]);
        i += m[0].length;
      }
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        prec = Number(args[argi++]);
        i++;
      } else {
        const m = /^\d*/.exec(format.slice(i))!;
        prec = m[0] === '' ? 0 : Number(m[0]);
        i += m[0].length;
      }
    }
    const verb = format[i];
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argi++];
    let s: string;
    const num = (n: number): string => (plus && n >= 0 ? '+' : space && n >= 0 ? ' ' : '') + n;
    switch (verb) {
      case 'v':
        s = sharp && typeof arg === 'string' ? goQuote(arg) : formatValue(arg, false);
        if (plus && typeof arg === 'number' && arg >= 0) s = '+' + s;
        break;
      case 's':
        if (typeof arg === 'string') s = prec !== undefined ? [...arg].slice(0, prec).join('') : arg;
        else if (Array.isArray(arg) && arg.every((x) => typeof x === 'string')) s = formatValue(arg, false);
        else if (arg instanceof GoStruct || isMap(arg)) s = formatValue(arg, false);
        else s = bad(verb, arg);
        break;
      case 'q':
        if (typeof arg === 'string') s = goQuote(arg);
        else if (typeof arg === 'number' && Number.isInteger(arg)) s = `'${String.fromCodePoint(arg)}'`;
        else s = bad(verb, arg);
        break;
      case 'd':
        s = typeof arg === 'number' && Number.isInteger(arg) ? num(arg) : bad(verb, arg);
        break;
      case 'b':
      case 'o':
      case 'x':
      case 'X': {
        const radix = verb === 'b' ? 2 : verb === 'o' ? 8 : 16;
        if (typeof arg === 'number' && Number.isInteger(arg)) {
          s = (arg < 0 ? '-' : '') + (sharp && radix === 16 ? '0x' : sharp && radix === 8 ? '0' : '') + Math.abs(arg).toString(radix);
        } else if (typeof arg === 'string' && radix === 16) s = Buffer.from(arg).toString('hex');
        else s = bad(verb, arg);
        if (verb === 'X') s = s.toUpperCase();
        break;
      }
      case 'c':
        s = typeof arg === 'number' ? String.fromCodePoint(arg) : bad(verb, arg);
        break;
      case 't':
        s = typeof arg === 'boolean' ? String(arg) : bad(verb, arg);
        break;
      case 'f':
      case 'F':
        s = typeof arg === 'number' ? (plus && arg >= 0 ? '+' : '') + arg.toFixed(prec ?? 6) : bad(verb, arg);
        break;
      case 'e':
      case 'E':
        s = typeof arg === 'number' ? arg.toExponential(prec ?? 6).replace(/e([+-])(\d)$/, 'e$10$2') : bad(verb, arg);
        if (verb === 'E') s = s.toUpperCase();
        break;
      case 'g':
      case 'G':
        s = typeof arg === 'number' ? (prec === undefined ? formatNumber(arg) : String(Number(arg.toPrecision(prec || 1)))) : bad(verb, arg);
        if (verb === 'G') s = s.toUpperCase();
        break;
      default:
        s = `%!${verb}(${typeName(arg)}=${formatValue(arg, false)})`;
    }
    out += pad(s, width, minus, zero && !minus && verb !== 's' && verb !== 'v' && verb !== 'q');
  }
  if (argi < args.length) {
    out += '%!(EXTRA ' + args.slice(argi).map((a) => `${typeName(a)}=${formatValue(a, false)}`).join(', ') + ')';
  }
  return out;
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: readonly unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(a, false);
  });
  return out;
}

export function sprintln(args: readonly unknown[]): string {
  return args.map((a) => formatValue(a, false)).join(' ') + '\n';
}
