import { z } from 'zod';
import { show } from './validation';

const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600 } as const;
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Parses `30s`, `5m`, `1h`, `250ms`, or a number of seconds. Returns seconds, or undefined if malformed. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION_RE.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

/** Formats seconds compactly for messages: 90 -> "1m30s". */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}

/** A zod type for durations; the parsed value is in seconds. */
export const Duration = z.unknown().transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration such as "30s", "5m", "1h" or a number of seconds, got ${show(value)}`,
    });
    return z.NEVER;
  }
  return seconds;
});
