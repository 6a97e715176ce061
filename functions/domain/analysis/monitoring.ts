/**
 * Cloud Monitoring `ListTimeSeries` responses → RevisionObservations.
 *
 * Accepts the REST JSON shape (int64 as decimal strings, RFC 3339 timestamps)
 * and the gRPC/proto-JS shape of the Node client (int64 as number, string or
 * Long `{low, high}`, timestamps as `{seconds, nanos}`, unset oneof members as
 * null), either as a response `{timeSeries: [...]}` or the bare array.
 * Expected queries: `run.googleapis.com/request_count` aligned with
 * ALIGN_DELTA and grouped by `metric.labels.response_code_class`, and
 * `run.googleapis.com/request_latencies` aligned with ALIGN_DELTA (series of
 * the same period are summed, so a per-label split is fine too).
 *
 * The one reader of Monitoring answers: `glidepath analyze` (recorded
 * responses) and the live verdicts (the adapter, through `liveObservations`)
 * both use it, so a malformed count can never become NaN in a judge.
 */
import type {
  BucketOptions,
  IntervalObservation,
  LatencyDistribution,
  ResponseCodeClass,
  RevisionObservations,
} from '../observations';
import { ValidationError } from '../validation';

interface MonitoringResponses {
  requestCount: unknown;
  requestLatencies?: unknown;
}

const CODE_CLASSES: ReadonlySet<string> = new Set(['1xx', '2xx', '3xx', '4xx', '5xx']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** Collects problems with their field paths instead of stopping at the first. */
class Reader {
  readonly problems: string[] = [];
  bad(path: string, expected: string, got: unknown): undefined {
    this.problems.push(`${path}: expected ${expected}, got ${got === undefined ? 'nothing' : show(got)}`);
    return undefined;
  }

  /** A non-negative int64 as string, number or Long-like `{low, high}`. */
  count(v: unknown, path: string): number | undefined {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
    if (isObj(v) && typeof v.low === 'number' && typeof v.high === 'number' && v.high >= 0) {
      const n = v.high * 2 ** 32 + (v.low >>> 0);
      if (Number.isSafeInteger(n)) return n;
    }
    return this.bad(path, 'a non-negative int64 (string, number or Long)', v);
  }

  /** RFC 3339 string or protobuf Timestamp `{seconds, nanos}` → ISO string. */
  time(v: unknown, path: string): string | undefined {
    if (typeof v === 'string') {
      const ms = Date.parse(v);
      if (/^\d{4}-\d\d-\d\dT/.test(v) && Number.isFinite(ms)) return new Date(ms).toISOString();
    } else if (isObj(v)) {
      const seconds =
        typeof v.seconds === 'number' || typeof v.seconds === 'string' || isObj(v.seconds)
          ? this.count(v.seconds, `${path}.seconds`)
          : undefined;
      const nanos = v.nanos === undefined || v.nanos === null ? 0 : v.nanos;
      if (seconds !== undefined && typeof nanos === 'number')
        return new Date(seconds * 1000 + nanos / 1e6).toISOString();
      if (seconds !== undefined) return this.bad(`${path}.nanos`, 'a number', nanos);
    }
    return this.bad(path, 'an RFC 3339 timestamp or {seconds, nanos}', v);
  }

  number(v: unknown, path: string): number | undefined {
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    return this.bad(path, 'a number', v);
  }

  bucketOptions(v: unknown, path: string): BucketOptions | undefined {
    if (!isObj(v)) return this.bad(path, 'bucketOptions', v);
    const pick = (k: string) => (isObj(v[k]) ? (v[k] as Obj) : undefined);
    const exp = pick('exponentialBuckets');
    const lin = pick('linearBuckets');
    const expl = pick('explicitBuckets');
    if (exp) {
      const numFiniteBuckets = this.number(
        exp.numFiniteBuckets,
        `${path}.exponentialBuckets.numFiniteBuckets`,
      );
      const growthFactor = this.number(exp.growthFactor, `${path}.exponentialBuckets.growthFactor`);
      const scale = this.number(exp.scale, `${path}.exponentialBuckets.scale`);
      if (numFiniteBuckets === undefined || growthFactor === undefined || scale === undefined)
        return undefined;
      if (growthFactor <= 1)
        return this.bad(`${path}.exponentialBuckets.growthFactor`, 'a number above 1', growthFactor);
      return { exponentialBuckets: { numFiniteBuckets, growthFactor, scale } };
    }
    if (lin) {
      const numFiniteBuckets = this.number(lin.numFiniteBuckets, `${path}.linearBuckets.numFiniteBuckets`);
      const width = this.number(lin.width, `${path}.linearBuckets.width`);
      const offset = this.number(lin.offset, `${path}.linearBuckets.offset`);
      if (numFiniteBuckets === undefined || width === undefined || offset === undefined) return undefined;
      return { linearBuckets: { numFiniteBuckets, width, offset } };
    }
    if (expl) {
      const bounds = expl.bounds;
      if (
        !Array.isArray(bounds) ||
        bounds.length === 0 ||
        bounds.some((b, i) => typeof b !== 'number' || (i > 0 && b <= bounds[i - 1]))
      ) {
        return this.bad(`${path}.explicitBuckets.bounds`, 'ascending numbers', bounds);
      }
      return { explicitBuckets: { bounds: bounds as number[] } };
    }
    return this.bad(path, 'one of exponentialBuckets, linearBuckets, explicitBuckets', v);
  }

  distribution(v: unknown, path: string): LatencyDistribution | undefined {
    if (!isObj(v)) return this.bad(path, 'a distributionValue', v);
    const count = this.count(v.count ?? 0, `${path}.count`);
    const counts = v.bucketCounts ?? [];
    if (!Array.isArray(counts)) return this.bad(`${path}.bucketCounts`, 'an array of counts', counts);
    const bucketCounts = counts.map((c, i) => this.count(c, `${path}.bucketCounts[${i}]`));
    if (count === undefined || bucketCounts.some((c) => c === undefined)) return undefined;
    const sum = (bucketCounts as number[]).reduce((a, b) => a + b, 0);
    if (count > 0 && sum !== count)
      return this.bad(`${path}.bucketCounts`, `counts summing to count ${count}`, sum);
    if (count === 0) return { count, bucketOptions: {}, bucketCounts: [] };
    const bucketOptions = this.bucketOptions(v.bucketOptions, `${path}.bucketOptions`);
    return bucketOptions && { count, bucketOptions, bucketCounts: bucketCounts as number[] };
  }
}

function seriesOf(r: Reader, response: unknown, path: string): Obj[] {
  const list = Array.isArray(response) ? response : isObj(response) ? (response.timeSeries ?? []) : undefined;
  if (!Array.isArray(list)) {
    r.bad(path, 'a ListTimeSeries response {timeSeries: [...]} or an array of TimeSeries', response);
    return [];
  }
  const where = Array.isArray(response) ? path : `${path}.timeSeries`;
  return list.flatMap((s, i) => (isObj(s) ? [s] : (r.bad(`${where}[${i}]`, 'a TimeSeries object', s), [])));
}

function pointsOf(
  r: Reader,
  series: Obj,
  path: string,
): { path: string; start: string; end: string; value: Obj }[] {
  if (!Array.isArray(series.points)) {
    r.bad(`${path}.points`, 'an array of points', series.points);
    return [];
  }
  return series.points.flatMap((p: unknown, j: number) => {
    const at = `${path}.points[${j}]`;
    if (!isObj(p) || !isObj(p.interval) || !isObj(p.value)) return (r.bad(at, '{interval, value}', p), []);
    const end = r.time(p.interval.endTime, `${at}.interval.endTime`);
    // A DELTA point always has a start; fall back to the end for GAUGE-aligned queries.
    const start =
      p.interval.startTime === undefined || p.interval.startTime === null
        ? end
        : r.time(p.interval.startTime, `${at}.interval.startTime`);
    return start && end ? [{ path: `${at}.value`, start, end, value: p.value }] : [];
  });
}

function revisionOf(series: Obj): string | undefined {
  const resource = isObj(series.resource) ? series.resource : undefined;
  const labels = resource && isObj(resource.labels) ? resource.labels : undefined;
  return typeof labels?.revision_name === 'string' ? labels.revision_name : undefined;
}

/** Converts the two responses for one revision. Throws ValidationError naming every malformed field. */
export function observationsFromMonitoring(
  responses: MonitoringResponses,
  what = 'metrics',
): RevisionObservations {
  const r = new Reader();
  const intervals = new Map<string, IntervalObservation>();
  const slot = (start: string, end: string) => {
    const key = `${start}/${end}`;
    let i = intervals.get(key);
    if (!i) intervals.set(key, (i = { startTime: start, endTime: end, requests: {} }));
    return i;
  };
  const revisions = new Set<string>();

  seriesOf(r, responses.requestCount, `${what}.requestCount`).forEach((series, i) => {
    const path = `${what}.requestCount.timeSeries[${i}]`;
    const rev = revisionOf(series);
    if (rev) revisions.add(rev);
    const labels = isObj(series.metric) && isObj(series.metric.labels) ? series.metric.labels : {};
    const cls = labels.response_code_class;
    if (typeof cls !== 'string' || !CODE_CLASSES.has(cls)) {
      r.bad(
        `${path}.metric.labels.response_code_class`,
        'one of 1xx, 2xx, 3xx, 4xx, 5xx (group by response_code_class)',
        cls,
      );
      return;
    }
    for (const p of pointsOf(r, series, path)) {
      const n = r.count(p.value.int64Value, `${p.path}.int64Value`);
      if (n === undefined) continue;
      const requests = slot(p.start, p.end).requests;
      requests[cls as ResponseCodeClass] = (requests[cls as ResponseCodeClass] ?? 0) + n;
    }
  });

  if (responses.requestLatencies !== undefined) {
    seriesOf(r, responses.requestLatencies, `${what}.requestLatencies`).forEach((series, i) => {
      const path = `${what}.requestLatencies.timeSeries[${i}]`;
      const rev = revisionOf(series);
      if (rev) revisions.add(rev);
      for (const p of pointsOf(r, series, path)) {
        const d = r.distribution(p.value.distributionValue, `${p.path}.distributionValue`);
        if (!d || d.count === 0) continue;
        const interval = slot(p.start, p.end);
        const prev = interval.latency;
        if (!prev) interval.latency = d;
        else if (JSON.stringify(prev.bucketOptions) !== JSON.stringify(d.bucketOptions)) {
          r.bad(
            `${p.path}.distributionValue.bucketOptions`,
            `the same layout as other series of this period (${show(prev.bucketOptions)})`,
            d.bucketOptions,
          );
        } else {
          const counts = Array.from(
            { length: Math.max(prev.bucketCounts.length, d.bucketCounts.length) },
            (_, k) => (prev.bucketCounts[k] ?? 0) + (d.bucketCounts[k] ?? 0),
          );
          interval.latency = {
            count: prev.count + d.count,
            bucketOptions: prev.bucketOptions,
            bucketCounts: counts,
          };
        }
      }
    });
  }

  if (revisions.size > 1)
    r.problems.push(`${what}: expected the series of one revision, got ${[...revisions].join(', ')}`);
  if (r.problems.length) throw new ValidationError(`invalid ${what}`, r.problems);
  return {
    revision: [...revisions][0] ?? 'unknown',
    intervals: [...intervals.values()].sort(
      (a, b) => a.startTime.localeCompare(b.startTime) || a.endTime.localeCompare(b.endTime),
    ),
  };
}

/**
 * The requests of a `request_count` answer, whatever its grouping: the sum
 * of every point, and the start of the earliest point that counted any (when
 * the service began serving within the window). Throws ValidationError naming
 * every malformed field.
 */
export function requestTotal(response: unknown, what = 'answer'): { requests: number; firstServed?: string } {
  const r = new Reader();
  let requests = 0;
  let firstServed: string | undefined;
  seriesOf(r, response, `${what}.requestCount`).forEach((series, i) => {
    for (const p of pointsOf(r, series, `${what}.requestCount.timeSeries[${i}]`)) {
      const n = r.count(p.value.int64Value, `${p.path}.int64Value`) ?? 0;
      requests += n;
      if (n > 0 && (firstServed === undefined || Date.parse(p.start) < Date.parse(firstServed)))
        firstServed = p.start;
    }
  });
  if (r.problems.length) throw new ValidationError(`invalid ${what}`, r.problems);
  return firstServed === undefined ? { requests } : { requests, firstServed };
}

/**
 * The live verdicts' reading of one revision's answers: never throws on the
 * data. A malformed answer gives no intervals and an `incomplete` reason
 * naming every bad field, so the look is INCONCLUSIVE and says why;
 * `incomplete` carries what the reads already knew (execution errors, pages
 * left). The revision is the one asked for: REDUCE_SUM drops resource labels.
 */
export function liveObservations(
  revision: string,
  responses: MonitoringResponses,
  incomplete: string[] = [],
): RevisionObservations {
  try {
    const read = observationsFromMonitoring(responses, 'answer');
    return { revision, intervals: read.intervals, ...(incomplete.length ? { incomplete } : {}) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return {
      revision,
      intervals: [],
      incomplete: [...incomplete, `not judged: ${err.message}`],
    };
  }
}
