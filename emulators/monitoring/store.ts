/**
 * The Monitoring emulator's time-series store and its ListTimeSeries query
 * engine: per-second buckets of DELTA points for Cloud Run's
 * `request_count` (INT64) and `request_latencies` (DISTRIBUTION, ms), with
 * alignment, the REDUCE_SUM cross-series reducer and an ingestion delay.
 * Pure apart from the clock passed in.
 */
import { RpcError, Status } from '../cloudrun/protos';
import type { Clause } from './filter';

const REQUEST_COUNT = 'run.googleapis.com/request_count';
const REQUEST_LATENCIES = 'run.googleapis.com/request_latencies';
const CLOUD_RUN_REVISION = 'cloud_run_revision';

/**
 * Exponential buckets in milliseconds as reported for
 * run.googleapis.com/request_latencies (bucket i covers
 * [scale*growth^(i-1), scale*growth^i)); every bucket is 40% wide.
 */
const LATENCY_BUCKETS = { numFiniteBuckets: 100, growthFactor: 1.4, scale: 0.01 } as const;

interface Histogram {
  count: number;
  sum: number;
  sumOfSquares: number;
  /** Underflow first, overflow last; length numFiniteBuckets + 2. */
  bucketCounts: number[];
}

const LOG_GROWTH = Math.log(LATENCY_BUCKETS.growthFactor);

export function latencyBucket(ms: number): number {
  if (!(ms >= LATENCY_BUCKETS.scale)) return 0;
  const i = Math.floor(Math.log(ms / LATENCY_BUCKETS.scale) / LOG_GROWTH) + 1;
  return Math.min(i, LATENCY_BUCKETS.numFiniteBuckets + 1);
}

/** [lower, upper) of bucket i; the underflow bucket starts at 0 (latencies are never negative). */
export function bucketBounds(i: number): [number, number] {
  const { scale, growthFactor, numFiniteBuckets } = LATENCY_BUCKETS;
  if (i === 0) return [0, scale];
  const lower = scale * growthFactor ** (i - 1);
  return [lower, i > numFiniteBuckets ? Infinity : scale * growthFactor ** i];
}

function emptyHistogram(): Histogram {
  return {
    count: 0,
    sum: 0,
    sumOfSquares: 0,
    bucketCounts: new Array(LATENCY_BUCKETS.numFiniteBuckets + 2).fill(0),
  };
}

function addToHistogram(h: Histogram, ms: number): void {
  h.count++;
  h.sum += ms;
  h.sumOfSquares += ms * ms;
  h.bucketCounts[latencyBucket(ms)]++;
}

function mergeHistogram(into: Histogram, from: Histogram): void {
  into.count += from.count;
  into.sum += from.sum;
  into.sumOfSquares += from.sumOfSquares;
  for (let i = 0; i < from.bucketCounts.length; i++) into.bucketCounts[i] += from.bucketCounts[i];
}

/** The p-th percentile (0-100), interpolated linearly inside its bucket as Cloud Monitoring does. */
export function histogramPercentile(h: Histogram, p: number): number {
  if (h.count === 0) return 0;
  const rank = (p / 100) * h.count;
  let seen = 0;
  for (let i = 0; i < h.bucketCounts.length; i++) {
    const n = h.bucketCounts[i];
    if (n > 0 && seen + n >= rank) {
      const [lower, upper] = bucketBounds(i);
      if (!Number.isFinite(upper)) return lower;
      return lower + ((rank - seen) / n) * (upper - lower);
    }
    seen += n;
  }
  return bucketBounds(h.bucketCounts.length - 1)[0];
}

type StoredValue = number | Histogram;

interface StoredSeries {
  metricType: string;
  valueType: 'INT64' | 'DISTRIBUTION';
  resourceLabels: Record<string, string>;
  metricLabels: Record<string, string>;
  /**
   * Keyed by epoch second, then by when the part becomes visible: at a sped-up
   * sampling period (1.5 s at 40×) one second can straddle two samples, and
   * each part of it becomes visible with its own sample.
   */
  buckets: Map<number, Map<number, StoredValue>>;
}

export interface RevisionLabels {
  project_id: string;
  service_name: string;
  revision_name: string;
  location: string;
  configuration_name: string;
}

function responseCodeClass(code: number): string {
  return `${Math.floor(code / 100)}xx`;
}

const ALIGNERS = [
  'ALIGN_NONE',
  'ALIGN_DELTA',
  'ALIGN_RATE',
  'ALIGN_SUM',
  'ALIGN_PERCENTILE_99',
  'ALIGN_PERCENTILE_95',
  'ALIGN_PERCENTILE_50',
];
const REDUCERS = ['REDUCE_NONE', 'REDUCE_SUM'];

interface TimeSeriesQuery {
  /** The projects whose series the request sees: the named project and, when it scopes others, those too. */
  projects: string[];
  clauses: Clause[];
  startMs: number;
  endMs: number;
  alignmentSeconds?: number;
  aligner: string;
  reducer: string;
  groupByFields: string[];
  headersOnly: boolean;
}

type PointValue = { int64Value: string } | { doubleValue: number } | { distributionValue: object };

interface OutSeries {
  metricType: string;
  valueType: 'INT64' | 'DOUBLE' | 'DISTRIBUTION';
  resourceLabels: Record<string, string>;
  metricLabels: Record<string, string>;
  /** Keyed by the end of each point's interval, ms. */
  points: Map<number, { startMs: number; value: number | Histogram }>;
}

function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

export class MetricStore {
  private readonly series = new Map<string, StoredSeries>();

  /**
   * `samplePeriodMs` and `ingestionDelayMs` follow Cloud Run's request
   * metrics, "Sampled every 60 seconds. After sampling, data is not visible
   * for up to 180 seconds" (cloud.google.com/monitoring/api/metrics_gcp_p_z):
   * a write becomes visible `ingestionDelayMs` after the end of the sampling
   * period (aligned to the epoch) that holds it. The worst case is taken:
   * every sample waits the whole delay. 0 and 0: visible at once.
   */
  constructor(
    private readonly opts: { ingestionDelayMs: number; samplePeriodMs?: number; now: () => number },
  ) {}

  private visibleAt(writeMs: number): number {
    const period = this.opts.samplePeriodMs ?? 0;
    const sampled = period > 0 ? (Math.floor(writeMs / period) + 1) * period : writeMs;
    return sampled + this.opts.ingestionDelayMs;
  }

  /** The part of `second` of series `s` that the sample taken after a write now becomes visible with. */
  private partOf(s: StoredSeries, second: number): { parts: Map<number, StoredValue>; visibleAt: number } {
    let parts = s.buckets.get(second);
    if (!parts) {
      parts = new Map();
      s.buckets.set(second, parts);
    }
    return { parts, visibleAt: this.visibleAt(this.opts.now()) };
  }

  private addCount(s: StoredSeries, second: number, n: number): void {
    const { parts, visibleAt } = this.partOf(s, second);
    parts.set(visibleAt, ((parts.get(visibleAt) as number | undefined) ?? 0) + n);
  }

  private addLatencies(s: StoredSeries, second: number, latenciesMs: readonly number[]): void {
    const { parts, visibleAt } = this.partOf(s, second);
    const h = (parts.get(visibleAt) as Histogram | undefined) ?? emptyHistogram();
    for (const ms of latenciesMs) addToHistogram(h, ms);
    parts.set(visibleAt, h);
  }

  private seriesFor(
    metricType: string,
    valueType: StoredSeries['valueType'],
    resourceLabels: Record<string, string>,
    metricLabels: Record<string, string>,
  ): StoredSeries {
    const key = `${metricType}\u0000${JSON.stringify(resourceLabels)}\u0000${JSON.stringify(metricLabels)}`;
    let s = this.series.get(key);
    if (!s) {
      s = {
        metricType,
        valueType,
        resourceLabels: { ...resourceLabels },
        metricLabels: { ...metricLabels },
        buckets: new Map(),
      };
      this.series.set(key, s);
    }
    return s;
  }

  /** Records one request served by a revision, as Cloud Run reports it in both metrics. */
  recordRequest(revision: RevisionLabels, responseCode: number, latencyMs: number, atMs: number): void {
    this.inject({ revision, responseCode, atMs, latenciesMs: [latencyMs] });
  }

  /**
   * Injects points directly (tests, benchmarks, fault injection): a request
   * count, or latencies in ms, for one second of one revision.
   */
  inject(point: {
    revision: RevisionLabels;
    responseCode: number;
    atMs: number;
    count?: number;
    latenciesMs?: number[];
  }): void {
    const labels = {
      response_code: String(point.responseCode),
      response_code_class: responseCodeClass(point.responseCode),
    };
    const second = Math.floor(point.atMs / 1000);
    const resource = point.revision as unknown as Record<string, string>;
    const n = point.count ?? point.latenciesMs?.length ?? 0;
    if (n > 0) this.addCount(this.seriesFor(REQUEST_COUNT, 'INT64', resource, labels), second, n);
    if (point.latenciesMs?.length)
      this.addLatencies(
        this.seriesFor(REQUEST_LATENCIES, 'DISTRIBUTION', resource, labels),
        second,
        point.latenciesMs,
      );
  }

  clear(): void {
    this.series.clear();
  }

  private matches(s: StoredSeries, q: TimeSeriesQuery): boolean {
    if (!q.projects.includes(s.resourceLabels.project_id)) return false;
    return q.clauses.every(({ selector, value }) => {
      switch (selector.kind) {
        case 'metric.type':
          return s.metricType === value;
        case 'resource.type':
          return value === CLOUD_RUN_REVISION;
        case 'resource.label':
          return s.resourceLabels[selector.key] === value;
        case 'metric.label':
          return s.metricLabels[selector.key] === value;
      }
    });
  }

  /** ListTimeSeries: returns TimeSeries objects in the proto's shape, newest point first. */
  query(q: TimeSeriesQuery): object[] {
    if (!ALIGNERS.includes(q.aligner))
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        `aggregation.perSeriesAligner: ${q.aligner} is not supported by the emulator; expected one of ${ALIGNERS.join(', ')}`,
      );
    if (!REDUCERS.includes(q.reducer))
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        `aggregation.crossSeriesReducer: ${q.reducer} is not supported by the emulator; expected one of ${REDUCERS.join(', ')}`,
      );
    const aligned = q.aligner !== 'ALIGN_NONE';
    if (aligned && !q.alignmentSeconds)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        `aggregation.alignmentPeriod: must be set and positive when perSeriesAligner is ${q.aligner}`,
      );
    if (q.reducer !== 'REDUCE_NONE' && !aligned)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        `aggregation.perSeriesAligner: must be set when crossSeriesReducer is ${q.reducer}`,
      );
    for (const f of q.groupByFields) {
      if (!/^(metric|resource)\.labels?\.[A-Za-z_][A-Za-z0-9_]*$/.test(f))
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `aggregation.groupByFields: ${JSON.stringify(f)} is not supported; expected metric.label.<key> or resource.label.<key>`,
        );
    }
    if (q.endMs < q.startMs)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'interval: the start time must be before or equal to the end time',
      );

    const now = this.opts.now();
    const out: OutSeries[] = [];
    for (const s of this.series.values()) {
      if (!this.matches(s, q)) continue;
      const series = aligned ? this.align(s, q, now) : this.raw(s, q, now);
      if (series.points.size > 0) out.push(series);
    }
    const reduced = q.reducer === 'REDUCE_SUM' ? reduceSum(out, q.groupByFields) : out;
    return reduced.map((s) => toProto(s, q.headersOnly));
  }

  private *visiblePoints(s: StoredSeries, q: TimeSeriesQuery, now: number): Generator<[number, StoredValue]> {
    for (const [second, parts] of s.buckets) {
      const ms = second * 1000;
      // A bucket spans one second; it counts when that second overlaps the interval.
      if (ms + 1000 <= q.startMs || ms >= q.endMs) continue;
      let value: StoredValue | undefined;
      for (const [visibleAt, part] of parts) {
        if (visibleAt > now) continue;
        if (typeof part === 'number') value = ((value as number | undefined) ?? 0) + part;
        else {
          value ??= emptyHistogram();
          mergeHistogram(value as Histogram, part);
        }
      }
      if (value !== undefined) yield [ms, value];
    }
  }

  private raw(s: StoredSeries, q: TimeSeriesQuery, now: number): OutSeries {
    const points: OutSeries['points'] = new Map();
    for (const [ms, value] of this.visiblePoints(s, q, now)) points.set(ms + 1000, { startMs: ms, value });
    return {
      metricType: s.metricType,
      valueType: s.valueType,
      resourceLabels: s.resourceLabels,
      metricLabels: s.metricLabels,
      points,
    };
  }

  /** Windows end at endTime and step back by the alignment period, as Cloud Monitoring aligns them. */
  private align(s: StoredSeries, q: TimeSeriesQuery, now: number): OutSeries {
    const periodMs = q.alignmentSeconds! * 1000;
    const sums = new Map<number, StoredValue>();
    for (const [ms, value] of this.visiblePoints(s, q, now)) {
      const windowEnd = q.endMs - Math.floor((q.endMs - 1 - ms) / periodMs) * periodMs;
      const prev = sums.get(windowEnd);
      if (typeof value === 'number') sums.set(windowEnd, ((prev as number | undefined) ?? 0) + value);
      else {
        const h = (prev as Histogram | undefined) ?? emptyHistogram();
        mergeHistogram(h, value);
        sums.set(windowEnd, h);
      }
    }
    let valueType: OutSeries['valueType'] = s.valueType;
    const percentile = /^ALIGN_PERCENTILE_(\d+)$/.exec(q.aligner);
    if (q.aligner === 'ALIGN_RATE') {
      if (s.valueType === 'DISTRIBUTION')
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `aggregation.perSeriesAligner: ALIGN_RATE cannot be applied to ${s.metricType}, a DISTRIBUTION metric`,
        );
      valueType = 'DOUBLE';
    }
    if (percentile) {
      if (s.valueType !== 'DISTRIBUTION')
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `aggregation.perSeriesAligner: ${q.aligner} requires a DISTRIBUTION metric; ${s.metricType} is ${s.valueType}`,
        );
      valueType = 'DOUBLE';
    }
    const points: OutSeries['points'] = new Map();
    for (const [endMs, value] of sums) {
      let v: number | Histogram = value;
      if (q.aligner === 'ALIGN_RATE') v = (value as number) / q.alignmentSeconds!;
      if (percentile) v = histogramPercentile(value as Histogram, Number(percentile[1]));
      points.set(endMs, { startMs: endMs - periodMs, value: v });
    }
    return {
      metricType: s.metricType,
      valueType,
      resourceLabels: s.resourceLabels,
      metricLabels: s.metricLabels,
      points,
    };
  }
}

function labelOf(s: OutSeries, field: string): [string, string, string] {
  const [scope, , key] = field.split('.');
  const value = (scope === 'metric' ? s.metricLabels : s.resourceLabels)[key] ?? '';
  return [scope, key, value];
}

/** REDUCE_SUM: sums points with the same interval across series with equal groupBy labels; other labels are dropped. */
function reduceSum(series: OutSeries[], groupBy: string[]): OutSeries[] {
  const groups = new Map<string, OutSeries>();
  for (const s of series) {
    const labels = groupBy.map((f) => labelOf(s, f));
    const key = `${s.metricType}\u0000${JSON.stringify(labels)}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        metricType: s.metricType,
        valueType: s.valueType,
        resourceLabels: {},
        metricLabels: {},
        points: new Map(),
      };
      for (const [scope, k, v] of labels) (scope === 'metric' ? g.metricLabels : g.resourceLabels)[k] = v;
      groups.set(key, g);
    }
    for (const [endMs, p] of s.points) {
      const prev = g.points.get(endMs);
      if (!prev) {
        g.points.set(endMs, {
          startMs: p.startMs,
          value: typeof p.value === 'number' ? p.value : cloneHistogram(p.value),
        });
      } else if (typeof p.value === 'number') prev.value = (prev.value as number) + p.value;
      else mergeHistogram(prev.value as Histogram, p.value);
    }
  }
  return [...groups.values()];
}

function cloneHistogram(h: Histogram): Histogram {
  return { ...h, bucketCounts: [...h.bucketCounts] };
}

function distribution(h: Histogram): object {
  const mean = h.count ? h.sum / h.count : 0;
  let last = h.bucketCounts.length;
  while (last > 0 && h.bucketCounts[last - 1] === 0) last--;
  return {
    count: h.count,
    mean,
    sumOfSquaredDeviation: Math.max(0, h.sumOfSquares - h.count * mean * mean),
    bucketOptions: { exponentialBuckets: { ...LATENCY_BUCKETS } },
    bucketCounts: h.bucketCounts.slice(0, last),
  };
}

function toProto(s: OutSeries, headersOnly: boolean): object {
  const points = headersOnly
    ? []
    : [...s.points]
        .sort((a, b) => b[0] - a[0])
        .map(([endMs, p]) => {
          let value: PointValue;
          if (s.valueType === 'INT64') value = { int64Value: String(p.value) };
          else if (s.valueType === 'DOUBLE') value = { doubleValue: p.value as number };
          else value = { distributionValue: distribution(p.value as Histogram) };
          return { interval: { startTime: timestamp(p.startMs), endTime: timestamp(endMs) }, value };
        });
  return {
    metric: { type: s.metricType, labels: s.metricLabels },
    resource: { type: CLOUD_RUN_REVISION, labels: s.resourceLabels },
    metricKind: 'DELTA',
    valueType: s.valueType,
    unit: s.metricType === REQUEST_LATENCIES ? 'ms' : '1',
    points,
  };
}
