import type { z } from 'zod';

/** Characters of a value echoed in a message; longer values are cut with "...". */
const SHOWN_CHARS = 80;
/** Problems listed for one value; the rest are counted, so hostile input cannot make a message unbounded. */
const MAX_PROBLEMS = 10;
/** The longest reason Glidepath logs, records or posts for one message. */
export const MAX_REASON_CHARS = 2000;

/** A key as a path segment: plain names as they are, anything else quoted (and cut to 40 characters). */
function pathKey(key: string): string {
  if (/^[A-Za-z_$][\w$-]{0,63}$/.test(key)) return key;
  return `[${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)}]`;
}

/** `['services', 1, 'steps', 0, 'percent']` -> `services[1].steps[0].percent`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else {
      const segment = pathKey(String(key));
      out += segment.startsWith('[') ? segment : out ? `.${segment}` : segment;
    }
  }
  return out || '(root)';
}

type Frame = { items: unknown[]; i: number } | { entries: Array<[string, unknown]>; i: number };

/**
 * The JSON text of `value`, written iteratively and only up to `maxChars`:
 * never throws (a value nested deeper than `JSON.stringify`'s recursion
 * allows is written like any other) and never serialises more than it keeps.
 */
export function boundedJson(value: unknown, maxChars: number): { text: string; truncated: boolean } {
  let out = '';
  const stack: Frame[] = [];
  const write = (v: unknown, inArray: boolean): void => {
    if (Array.isArray(v)) {
      out += '[';
      stack.push({ items: v, i: 0 });
    } else if (v !== null && typeof v === 'object') {
      out += '{';
      stack.push({ entries: Object.entries(v).filter(([, x]) => jsonable(x)), i: 0 });
    } else if (typeof v === 'bigint') out += String(v);
    else if (!jsonable(v)) out += inArray || stack.length === 0 ? 'null' : '';
    else out += JSON.stringify(v);
  };
  write(value, false);
  while (stack.length > 0 && out.length <= maxChars) {
    const frame = stack[stack.length - 1];
    if ('items' in frame) {
      if (frame.i >= frame.items.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (frame.i > 0) out += ',';
      write(frame.items[frame.i++], true);
    } else {
      if (frame.i >= frame.entries.length) {
        out += '}';
        stack.pop();
        continue;
      }
      if (frame.i > 0) out += ',';
      const [k, v] = frame.entries[frame.i++];
      out += `${JSON.stringify(k)}:`;
      write(v, false);
    }
  }
  const truncated = stack.length > 0 || out.length > maxChars;
  return { text: truncated ? cut(out, maxChars) : out, truncated };
}

/**
 * `text` cut to at most `max` UTF-16 units, never between the two halves of a
 * surrogate pair: half an emoji is a lone surrogate, which no UTF-8 store
 * (Firestore, Slack) accepts.
 */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : Math.max(0, max));
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True for text that UTF-8 can encode: no lone surrogates (which JSON's `\ud800` escapes can produce). */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** The path of the first string or key in `value` that is not well-formed Unicode, if any. */
export function illFormedTextAt(value: unknown): PropertyKey[] | undefined {
  // Each entry links to its parent, so that a path is built only for the culprit: copying
  // it at every level would be quadratic in the depth (100,000 levels parse fine as JSON).
  interface At {
    key: PropertyKey;
    parent: At | undefined;
  }
  const pathOf = (at: At | undefined): PropertyKey[] => {
    const path: PropertyKey[] = [];
    for (let a = at; a; a = a.parent) path.unshift(a.key);
    return path;
  };
  const stack: Array<[unknown, At | undefined]> = [[value, undefined]];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (typeof v === 'string') {
      if (!isWellFormed(v)) return pathOf(at);
    } else if (v !== null && typeof v === 'object') {
      const array = Array.isArray(v);
      for (const [k, x] of Object.entries(v)) {
        const child = { key: array ? Number(k) : k, parent: at };
        if (!isWellFormed(k)) return pathOf(child);
        stack.push([x, child]);
      }
    }
  }
  return undefined;
}

function jsonable(v: unknown): boolean {
  return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
}

/** A value as (at most `max` characters of) JSON, for messages. Never throws. */
export function show(value: unknown, max = SHOWN_CHARS): string {
  if (value === undefined) return 'nothing';
  const { text, truncated } = boundedJson(value, max + 1);
  return truncated || text.length > max ? `${cut(text, max - 3)}...` : text;
}

/** Cuts a reason to `max` characters, saying how much was cut. */
export function boundReason(reason: string, max = MAX_REASON_CHARS): string {
  if (reason.length <= max) return reason;
  const note = ` ... (${reason.length - max} more characters)`;
  return cut(reason, max - note.length - 6) + note;
}

/** One line per problem (at most MAX_PROBLEMS, then a count), each naming the field path, what was expected and what was given. */
export function describeIssues(error: z.ZodError, prefix?: string): string[] {
  const lines = error.issues.slice(0, MAX_PROBLEMS).map((issue) => {
    const rest = formatPath(issue.path);
    // The prefix is already a path (`services[1]`): joined as it is, never quoted.
    const path = !prefix
      ? rest
      : issue.path.length === 0
        ? prefix
        : rest.startsWith('[')
          ? `${prefix}${rest}`
          : `${prefix}.${rest}`;
    let message = issue.message;
    if ((issue.code === 'too_small' || issue.code === 'too_big') && /^Too (small|big)/.test(message)) {
      const i = issue as unknown as { minimum?: number; maximum?: number; origin?: string };
      if (i.origin === 'number' || i.origin === 'int') {
        message = `expected ${describeRange(i.minimum, i.maximum, issue.code)}`;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as unknown as { keys: string[] }).keys;
      const listed = keys.slice(0, 5).map((k) => show(k, 40));
      if (keys.length > 5) listed.push(`and ${keys.length - 5} more`);
      return `${path}: unknown field(s) ${listed.join(', ')}`;
    }
    const withInput =
      'input' in issue && !/\bgot\b/.test(message) ? `${message}, got ${show(issue.input)}` : message;
    return `${path}: ${withInput.replace(/^Invalid input: /, '')}`;
  });
  const more = error.issues.length - MAX_PROBLEMS;
  if (more > 0) lines.push(`... and ${more} more problem(s)`);
  return lines;
}

function describeRange(min: number | undefined, max: number | undefined, code: string): string {
  if (min !== undefined && max !== undefined) return `${min}–${max}`;
  return code === 'too_small' ? `at least ${min}` : `at most ${max}`;
}

/** Problems a ValidationError's message lists. */
const MAX_LISTED = 50;

/** A validation failure that carries every problem, each naming its field. */
export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    // The message lists the first problems (all of them are in `problems`).
    const listed =
      problems.length > MAX_LISTED
        ? [...problems.slice(0, MAX_LISTED), `... and ${problems.length - MAX_LISTED} more problem(s)`]
        : problems;
    super(`${what}: ${listed.join('; ')}`);
    this.name = 'ValidationError';
  }
}

/** Parses with `schema`, throwing a ValidationError whose lines name each bad field and value. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  data: unknown,
  what: string,
  prefix?: string,
): z.output<S> {
  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) throw new ValidationError(what, describeIssues(result.error, prefix));
  return result.data;
}
