import { readFileSync } from 'node:fs';
import { parsePolicyYaml, type Policy } from '../functions/domain/policy';

/** Thrown for input the CLI could not read or judge: printed, exit code 2. */
export class UsageError extends Error {}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

export function readJson(path: string, what: string): unknown {
  const text = readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} ${path}: expected JSON (${(e as Error).message})`);
  }
}

export function readPolicy(path: string): Policy {
  const text = readText(path, 'policy file');
  try {
    return parsePolicyYaml(text);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
}

/** Repeated `--env KEY=VALUE` options as one map; a pair without a key or an `=` is a usage error naming it. */
export function parseEnvPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new UsageError(`--env ${pair}: expected KEY=VALUE`);
    env[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return env;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}
