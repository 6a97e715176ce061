/**
 * The Workflows value model. Workflows distinguishes int from double, which
 * JavaScript numbers cannot: ints are JS numbers, doubles are `Double`
 * instances, so `4/2` stays a double (2.0) and `4//2` an int (2).
 */
export class Double {
  constructor(readonly value: number) {}
}

/** The `bytes` type (text.encode, base64.decode, json.encode). */
export class Bytes {
  constructor(readonly data: Buffer) {}
}

export type Value = null | boolean | number | Double | Bytes | string | Value[] | ValueMap;
export interface ValueMap {
  [key: string]: Value;
}

export const isNumber = (v: Value): v is number | Double => typeof v === 'number' || v instanceof Double;
export const isMap = (v: Value): v is ValueMap =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Double) && !(v instanceof Bytes);
export const numeric = (v: number | Double): number => (typeof v === 'number' ? v : v.value);

/** Workflows' own type names, as `get_type` and error messages spell them. */
export function typeName(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return 'integer';
  if (v instanceof Double) return 'double';
  if (typeof v === 'string') return 'string';
  if (v instanceof Bytes) return 'bytes';
  if (Array.isArray(v)) return 'list';
  return 'map';
}

/** Int results that leave the 64-bit range become doubles; we can only keep 53 bits exactly. */
export function intOrDouble(n: number): number | Double {
  return Number.isSafeInteger(n) ? n : new Double(n);
}

/** Formats a double the way Workflows (and Python) print it: integral values keep ".0". */
export function formatDouble(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return `${n}.0`;
  return String(n);
}

/** Converts decoded JSON (or any plain JS data) into Workflows values. */
export function fromJs(x: unknown): Value {
  if (x === null || x === undefined) return null;
  if (typeof x === 'number') return Number.isSafeInteger(x) ? x : new Double(x);
  if (typeof x === 'boolean' || typeof x === 'string') return x;
  if (x instanceof Double || x instanceof Bytes) return x;
  if (Array.isArray(x)) return x.map(fromJs);
  if (typeof x === 'object') {
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(x as Record<string, unknown>)) out[k] = fromJs(v);
    return out;
  }
  return String(x);
}

/** Converts Workflows values to plain JS data (doubles become numbers). */
export function toJs(v: Value): unknown {
  if (v instanceof Double) return v.value;
  if (v instanceof Bytes) return v.data.toString('base64');
  if (Array.isArray(v)) return v.map(toJs);
  if (isMap(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) out[k] = toJs(v[k]);
    return out;
  }
  return v;
}

/** JSON text of a value; integral doubles are written as `2.0` so their type survives a round trip. */
/**
 * JSON text of a value; doubles keep their ".0". With `indent`, each element
 * starts a new line with `prefix` and one `indent` per level of nesting.
 */
export function encodeJson(v: Value, indent?: { prefix: string; indent: string }, depth = 0): string {
  if (v instanceof Double) {
    if (!Number.isFinite(v.value)) throw new TypeError(`cannot encode ${v.value} as JSON`);
    return formatDouble(v.value);
  }
  if (v instanceof Bytes) throw new TypeError('bytes cannot be encoded as JSON; use base64.encode first');
  const items = Array.isArray(v)
    ? v.map((x) => encodeJson(x, indent, depth + 1))
    : isMap(v)
      ? Object.keys(v).map(
          (k) => `${JSON.stringify(k)}:${indent ? ' ' : ''}${encodeJson(v[k], indent, depth + 1)}`,
        )
      : undefined;
  if (!items) return JSON.stringify(v);
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  if (!indent || items.length === 0) return `${open}${items.join(',')}${close}`;
  const line = (d: number): string => `\n${indent.prefix}${indent.indent.repeat(d)}`;
  return `${open}${items.map((x) => line(depth + 1) + x).join(',')}${line(depth)}${close}`;
}

const JSON_NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
// Control characters are not allowed unescaped inside JSON strings.
// eslint-disable-next-line no-control-regex
const JSON_STRING = /"(?:[^"\\\u0000-\u001f]|\\.)*"/y;

/**
 * Decodes JSON text into values. A small parser of our own, because
 * JSON.parse forgets whether a number was written `2` or `2.0`.
 */
export function decodeJson(text: string): Value {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`invalid JSON at offset ${i}: expected ${what}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = (): Value => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: ValueMap = {};
      ws();
      if (text[i] === '}') return (i++, out);
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a string key');
        const key = str();
        ws();
        if (text[i++] !== ':') fail("':'");
        out[key] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return (i++, out);
        else fail("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const out: Value[] = [];
      ws();
      if (text[i] === ']') return (i++, out);
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return (i++, out);
        else fail("',' or ']'");
      }
    }
    if (c === '"') return str();
    JSON_NUMBER.lastIndex = i;
    const m = JSON_NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      const n = Number(m[0]);
      return m[1] || m[2] || !Number.isSafeInteger(n) ? new Double(n) : n;
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const)
      if (text.startsWith(word, i)) return ((i += word.length), v);
    return fail('a JSON value');
  };
  const str = (): string => {
    JSON_STRING.lastIndex = i;
    const m = JSON_STRING.exec(text);
    if (!m) fail('a terminated string');
    i += m![0].length;
    return JSON.parse(m![0]) as string;
  };
  const v = value();
  ws();
  if (i < text.length) fail('end of input');
  return v;
}

/** Approximate memory use, following Google's published sizing (8 bytes per scalar plus contents). */
export function sizeOf(v: Value, limit: number): number {
  let total = 0;
  const stack: Value[] = [v];
  while (stack.length) {
    const x = stack.pop() as Value;
    total += 8;
    if (typeof x === 'string') total += x.length;
    else if (x instanceof Bytes) total += x.data.length;
    else if (Array.isArray(x)) for (const e of x) stack.push(e);
    else if (isMap(x))
      for (const k of Object.keys(x)) {
        total += 8 + k.length;
        stack.push(x[k]);
      }
    if (total > limit) return total;
  }
  return total;
}

export function deepEqual(a: Value, b: Value): boolean {
  if (isNumber(a) && isNumber(b)) return numeric(a) === numeric(b);
  if (a === b) return true;
  if (a instanceof Bytes && b instanceof Bytes) return a.data.equals(b.data);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return (
      ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]))
    );
  }
  return false;
}
