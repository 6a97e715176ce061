/**
 * What the judge saw at one look, kept so a rollout can be shown later
 * without Monitoring (the HTML report, functions/report/): per-minute series
 * of both revisions and the verdict with its reasons. One Firestore document
 * per look, in the rollout's `looks` subcollection, bounded well under the
 * 1 MiB document limit (https://cloud.google.com/firestore/quotas#limits):
 * at most MAX_POINTS minutes per revision, reasons capped in count and length.
 * Pure and synchronous.
 */
import { z } from 'zod';
import type { AnalysisSettings } from './policy';
import type { RevisionObservations } from './observations';
import type { Judgement } from './analysis/judge';
import { mergeDistributions, quantile } from './analysis/histogram';

/** Four hours of minutes per revision and look: longer than any step's bake with its extensions. */
export const MAX_POINTS = 240;
export const MAX_REASONS = 12;
export const MAX_REASON_CHARS = 500;

/**
 * One revision's per-minute series as parallel arrays (Firestore stores no
 * array of arrays): `t` is each period's start in epoch seconds; latency is
 * the policy's percentile in ms, null where the period had no histogram or
 * the percentile lies beyond the last bucket.
 */
export const LookSeries = z.object({
  revision: z.string(),
  t: z.array(z.number()),
  requests: z.array(z.number()),
  errors: z.array(z.number()),
  latencyMs: z.array(z.number().nullable()),
  /** Older periods left out to stay within MAX_POINTS. */
  dropped: z.number().int().min(0).default(0),
});
export type LookSeries = z.output<typeof LookSeries>;

export const LookRecord = z.object({
  region: z.string(),
  step: z.number().int().min(0),
  percent: z.number(),
  /** When the judge looked (RFC 3339), and the window it was given. */
  at: z.string(),
  windowStart: z.string(),
  /** The window's end: Cloud Monitoring's ingestion delay before `at` (functions/domain/analysis/looks.ts). */
  windowEnd: z.string().optional(),
  verdict: z.enum(['PASS', 'FAIL', 'INCONCLUSIVE']),
  /** What the look did with the verdict: WATCH when it could not act yet (mid-bake, or patience left). */
  action: z.enum(['PASS', 'FAIL', 'INCONCLUSIVE', 'WATCH']).optional(),
  reasons: z.array(z.string()),
  /** The policy's percentile and limits at the time of the look: the report draws them. */
  percentile: z.number(),
  limits: z.object({
    errorMaxAbsolute: z.number(),
    errorMaxIncrease: z.number(),
    latencyMaxMs: z.number(),
    latencyMaxRatio: z.number(),
  }),
  canary: LookSeries,
  stable: LookSeries.optional(),
});
export type LookRecord = z.output<typeof LookRecord>;

function series(obs: RevisionObservations, percentile: number): LookSeries {
  const kept = obs.intervals.slice(-MAX_POINTS);
  const latency = (i: (typeof kept)[number]): number | null => {
    const h = i.latency ? mergeDistributions([i.latency]) : undefined;
    const v = h ? quantile(h, percentile / 100) : NaN;
    return Number.isFinite(v) ? Math.round(v * 10) / 10 : null;
  };
  return {
    revision: obs.revision,
    t: kept.map((i) => Math.floor(Date.parse(i.startTime) / 1000)),
    requests: kept.map((i) => Object.values(i.requests).reduce((a: number, n) => a + (n ?? 0), 0)),
    errors: kept.map((i) => i.requests['5xx'] ?? 0),
    latencyMs: kept.map(latency),
    dropped: obs.intervals.length - kept.length,
  };
}

const clip = (s: string) => (s.length > MAX_REASON_CHARS ? `${s.slice(0, MAX_REASON_CHARS - 1)}…` : s);

/** The record of one look, from what the judge was given and what it said. */
export function lookRecord(input: {
  region: string;
  step: number;
  percent: number;
  at: Date;
  windowStart: Date;
  windowEnd?: Date;
  action?: 'PASS' | 'FAIL' | 'INCONCLUSIVE' | 'WATCH';
  canary: RevisionObservations;
  stable?: RevisionObservations;
  settings: AnalysisSettings;
  judgement: Pick<Judgement, 'verdict' | 'reasons'>;
}): LookRecord {
  const { settings, judgement } = input;
  const reasons = judgement.reasons.slice(0, MAX_REASONS).map(clip);
  if (judgement.reasons.length > MAX_REASONS)
    reasons.push(`(${judgement.reasons.length - MAX_REASONS} more reasons left out)`);
  return {
    region: input.region,
    step: input.step,
    percent: input.percent,
    at: input.at.toISOString(),
    windowStart: input.windowStart.toISOString(),
    ...(input.windowEnd ? { windowEnd: input.windowEnd.toISOString() } : {}),
    verdict: judgement.verdict,
    ...(input.action ? { action: input.action } : {}),
    reasons,
    percentile: settings.latency.percentile,
    limits: {
      errorMaxAbsolute: settings.errorRate.maxAbsolute,
      errorMaxIncrease: settings.errorRate.maxIncrease,
      latencyMaxMs: settings.latency.maxMs,
      latencyMaxRatio: settings.latency.maxRatio,
    },
    canary: series(input.canary, settings.latency.percentile),
    ...(input.stable ? { stable: series(input.stable, settings.latency.percentile) } : {}),
  };
}

/** A look's document id: sorts by region, step and time, and a retried look at the same instant overwrites itself. */
export function lookId(look: Pick<LookRecord, 'region' | 'step' | 'at'>): string {
  return `${look.region}~${String(look.step).padStart(2, '0')}~${look.at}`;
}

/**
 * A document's stored size by Firestore's documented rules
 * (https://cloud.google.com/firestore/docs/storage-size): strings are their
 * UTF-8 bytes + 1, numbers 8, booleans and null 1, arrays and maps the sum of
 * their values (a map's keys count as strings), plus 32 bytes per document.
 * The document name's own size is left to the caller (it is small here).
 */
export function firestoreSize(value: unknown): number {
  const size = (v: unknown): number => {
    if (v === null || typeof v === 'boolean') return 1;
    if (typeof v === 'number') return 8;
    if (typeof v === 'string') return Buffer.byteLength(v, 'utf8') + 1;
    if (Array.isArray(v)) return v.reduce((n: number, x) => n + size(x), 0);
    if (typeof v === 'object')
      return Object.entries(v as Record<string, unknown>).reduce(
        (n, [k, x]) => (x === undefined ? n : n + size(k) + size(x)),
        0,
      );
    throw new Error(`firestoreSize: cannot size a ${typeof v}`);
  };
  return size(value) + 32;
}
