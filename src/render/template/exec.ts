/**
 * Evaluator for parsed templates (after text/template/exec.go): pipelines, variables,
 * if/else/with/range/break/continue, define/template/block, and Go's builtin functions.
 */
import { TemplateError, positionOf } from './errors.js';
import { sprint, sprintf, sprintln } from './format.js';
import { argText, parse, type Arg, type Command, type Node, type Pipe, type Tree } from './parser.js';
import { formatValue, GoStruct, isMap, isTrue, typeName } from './values.js';

export interface FuncSpec {
  /** minimum and maximum argument count (Infinity: variadic) */
  readonly min: number;
  readonly max: number;
  readonly fn: (...args: unknown[]) => unknown;
}

export type FuncMap = Readonly<Record<string, FuncSpec>>;

/** Helpers to declare functions with their arity. */
export const fixed = (n: number, fn: (...args: never[]) => unknown): FuncSpec => ({ min: n, max: n, fn: fn as FuncSpec['fn'] });
export const variadic = (min: number, fn: (...args: never[]) => unknown, max = Infinity): FuncSpec => ({ min, max, fn: fn as FuncSpec['fn'] });

class ExecError extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}
const BREAK = Symbol('break');
const CONTINUE = Symbol('continue');
const MAX_DEPTH = 1000;

/** A parsed template, ready to execute with a function map. */
export class Template {
  private readonly tree: Tree;
  constructor(
    readonly name: string,
    src: string,
    private readonly funcs: FuncMap,
  ) {
    this.tree = parse(name, src, new Set([...Object.keys(BUILTINS), ...Object.keys(funcs)]));
  }

  execute(data: unknown): string {
    const state = new State(this.tree, { ...BUILTINS, ...this.funcs });
    state.vars.push({ name: '$', value: data });
    try {
      state.walk(data, this.tree.root);
    } catch (err) {
      if (err instanceof ExecError) {
        throw new TemplateError(this.name, positionOf(this.tree.src, err.pos), `executing "${this.name}": ${err.message}`);
      }
      throw err;
    }
    return state.out.join('');
  }
}

/** Parses and executes once. */
export function renderTemplate(name: string, src: string, data: unknown, funcs: FuncMap = {}): string {
  return new Template(name, src, funcs).execute(data);
}

class State {
  readonly vars: { name: string; value: unknown }[] = [];
  readonly out: string[] = [];
  private depth = 0;
  constructor(
    private readonly tree: Tree,
    private readonly funcs: FuncMap,
  ) {}

  walk(dot: unknown, node: Node): void {
    switch (node.kind) {
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'text':
        this.out.push(node.text);
        return;
      case 'action': {
        const value = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.out.push(printable(value, node.pos));
        return;
      }
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const value = this.evalPipeline(dot, node.pipe);
        if (isTrue(value)) this.walk(node.kind === 'with' ? value : dot, node.list);
        else if (node.elseList) this.walk(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'break':
        throw BREAK;
      case 'continue':
        throw CONTINUE;
      case 'template': {
        const tmpl = this.tree.defines.get(node.name);
        if (!tmpl) throw new ExecError(node.pos, `no such template "${node.name}"`);
        const newDot = node.pipe ? this.evalPipeline(dot, node.pipe) : undefined;
        if (++this.depth > MAX_DEPTH) throw new ExecError(node.pos, `exceeded maximum template depth (${MAX_DEPTH})`);
        const saved = this.vars.splice(0, this.vars.length, { name: '$', value: newDot });
        this.walk(newDot, tmpl);
        this.vars.splice(0, this.vars.length, ...saved);
        this.depth--;
        return;
      }
    }
  }

  private walkRange(dot: unknown, node: Node & { kind: 'range' }): void {
    const mark = this.vars.length;
    const value = this.evalPipeline(dot, node.pipe, false);
    const decl = node.pipe.decl;
    const items: [unknown, unknown][] = [];
    if (Array.isArray(value)) value.forEach((v, i) => items.push([i, v]));
    else if (isMap(value)) for (const k of Object.keys(value).sort()) items.push([k, value[k]]);
    else if (typeof value === 'number' && Number.isInteger(value)) {
      for (let i = 0; i < value; i++) items.push([i, i]);
    } else if (value !== null && value !== undefined) {
      throw new ExecError(node.pos, `range can't iterate over ${formatValue(value)}`);
    }
    if (items.length === 0) {
      if (node.elseList) this.walk(dot, node.elseList);
      this.vars.length = mark;
      return;
    }
    for (const [k, v] of items) {
      const iterMark = this.vars.length;
      if (decl.length === 1) this.bind(decl[0]!, v, node.pipe.isAssign);
      else if (decl.length === 2) {
        this.bind(decl[0]!, k, node.pipe.isAssign);
        this.bind(decl[1]!, v, node.pipe.isAssign);
      }
      try {
        this.walk(v, node.list);
      } catch (e) {
        if (e === BREAK) {
          this.vars.length = iterMark;
          break;
        }
        if (e !== CONTINUE) throw e;
      }
      this.vars.length = iterMark;
    }
    this.vars.length = mark;
  }

  private bind(name: string, value: unknown, assign: boolean): void {
    if (assign) this.setVar(name, value, 0);
    else this.vars.push({ name, value });
  }

  private setVar(name: string, value: unknown, pos: number): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    throw new ExecError(pos, `undefined variable: ${name}`);
  }

  private varValue(name: string, pos: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    throw new ExecError(pos, `undefined variable: ${name}`);
  }

  evalPipeline(dot: unknown, pipe: Pipe, bindDecl = true): unknown {
    let value: unknown;
    pipe.cmds.forEach((cmd, i) => {
      value = this.evalCommand(dot, cmd, i > 0, value);
    });
    if (bindDecl) for (const name of pipe.decl) this.bind(name, value, pipe.isAssign);
    return value;
  }

  private evalCommand(dot: unknown, cmd: Command, hasFinal: boolean, final: unknown): unknown {
    const first = cmd.args[0]!;
    const rest = cmd.args.slice(1);
    switch (first.kind) {
      case 'field':
        return this.evalFieldChain(dot, dot, first, first.idents, rest, hasFinal, final);
      case 'chain': {
        const receiver = this.evalArg(dot, first.node);
        return this.evalFieldChain(dot, receiver, first, first.fields, rest, hasFinal, final);
      }
      case 'identifier':
        return this.evalFunction(dot, first.name, first.pos, rest, hasFinal, final);
      case 'variable': {
        const value = this.varValue(first.idents[0]!, first.pos);
        if (first.idents.length === 1) {
          this.notAFunction(first, rest, hasFinal);
          return value;
        }
        return this.evalFieldChain(dot, value, first, first.idents.slice(1), rest, hasFinal, final);
      }
      case 'pipe':
        this.notAFunction(first, rest, hasFinal);
        return this.evalPipeline(dot, first.pipe);
      case 'nil':
        throw new ExecError(first.pos, 'nil is not a command');
      default:
        this.notAFunction(first, rest, hasFinal);
        return this.evalArg(dot, first);
    }
  }

  private notAFunction(node: Arg, rest: readonly Arg[], hasFinal: boolean): void {
    if (rest.length > 0 || hasFinal) throw new ExecError(node.pos, `can't give argument to non-function ${argText(node)}`);
  }

  private evalArg(dot: unknown, arg: Arg): unknown {
    switch (arg.kind) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'bool':
      case 'number':
      case 'string':
        return arg.value;
      case 'field':
        return this.evalFieldChain(dot, dot, arg, arg.idents, [], false, undefined);
      case 'variable': {
        const value = this.varValue(arg.idents[0]!, arg.pos);
        return arg.idents.length === 1 ? value : this.evalFieldChain(dot, value, arg, arg.idents.slice(1), [], false, undefined);
      }
      case 'chain':
        return this.evalFieldChain(dot, this.evalArg(dot, arg.node), arg, arg.fields, [], false, undefined);
      case 'pipe':
        return this.evalPipeline(dot, arg.pipe);
      case 'identifier':
        return this.evalFunction(dot, arg.name, arg.pos, [], false, undefined);
    }
  }

  private evalFieldChain(dot: unknown, receiver: unknown, node: Arg, idents: readonly string[], args: readonly Arg[], hasFinal: boolean, final: unknown): unknown {
    // Go: a field of nil data (an invalid value, as confd's templates have) is the zero value, no error
    if (node.kind === 'field' && (dot === null || dot === undefined)) return undefined;
    let value = receiver;
    idents.forEach((ident, i) => {
      const last = i === idents.length - 1;
      value = this.evalField(dot, ident, node, last ? args : [], last && hasFinal, final, value);
    });
    return value;
  }

  private evalField(dot: unknown, name: string, node: Arg, args: readonly Arg[], hasFinal: boolean, final: unknown, receiver: unknown): unknown {
    if (receiver === null || receiver === undefined) throw new ExecError(node.pos, `nil pointer evaluating interface {}.${name}`);
    if (receiver instanceof GoStruct) {
      const member = (receiver as unknown as Record<string, unknown>)[name];
      if (typeof member === 'function' && /^[A-Z]/.test(name)) {
        const values = args.map((a) => this.evalArg(dot, a));
        if (hasFinal) values.push(final);
        try {
          return (member as (...a: unknown[]) => unknown).apply(receiver, values);
        } catch (err) {
          throw new ExecError(node.pos, `error calling ${name}: ${(err as Error).message}`);
        }
      }
      if (receiver.fieldNames().includes(name)) {
        if (args.length > 0 || hasFinal) throw new ExecError(node.pos, `${name} has arguments but cannot be invoked as function`);
        return member;
      }
      throw new ExecError(node.pos, `can't evaluate field ${name} in type ${typeName(receiver)}`);
    }
    if (isMap(receiver)) {
      if (args.length > 0 || hasFinal) throw new ExecError(node.pos, `${name} is not a method but has arguments`);
      return Object.prototype.hasOwnProperty.call(receiver, name) ? receiver[name] : undefined;
    }
    throw new ExecError(node.pos, `can't evaluate field ${name} in type ${typeName(receiver)}`);
  }

  private evalFunction(dot: unknown, name: string, pos: number, args: readonly Arg[], hasFinal: boolean, final: unknown): unknown {
    if (name === 'and' || name === 'or') {
      const all = [...args.map((a) => () => this.evalArg(dot, a)), ...(hasFinal ? [() => final] : [])];
      if (all.length < 1) throw new ExecError(pos, `wrong number of args for ${name}: want at least 1 got 0`);
      let v: unknown;
      for (const get of all) {
        v = get();
        if (name === 'and' ? !isTrue(v) : isTrue(v)) return v;
      }
      return v;
    }
    const spec = this.funcs[name];
    if (!spec) throw new ExecError(pos, `"${name}" is not a defined function`);
    const values = args.map((a) => this.evalArg(dot, a));
    if (hasFinal) values.push(final);
    if (values.length < spec.min || values.length > spec.max) {
      const want = spec.min === spec.max ? `${spec.min}` : spec.max === Infinity ? `at least ${spec.min}` : `${spec.min} to ${spec.max}`;
      throw new ExecError(pos, `wrong number of args for ${name}: want ${want} got ${values.length}`);
    }
    try {
      return spec.fn(...values);
    } catch (err) {
      if (err instanceof ExecError) throw err;
      throw new ExecError(pos, `error calling ${name}: ${(err as Error).message}`);
    }
  }
}

function printable(value: unknown, _pos: number): string {
  return formatValue(value, true);
}

// ---- builtins (text/template/funcs.go) ----

/** Argument type checks with Go's wording. */
export function str(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`wrong type for value; expected string; got ${typeName(v)}`);
  return v;
}
export function int(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`wrong type for value; expected int; got ${typeName(v)}`);
  return v;
}

type Kind = 'bool' | 'number' | 'string' | 'nil' | 'other';
function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  return 'other';
}

function eq(a: unknown, ...rest: unknown[]): boolean {
  if (rest.length === 0) throw new Error('missing argument for comparison');
  const ka = kindOf(a);
  for (const b of rest) {
    const kb = kindOf(b);
    if (ka === 'nil' || kb === 'nil') {
      if (ka === kb) return true;
      continue;
    }
    if (ka === 'other' || kb === 'other') throw new Error(`non-comparable type ${typeName(ka === 'other' ? a : b)}`);
    if (ka !== kb) throw new Error('incompatible types for comparison');
    if (a === b) return true;
  }
  return false;
}

function lt(a: unknown, b: unknown): boolean {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if ((ka !== 'number' && ka !== 'string') || (kb !== 'number' && kb !== 'string')) throw new Error('invalid type for comparison');
  if (ka !== kb) throw new Error('incompatible types for comparison');
  return (a as number | string) < (b as number | string);
}

function length(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new Error(`len of type ${typeName(v)}`);
}

function index(item: unknown, ...indexes: unknown[]): unknown {
  let v = item;
  for (const ix of indexes) {
    if (v === null || v === undefined) throw new Error('index of untyped nil');
    if (Array.isArray(v) || typeof v === 'string') {
      const i = int(ix);
      const len = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
      if (i < 0 || i >= len) throw new Error(`index out of range: ${i}`);
      v = typeof v === 'string' ? Buffer.from(v)[i] : v[i];
    } else if (isMap(v)) {
      v = Object.prototype.hasOwnProperty.call(v, str(ix)) ? v[ix as string] : undefined;
    } else throw new Error(`can't index item of type ${typeName(v)}`);
  }
  return v;
}

function slice(item: unknown, ...indexes: unknown[]): unknown {
  if (typeof item !== 'string' && !Array.isArray(item)) throw new Error(`can't slice item of type ${typeName(item)}`);
  if (typeof item === 'string' && indexes.length > 2) throw new Error('cannot 3-index slice a string');
  const len = typeof item === 'string' ? Buffer.byteLength(item) : item.length;
  const ix = indexes.map(int);
  const from = ix[0] ?? 0;
  const to = ix[1] ?? len;
  if (from < 0 || to > len || from > to) throw new Error(`index out of range: ${from}:${to}`);
  return typeof item === 'string' ? Buffer.from(item).subarray(from, to).toString() : item.slice(from, to);
}

const evalArgs = (args: unknown[]): string => (args.length === 1 && typeof args[0] === 'string' ? args[0] : sprint(args));

function htmlEscape(s: string): string {
  return s.replace(/[&'<>"\0]/g, (c) => ({ '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;', '\0': '\uFFFD' })[c]!);
}
function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '"') out += '\\"';
    else if (ch === '<') out += '\\u003C';
    else if (ch === '>') out += '\\u003E';
    else if (ch === '&') out += '\\u0026';
    else if (ch === '=') out += '\\u003D';
    else if (c < 0x20) out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}
function queryEscape(s: string): string {
  return Array.from(Buffer.from(s))
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-_.~]/.test(c)) return c;
      if (c === ' ') return '+';
      return '%' + b.toString(16).toUpperCase().padStart(2, '0');
    })
    .join('');
}

export const BUILTINS: FuncMap = {
  and: variadic(1, () => undefined),
  or: variadic(1, () => undefined),
  not: fixed(1, (v: unknown) => !isTrue(v)),
  len: fixed(1, length),
  index: variadic(1, index),
  slice: variadic(1, slice, 4),
  print: variadic(0, (...a: unknown[]) => sprint(a)),
  printf: variadic(1, (f: unknown, ...a: unknown[]) => sprintf(str(f), a)),
  println: variadic(0, (...a: unknown[]) => sprintln(a)),
  html: variadic(0, (...a: unknown[]) => htmlEscape(evalArgs(a))),
  js: variadic(0, (...a: unknown[]) => jsEscape(evalArgs(a))),
  urlquery: variadic(0, (...a: unknown[]) => queryEscape(evalArgs(a))),
  eq: variadic(1, eq),
  ne: fixed(2, (a: unknown, b: unknown) => !eq(a, b)),
  lt: fixed(2, lt),
  le: fixed(2, (a: unknown, b: unknown) => lt(a, b) || eq(a, b)),
  gt: fixed(2, (a: unknown, b: unknown) => !(lt(a, b) || eq(a, b))),
  ge: fixed(2, (a: unknown, b: unknown) => !lt(a, b)),
};
