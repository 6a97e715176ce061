/**
 * Workflows expressions (`${...}`): a tokenizer, a precedence-climbing parser
 * and a compiler from the syntax tree to closures. Nothing is ever eval'd.
 */
import { Raised, wfError } from './errors';
import type { Runtime } from './runtime';
import {
  Double,
  type Value,
  type ValueMap,
  deepEqual,
  intOrDouble,
  isMap,
  isNumber,
  numeric,
  typeName,
} from './values';

type Token =
  | { kind: 'num'; text: string; pos: number }
  | { kind: 'str'; value: string; pos: number }
  | { kind: 'id'; text: string; pos: number }
  | { kind: 'op'; text: string; pos: number }
  | { kind: 'end'; pos: number };

export class ExpressionSyntaxError extends Error {
  constructor(source: string, pos: number, expected: string) {
    super(`invalid expression "${source}" at position ${pos}: expected ${expected}`);
    this.name = 'ExpressionSyntaxError';
  }
}

const OPERATORS = [
  '//',
  '==',
  '!=',
  '<=',
  '>=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '<',
  '>',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  '.',
  ':',
];
const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  '"': '"',
  "'": "'",
  '/': '/',
  b: '\b',
  f: '\f',
};

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const start = i;
    if (c >= '0' && c <= '9') {
      const m = /\d+(\.\d+)?([eE][+-]?\d+)?/y;
      m.lastIndex = i;
      const text = m.exec(src)![0];
      i += text.length;
      out.push({ kind: 'num', text, pos: start });
    } else if (c === '"' || c === "'") {
      let value = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') {
          const e = src[i + 1];
          if (e === 'u') {
            value += String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16));
            i += 6;
            continue;
          }
          if (!(e in ESCAPES)) throw new ExpressionSyntaxError(src, i, 'a valid escape sequence');
          value += ESCAPES[e];
          i += 2;
        } else value += src[i++];
      }
      if (i >= src.length) throw new ExpressionSyntaxError(src, start, 'a closing quote');
      i++;
      out.push({ kind: 'str', value, pos: start });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /[A-Za-z_][A-Za-z0-9_]*/y;
      m.lastIndex = i;
      const text = m.exec(src)![0];
      i += text.length;
      out.push({ kind: 'id', text, pos: start });
    } else {
      const op = OPERATORS.find((o) => src.startsWith(o, i));
      if (!op) throw new ExpressionSyntaxError(src, i, `an operator, not "${c}"`);
      i += op.length;
      out.push({ kind: 'op', text: op, pos: start });
    }
  }
  out.push({ kind: 'end', pos: src.length });
  return out;
}

/** The syntax tree. */
export type Node =
  | { type: 'lit'; value: Value }
  | { type: 'var'; name: string }
  | { type: 'list'; items: Node[] }
  | { type: 'map'; entries: [Node, Node][] }
  | { type: 'member'; object: Node; key: string }
  | { type: 'index'; object: Node; index: Node }
  | { type: 'call'; name: string; args: Node[] }
  | { type: 'unary'; op: '-' | 'not'; operand: Node }
  | { type: 'binary'; op: string; left: Node; right: Node };

const BINARY_PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  '==': 3,
  '!=': 3,
  '<': 3,
  '<=': 3,
  '>': 3,
  '>=': 3,
  in: 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '//': 5,
  '%': 5,
};
const KEYWORD_LITERALS: Record<string, Value> = {
  true: true,
  True: true,
  TRUE: true,
  false: false,
  False: false,
  FALSE: false,
  null: null,
};

/** Logical operators "can be lower-case or upper-case (but not mixed-case)" (syntax/datatypes). */
const LOGICAL: Record<string, 'and' | 'or' | 'not' | undefined> = {
  and: 'and',
  AND: 'and',
  or: 'or',
  OR: 'or',
  not: 'not',
  NOT: 'not',
};

export function parseExpression(src: string): Node {
  const tokens = tokenize(src);
  let p = 0;
  const peek = (): Token => tokens[p];
  const isOp = (text: string): boolean => {
    const t = tokens[p];
    return t.kind === 'op' && t.text === text;
  };
  const expect = (text: string): void => {
    if (!isOp(text)) throw new ExpressionSyntaxError(src, peek().pos, `"${text}"`);
    p++;
  };
  const binaryOp = (): string | undefined => {
    const t = peek();
    if (t.kind === 'op' && t.text in BINARY_PRECEDENCE) return t.text;
    if (t.kind === 'id' && t.text === 'in') return t.text;
    const logical = t.kind === 'id' && Object.hasOwn(LOGICAL, t.text) ? LOGICAL[t.text] : undefined;
    if (logical && logical !== 'not') return logical;
    return undefined;
  };

  const expression = (minPrec: number): Node => {
    let left = unary();
    for (;;) {
      const op = binaryOp();
      if (!op || BINARY_PRECEDENCE[op] < minPrec) return left;
      p++;
      const right = expression(BINARY_PRECEDENCE[op] + 1);
      left = { type: 'binary', op, left, right };
    }
  };
  const unary = (): Node => {
    const t = peek();
    if (t.kind === 'op' && t.text === '-') {
      p++;
      return { type: 'unary', op: '-', operand: unary() };
    }
    if (t.kind === 'id' && Object.hasOwn(LOGICAL, t.text) && LOGICAL[t.text] === 'not') {
      p++;
      return { type: 'unary', op: 'not', operand: unary() };
    }
    return postfix(primary());
  };
  const args = (close: string): Node[] => {
    const out: Node[] = [];
    if (isOp(close)) return (p++, out);
    for (;;) {
      out.push(expression(1));
      if (isOp(',')) p++;
      else return (expect(close), out);
    }
  };
  const dottedName = (n: Node): string | undefined => {
    if (n.type === 'var') return n.name;
    if (n.type === 'member') {
      const base = dottedName(n.object);
      return base && `${base}.${n.key}`;
    }
    return undefined;
  };
  const postfix = (node: Node): Node => {
    for (;;) {
      if (isOp('.')) {
        p++;
        const t = peek();
        if (t.kind !== 'id') throw new ExpressionSyntaxError(src, t.pos, 'a name after "."');
        p++;
        node = { type: 'member', object: node, key: t.text };
      } else if (isOp('[')) {
        p++;
        const index = expression(1);
        expect(']');
        node = { type: 'index', object: node, index };
      } else if (isOp('(')) {
        const name = dottedName(node);
        if (!name) throw new ExpressionSyntaxError(src, peek().pos, 'a function name before "("');
        p++;
        node = { type: 'call', name, args: args(')') };
      } else return node;
    }
  };
  const primary = (): Node => {
    const t = peek();
    p++;
    if (t.kind === 'num') {
      const isDouble = /[.eE]/.test(t.text);
      const n = Number(t.text);
      return { type: 'lit', value: isDouble ? new Double(n) : intOrDouble(n) };
    }
    if (t.kind === 'str') return { type: 'lit', value: t.value };
    if (t.kind === 'id') {
      if (t.text in KEYWORD_LITERALS) return { type: 'lit', value: KEYWORD_LITERALS[t.text] };
      return { type: 'var', name: t.text };
    }
    if (t.kind === 'op' && t.text === '(') {
      const inner = expression(1);
      expect(')');
      return inner;
    }
    if (t.kind === 'op' && t.text === '[') return { type: 'list', items: args(']') };
    if (t.kind === 'op' && t.text === '{') {
      const entries: [Node, Node][] = [];
      if (isOp('}')) return (p++, { type: 'map', entries });
      for (;;) {
        const key = expression(1);
        expect(':');
        entries.push([key, expression(1)]);
        if (isOp(',')) p++;
        else return (expect('}'), { type: 'map', entries });
      }
    }
    throw new ExpressionSyntaxError(src, t.pos, 'a value, name or "("');
  };

  const node = expression(1);
  if (peek().kind !== 'end') throw new ExpressionSyntaxError(src, peek().pos, 'end of expression');
  return node;
}

/** What a compiled expression runs against. */
export interface Scope {
  get(name: string): Value;
  readonly runtime: Runtime;
}
export type Compiled = (scope: Scope) => Value;
/** A synchronous function callable from expressions, with positional arguments. */
export type ExpressionFunction = (args: Value[], runtime: Runtime) => Value;
type FunctionResolver = (name: string, argCount: number) => ExpressionFunction;

export function compileExpression(src: string, resolve: FunctionResolver): Compiled {
  return compileNode(parseExpression(src), resolve);
}

export function compileNode(node: Node, resolve: FunctionResolver): Compiled {
  switch (node.type) {
    case 'lit': {
      const v = node.value;
      return () => v;
    }
    case 'var': {
      const name = node.name;
      return (s) => s.get(name);
    }
    case 'list': {
      const items = node.items.map((n) => compileNode(n, resolve));
      return (s) => items.map((f) => f(s));
    }
    case 'map': {
      const entries = node.entries.map(
        ([k, v]) => [compileNode(k, resolve), compileNode(v, resolve)] as const,
      );
      return (s) => {
        const out: ValueMap = {};
        for (const [k, v] of entries) {
          const key = k(s);
          if (typeof key !== 'string')
            throw wfError('TypeError', `map keys must be strings, got ${typeName(key)}`);
          out[key] = v(s);
        }
        return out;
      };
    }
    case 'member': {
      const object = compileNode(node.object, resolve);
      const key = node.key;
      return (s) => getKey(object(s), key);
    }
    case 'index': {
      const object = compileNode(node.object, resolve);
      const index = compileNode(node.index, resolve);
      return (s) => getIndex(object(s), index(s));
    }
    case 'call': {
      const fn = resolve(node.name, node.args.length);
      const args = node.args.map((n) => compileNode(n, resolve));
      return (s) =>
        fn(
          args.map((a) => a(s)),
          s.runtime,
        );
    }
    case 'unary': {
      const operand = compileNode(node.operand, resolve);
      if (node.op === 'not')
        return (s) => {
          const v = operand(s);
          if (typeof v !== 'boolean') throw wfError('TypeError', `"not" needs a boolean, got ${typeName(v)}`);
          return !v;
        };
      return (s) => {
        const v = operand(s);
        if (typeof v === 'number') return -v;
        if (v instanceof Double) return new Double(-v.value);
        throw wfError('TypeError', `unary "-" needs a number, got ${typeName(v)}`);
      };
    }
    case 'binary':
      return compileBinary(node.op, compileNode(node.left, resolve), compileNode(node.right, resolve));
  }
}

function getKey(object: Value, key: string): Value {
  if (!isMap(object)) throw wfError('TypeError', `cannot read key "${key}" of a ${typeName(object)}`);
  if (!Object.hasOwn(object, key)) throw wfError('KeyError', `key not found: ${key}`);
  return object[key];
}

function getIndex(object: Value, index: Value): Value {
  if (Array.isArray(object)) {
    if (typeof index !== 'number')
      throw wfError('TypeError', `list index must be an integer, got ${typeName(index)}`);
    if (index < 0 || index >= object.length)
      throw wfError('IndexError', `list index out of range: ${index} (length ${object.length})`);
    return object[index];
  }
  if (isMap(object)) {
    if (typeof index !== 'string')
      throw wfError('TypeError', `map key must be a string, got ${typeName(index)}`);
    return getKey(object, index);
  }
  throw wfError('TypeError', `cannot index a ${typeName(object)}`);
}

function typeError(op: string, a: Value, b: Value): Raised {
  return wfError('TypeError', `unsupported operand types for ${op}: ${typeName(a)} and ${typeName(b)}`);
}

function arithmetic(op: string, a: Value, b: Value): Value {
  if (typeof a === 'number' && typeof b === 'number') {
    switch (op) {
      case '+':
        return intOrDouble(a + b);
      case '-':
        return intOrDouble(a - b);
      case '*':
        return intOrDouble(a * b);
      case '/':
        if (b === 0) throw wfError('ZeroDivisionError', 'division by zero');
        return new Double(a / b);
      case '//':
        if (b === 0) throw wfError('ZeroDivisionError', 'integer division by zero');
        return Math.floor(a / b);
      case '%':
        if (b === 0) throw wfError('ZeroDivisionError', 'modulo by zero');
        return a - b * Math.floor(a / b);
    }
  }
  if (isNumber(a) && isNumber(b)) {
    const x = numeric(a);
    const y = numeric(b);
    if (y === 0 && (op === '/' || op === '//' || op === '%'))
      throw wfError('ZeroDivisionError', 'division by zero');
    switch (op) {
      case '+':
        return new Double(x + y);
      case '-':
        return new Double(x - y);
      case '*':
        return new Double(x * y);
      case '/':
        return new Double(x / y);
      case '//':
        return new Double(Math.floor(x / y));
      case '%':
        return new Double(x - y * Math.floor(x / y));
    }
  }
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
  throw typeError(op, a, b);
}

function compare(op: string, a: Value, b: Value): boolean {
  let x: number | string;
  let y: number | string;
  if (isNumber(a) && isNumber(b)) {
    x = numeric(a);
    y = numeric(b);
  } else if (typeof a === 'string' && typeof b === 'string') {
    x = a;
    y = b;
  } else throw typeError(op, a, b);
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

function contains(item: Value, container: Value): boolean {
  if (Array.isArray(container)) return container.some((e) => deepEqual(e, item));
  if (isMap(container)) {
    if (typeof item !== 'string')
      throw wfError('TypeError', `"in" on a map needs a string key, got ${typeName(item)}`);
    return Object.hasOwn(container, item);
  }
  throw wfError('TypeError', `"in" needs a list or a map on the right, got ${typeName(container)}`);
}

function compileBinary(op: string, left: Compiled, right: Compiled): Compiled {
  switch (op) {
    case 'and':
    case 'or': {
      const short = op === 'or';
      return (s) => {
        const a = left(s);
        if (typeof a !== 'boolean') throw wfError('TypeError', `"${op}" needs booleans, got ${typeName(a)}`);
        if (a === short) return a;
        const b = right(s);
        if (typeof b !== 'boolean') throw wfError('TypeError', `"${op}" needs booleans, got ${typeName(b)}`);
        return b;
      };
    }
    case '==':
      return (s) => deepEqual(left(s), right(s));
    case '!=':
      return (s) => !deepEqual(left(s), right(s));
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (s) => compare(op, left(s), right(s));
    case 'in':
      return (s) => contains(left(s), right(s));
    default:
      return (s) => arithmetic(op, left(s), right(s));
  }
}
