/**
 * Validation of `Execution.labels` as executions.proto describes it: at most
 * 64 entries; keys and values at most 63 characters of lowercase letters,
 * digits, '_' and '-'; keys start with a letter. The proto also says
 * "International characters are allowed"; the emulator takes the stricter
 * reading and accepts ASCII only (docs/workflows-emulator.md).
 */
const MAX_ENTRIES = 64;
const KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const VALUE = /^[a-z0-9_-]{0,63}$/;

/** The first problem with `labels`, naming the key or value, or undefined when they are valid. */
export function executionLabelsProblem(labels: Record<string, string>): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > MAX_ENTRIES)
    return `execution.labels: expected at most ${MAX_ENTRIES} entries, got ${entries.length}`;
  for (const [key, value] of entries) {
    if (!KEY.test(key))
      return `execution.labels: key ${JSON.stringify(key)} is not valid; expected at most 63 lowercase letters, digits, '_' or '-', starting with a letter`;
    if (!VALUE.test(value))
      return `execution.labels[${JSON.stringify(key)}]: value ${JSON.stringify(value)} is not valid; expected at most 63 lowercase letters, digits, '_' or '-'`;
  }
  return undefined;
}
