import type { z } from 'zod';

/** `['services', 1, 'steps', 0, 'percent']` -> `services[1].steps[0].percent`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** One line per problem, each naming the field path, what was expected and what was given. */
export function describeIssues(error: z.ZodError, prefix?: string): string[] {
  return error.issues.map((issue) => {
    const path = formatPath([...(prefix ? [prefix] : []), ...issue.path]);
    let message = issue.message;
    if ((issue.code === 'too_small' || issue.code === 'too_big') && /^Too (small|big)/.test(message)) {
      const i = issue as unknown as { minimum?: number; maximum?: number; origin?: string };
      if (i.origin === 'number' || i.origin === 'int') {
        message = `expected ${describeRange(i.minimum, i.maximum, issue.code)}`;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      message = `unknown field(s) ${(issue as unknown as { keys: string[] }).keys.map((k) => JSON.stringify(k)).join(', ')}`;
      return `${path}: ${message}`;
    }
    const withInput =
      'input' in issue && !/\bgot\b/.test(message) ? `${message}, got ${show(issue.input)}` : message;
    return `${path}: ${withInput.replace(/^Invalid input: /, '')}`;
  });
}

function describeRange(min: number | undefined, max: number | undefined, code: string): string {
  if (min !== undefined && max !== undefined) return `${min}–${max}`;
  return code === 'too_small' ? `at least ${min}` : `at most ${max}`;
}

/** A validation failure that carries every problem, each naming its field. */
export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    super(`${what}: ${problems.join('; ')}`);
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
