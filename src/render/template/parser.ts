/**
 * Parser for Go text/template (after text/template/parse/parse.go): builds a tree of nodes,
 * checks function names and variables at parse time as Go does.
 */
import { TemplateError, positionOf } from './errors.js';
import { lex, type Token } from './lexer.js';
import { parseNumber, unquote } from './literals.js';

export type Node =
  | { kind: 'list'; pos: number; nodes: Node[] }
  | { kind: 'text'; pos: number; text: string }
  | { kind: 'action'; pos: number; pipe: Pipe }
  | { kind: 'if' | 'with'; pos: number; pipe: Pipe; list: Node; elseList?: Node }
  | { kind: 'range'; pos: number; pipe: Pipe; list: Node; elseList?: Node }
  | { kind: 'template'; pos: number; name: string; pipe?: Pipe }
  | { kind: 'break' | 'continue'; pos: number };

export interface Pipe {
  pos: number;
  /** `$x := ...` (declare) or `$x = ...` (assign) */
  decl: string[];
  isAssign: boolean;
  cmds: Command[];
}

export interface Command {
  pos: number;
  args: Arg[];
}

export type Arg =
  | { kind: 'field'; pos: number; idents: string[] }
  | { kind: 'chain'; pos: number; node: Arg; fields: string[] }
  | { kind: 'identifier'; pos: number; name: string }
  | { kind: 'variable'; pos: number; idents: string[] }
  | { kind: 'dot'; pos: number }
  | { kind: 'nil'; pos: number }
  | { kind: 'bool'; pos: number; value: boolean }
  | { kind: 'number'; pos: number; value: number; text: string }
  | { kind: 'string'; pos: number; value: string; text: string }
  | { kind: 'pipe'; pos: number; pipe: Pipe };

export interface Tree {
  readonly name: string;
  readonly src: string;
  readonly root: Node;
  /** `{{define "name"}}` templates */
  readonly defines: Map<string, Node>;
}

export function parse(name: string, src: string, funcs: ReadonlySet<string>): Tree {
  return new Parser(name, src, lex(name, src), funcs).parseTree();
}

class Parser {
  private i = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  readonly defines = new Map<string, Node>();

  constructor(
    private readonly name: string,
    private readonly src: string,
    private readonly toks: Token[],
    private readonly funcs: ReadonlySet<string>,
  ) {}

  private fail(pos: number, msg: string): never {
    throw new TemplateError(this.name, positionOf(this.src, pos), msg);
  }

  private next(): Token {
    const t = this.toks[this.i]!;
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  private peek(): Token {
    return this.toks[this.i]!;
  }
  private backup(): void {
    this.i--;
  }
  private nextNonSpace(): Token {
    let t = this.next();
    while (t.type === 'space') t = this.next();
    return t;
  }
  private peekNonSpace(): Token {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }
  private expect(type: Token['type'], context: string): Token {
    const t = this.nextNonSpace();
    if (t.type !== type) this.unexpected(t, context);
    return t;
  }
  private unexpected(t: Token, context: string): never {
    if (t.type === 'eof') this.fail(t.pos, `unexpected EOF in ${context}`);
    if (t.type === 'right') this.fail(t.pos, `unexpected "}}" in ${context}`);
    this.fail(t.pos, `unexpected ${describe(t)} in ${context}`);
  }

  parseTree(): Tree {
    const nodes: Node[] = [];
    for (;;) {
      const t = this.peek();
      if (t.type === 'eof') break;
      if (t.type === 'left') {
        const save = this.i;
        this.next();
        const kw = this.nextNonSpace();
        if (kw.type === 'keyword' && kw.value === 'define') {
          this.parseDefine(kw.pos);
          continue;
        }
        this.i = save;
      }
      const n = this.textOrAction();
      if (isEnd(n)) this.fail(n.pos, `unexpected {{${n.kind}}}`);
      nodes.push(n);
    }
    return { name: this.name, src: this.src, root: { kind: 'list', pos: 0, nodes }, defines: this.defines };
  }

  private parseDefine(pos: number): void {
    const nameTok = this.nextNonSpace();
    if (nameTok.type !== 'string' && nameTok.type !== 'rawString') this.unexpected(nameTok, 'define clause');
    this.expect('right', 'define clause');
    const saved = this.vars;
    this.vars = ['$'];
    const [list, end] = this.itemList();
    if (end.kind !== 'end') this.fail(end.pos, 'unexpected {{else}} in define clause');
    this.vars = saved;
    const name = unquote(nameTok.value, () => this.fail(nameTok.pos, 'bad string'));
    if (this.defines.has(name)) this.fail(pos, `template: multiple definition of template "${name}"`);
    this.defines.set(name, list);
  }

  /** Items up to {{end}} or {{else}} (returned as the second element). */
  private itemList(): [Node & { kind: 'list' }, { kind: 'end' | 'else'; pos: number }] {
    const list: Node & { kind: 'list' } = { kind: 'list', pos: this.peek().pos, nodes: [] };
    for (;;) {
      if (this.peekNonSpace().type === 'eof') this.fail(this.peek().pos, 'unexpected EOF');
      const n = this.textOrAction();
      if (isEnd(n)) return [list, n];
      list.nodes.push(n);
    }
  }

  private textOrAction(): Node | { kind: 'end' | 'else'; pos: number } {
    const t = this.next();
    if (t.type === 'text') return { kind: 'text', pos: t.pos, text: t.value };
    if (t.type === 'left') return this.action();
    return this.unexpected(t, 'input');
  }

  private action(): Node | { kind: 'end' | 'else'; pos: number } {
    const t = this.nextNonSpace();
    if (t.type === 'keyword') {
      switch (t.value) {
        case 'block':
          return this.blockControl(t.pos);
        case 'break':
        case 'continue':
          if (this.rangeDepth === 0) this.fail(t.pos, `{{${t.value}}} outside {{range}}`);
          this.expect('right', t.value);
          return { kind: t.value, pos: t.pos };
        case 'else':
          return this.elseControl(t.pos);
        case 'end':
          this.expect('right', 'end');
          return { kind: 'end', pos: t.pos };
        case 'if':
        case 'with':
          return this.control(t.value, t.pos);
        case 'range':
          this.rangeDepth++;
          try {
            return this.control('range', t.pos);
          } finally {
            this.rangeDepth--;
          }
        case 'template':
          return this.templateControl(t.pos);
        case 'define':
          this.fail(t.pos, 'unexpected {{define}}: define is only allowed at the top level');
      }
    }
    this.backup();
    return { kind: 'action', pos: t.pos, pipe: this.pipeline('command', 'right') };
  }

  // {{else}}, {{else if ...}}, {{else with ...}}: the chained forms become a nested control node
  private pendingElse: 'if' | 'with' | undefined;
  private elseControl(pos: number): { kind: 'else'; pos: number } {
    const p = this.peekNonSpace();
    if (p.type === 'keyword' && (p.value === 'if' || p.value === 'with')) {
      this.pendingElse = p.value;
      return { kind: 'else', pos };
    }
    this.expect('right', 'else');
    return { kind: 'else', pos };
  }

  private control(kind: 'if' | 'with' | 'range', pos: number): Node {
    const mark = this.vars.length;
    try {
      const pipe = this.pipeline(kind, 'right');
      if (kind === 'range') this.checkRangeDecl(pipe);
      let [list, end] = this.itemList();
      let elseList: Node | undefined;
      if (end.kind === 'else') {
        const chained = this.pendingElse;
        this.pendingElse = undefined;
        if (chained) {
          if (chained !== kind) this.fail(end.pos, `unexpected {{else ${chained}}} in {{${kind}}}`);
          // `{{else if x}}` = `{{else}}{{if x}}...{{end}}` sharing this control's {{end}}
          const kwTok = this.nextNonSpace();
          const inner = this.control(chained, kwTok.pos);
          elseList = { kind: 'list', pos: end.pos, nodes: [inner] };
          return { kind, pos, pipe, list, elseList } as Node;
        }
        const [el, end2] = this.itemList();
        if (end2.kind !== 'end') this.fail(end2.pos, 'expected {{end}}; found {{else}}');
        elseList = el;
        end = end2;
      }
      return (elseList ? { kind, pos, pipe, list, elseList } : { kind, pos, pipe, list }) as Node;
    } finally {
      this.vars.length = mark;
    }
  }

  private checkRangeDecl(pipe: Pipe): void {
    if (pipe.decl.length > 2) this.fail(pipe.pos, 'too many declarations in range');
  }

  private blockControl(pos: number): Node {
    const nameTok = this.nextNonSpace();
    if (nameTok.type !== 'string' && nameTok.type !== 'rawString') this.unexpected(nameTok, 'block clause');
    const name = unquote(nameTok.value, () => this.fail(nameTok.pos, 'bad string'));
    const pipe = this.pipeline('block', 'right');
    const saved = this.vars;
    this.vars = ['$'];
    const [list, end] = this.itemList();
    this.vars = saved;
    if (end.kind !== 'end') this.fail(end.pos, 'unexpected {{else}} in block clause');
    if (this.defines.has(name)) this.fail(pos, `template: multiple definition of template "${name}"`);
    this.defines.set(name, list);
    return { kind: 'template', pos, name, pipe };
  }

  private templateControl(pos: number): Node {
    const nameTok = this.nextNonSpace();
    if (nameTok.type !== 'string' && nameTok.type !== 'rawString') this.unexpected(nameTok, 'template clause');
    const name = unquote(nameTok.value, () => this.fail(nameTok.pos, 'bad string'));
    if (this.peekNonSpace().type === 'right') {
      this.nextNonSpace();
      return { kind: 'template', pos, name };
    }
    return { kind: 'template', pos, name, pipe: this.pipeline('template clause', 'right') };
  }

  private pipeline(context: string, end: 'right' | 'rightParen'): Pipe {
    const start = this.peekNonSpace();
    const pipe: Pipe = { pos: start.pos, decl: [], isAssign: false, cmds: [] };
    // declarations: $x := / $x = / $i, $v :=
    decls: if (start.type === 'variable') {
      const save = this.i;
      this.nextNonSpace();
      const names = [start.value];
      let t = this.nextNonSpace();
      if (t.type === 'comma' && context === 'range') {
        const v2 = this.nextNonSpace();
        if (v2.type !== 'variable') this.fail(v2.pos, `bad declaration in range: expected variable, found ${describe(v2)}`);
        names.push(v2.value);
        t = this.nextNonSpace();
        if (t.type !== 'declare' && t.type !== 'assign') this.fail(t.pos, 'bad declaration in range: expected := or =');
      }
      if (t.type === 'declare' || t.type === 'assign') {
        pipe.isAssign = t.type === 'assign';
        pipe.decl = names;
        if (pipe.isAssign) {
          for (const n of names) if (!this.vars.includes(n)) this.fail(start.pos, `undefined variable "${n}"`);
        }
        break decls;
      }
      this.i = save;
    }
    for (;;) {
      const t = this.nextNonSpace();
      if (t.type === end) {
        if (pipe.cmds.length === 0) this.fail(t.pos, `missing value for ${context}`);
        // variables come into scope after their pipeline
        if (!pipe.isAssign) this.vars.push(...pipe.decl);
        return pipe;
      }
      if (t.type === 'pipe' && pipe.cmds.length === 0) this.fail(t.pos, `missing value for command before |`);
      if (t.type === 'pipe') continue;
      this.backup();
      pipe.cmds.push(this.command(end));
    }
  }

  private command(end: 'right' | 'rightParen'): Command {
    const cmd: Command = { pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const t = this.next();
      if (t.type === 'space') {
        const n = this.peek();
        if (n.type === end || n.type === 'pipe') break;
        continue;
      }
      if (t.type === end || t.type === 'pipe') {
        this.backup();
        break;
      }
      if (t.type === 'eof') this.fail(t.pos, 'unclosed action');
      this.fail(t.pos, `unexpected ${describe(t)} in operand`);
    }
    if (cmd.args.length === 0) this.fail(cmd.pos, 'empty command');
    return cmd;
  }

  private operand(): Arg | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().type !== 'field') return node;
    const fields: string[] = [];
    while (this.peek().type === 'field') fields.push(this.next().value.slice(1));
    if (node.kind === 'field') return { kind: 'field', pos: node.pos, idents: [...node.idents, ...fields] };
    if (node.kind === 'variable') return { kind: 'variable', pos: node.pos, idents: [...node.idents, ...fields] };
    if (node.kind === 'bool' || node.kind === 'string' || node.kind === 'number' || node.kind === 'nil' || node.kind === 'dot') {
      this.fail(node.pos, `unexpected . after term ${JSON.stringify(argText(node))}`);
    }
    return { kind: 'chain', pos: node.pos, node, fields };
  }

  private term(): Arg | undefined {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'identifier':
        if (!this.funcs.has(t.value)) this.fail(t.pos, `function "${t.value}" not defined`);
        return { kind: 'identifier', pos: t.pos, name: t.value };
      case 'dot':
        return { kind: 'dot', pos: t.pos };
      case 'nil':
        return { kind: 'nil', pos: t.pos };
      case 'variable':
        if (!this.vars.includes(t.value)) this.fail(t.pos, `undefined variable "${t.value}"`);
        return { kind: 'variable', pos: t.pos, idents: [t.value] };
      case 'field':
        return { kind: 'field', pos: t.pos, idents: [t.value.slice(1)] };
      case 'bool':
        return { kind: 'bool', pos: t.pos, value: t.value === 'true' };
      case 'char':
      case 'number':
        return { kind: 'number', pos: t.pos, value: parseNumber(t, () => this.fail(t.pos, `bad number syntax: ${JSON.stringify(t.value)}`)), text: t.value };
      case 'string':
      case 'rawString':
        return { kind: 'string', pos: t.pos, value: unquote(t.value, () => this.fail(t.pos, `bad string ${t.value}`)), text: t.value };
      case 'leftParen': {
        const pipe = this.pipeline('parenthesized pipeline', 'rightParen');
        return { kind: 'pipe', pos: t.pos, pipe };
      }
    }
    this.backup();
    return undefined;
  }
}

type EndMarker = { kind: 'end' | 'else'; pos: number };
function isEnd(n: Node | EndMarker): n is EndMarker {
  return n.kind === 'end' || n.kind === 'else';
}

function describe(t: Token): string {
  switch (t.type) {
    case 'eof':
      return 'EOF';
    case 'space':
      return 'space';
    case 'keyword':
      return `<${t.value}>`;
    default:
      return JSON.stringify(t.value);
  }
}

/** An argument as Go's text/template prints it in error messages. */
export function argText(a: Arg): string {
  switch (a.kind) {
    case 'string':
    case 'number':
      return a.text;
    case 'bool':
      return String(a.value);
    case 'nil':
      return 'nil';
    case 'dot':
      return '.';
    case 'field':
      return '.' + a.idents.join('.');
    case 'variable':
      return a.idents.join('.');
    case 'identifier':
      return a.name;
    default:
      return `<${a.kind}>`;
  }
}
