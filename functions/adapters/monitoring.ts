/**
 * MetricsSource on Cloud Monitoring v3 (`@google-cloud/monitoring`): Cloud
 * Run's request_count (by response_code_class) and request_latencies of one
 * revision, aligned per period with ALIGN_DELTA and summed across series
 * (instances, response codes) with REDUCE_SUM.
 */
import { MetricServiceClient, protos } from '@google-cloud/monitoring';
import type { ClientOptions } from 'google-gax';
import type {
  BucketOptions,
  IntervalObservation,
  ResponseCodeClass,
  RevisionObservations,
} from '../domain/observations';
import type { MetricsSource, ServiceRef } from '../ports';
import { fromSdkError } from '../shared/errors';

type ITimeSeries = protos.google.monitoring.v3.ITimeSeries;
type ITimestamp = protos.google.protobuf.ITimestamp;
type ListRequest = protos.google.monitoring.v3.IListTimeSeriesRequest;
type ListResponse = protos.google.monitoring.v3.IListTimeSeriesResponse;
type Int64 = number | string | { toString(): string } | null | undefined;

export const REQUEST_COUNT = 'run.googleapis.com/request_count';
export const REQUEST_LATENCIES = 'run.googleapis.com/request_latencies';
/** A window of one rollout step is a few points per series; this many pages means something is wrong. */
const MAX_PAGES = 20;
const CLASSES: ReadonlySet<string> = new Set(['1xx', '2xx', '3xx', '4xx', '5xx']);

export interface MonitoringOptions {
  /** Client options, e.g. `localClientOptions(host)` for the emulator; `{}` for Google. */
  clientOptions?: Record<string, unknown>;
}

const num = (v: Int64): number => (v === null || v === undefined ? 0 : Number(String(v)));

function toIso(t: ITimestamp | null | undefined): string {
  return new Date(num(t?.seconds) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6)).toISOString();
}

function toTimestamp(d: Date): ITimestamp {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/** One revision's series; without `revision`, every revision of the service. */
export function revisionFilter(metricType: string, r: ServiceRef & { revision?: string }): string {
  return [
    `metric.type = "${metricType}"`,
    'resource.type = "cloud_run_revision"',
    // The request's project may scope others (a metrics scope): name the project in the filter too.
    `resource.labels.project_id = "${r.project}"`,
    `resource.labels.service_name = "${r.service}"`,
    ...(r.revision ? [`resource.labels.revision_name = "${r.revision}"`] : []),
    `resource.labels.location = "${r.region}"`,
  ].join(' AND ');
}

function toBucketOptions(b: protos.google.api.Distribution.IBucketOptions | null | undefined): BucketOptions {
  if (b?.exponentialBuckets)
    return {
      exponentialBuckets: {
        numFiniteBuckets: num(b.exponentialBuckets.numFiniteBuckets),
        growthFactor: num(b.exponentialBuckets.growthFactor),
        scale: num(b.exponentialBuckets.scale),
      },
    };
  if (b?.linearBuckets)
    return {
      linearBuckets: {
        numFiniteBuckets: num(b.linearBuckets.numFiniteBuckets),
        width: num(b.linearBuckets.width),
        offset: num(b.linearBuckets.offset),
      },
    };
  return { explicitBuckets: { bounds: (b?.explicitBuckets?.bounds ?? []).map(Number) } };
}

/** Merges the two queries' series into one observation per alignment period, oldest first. */
export function toObservations(
  revision: string,
  counts: ITimeSeries[],
  latencies: ITimeSeries[],
): RevisionObservations {
  const byEnd = new Map<string, IntervalObservation>();
  const at = (
    interval: protos.google.monitoring.v3.ITimeInterval | null | undefined,
  ): IntervalObservation => {
    const endTime = toIso(interval?.endTime);
    let o = byEnd.get(endTime);
    if (!o) {
      o = { startTime: toIso(interval?.startTime ?? interval?.endTime), endTime, requests: {} };
      byEnd.set(endTime, o);
    }
    return o;
  };
  for (const series of counts) {
    const cls = series.metric?.labels?.response_code_class ?? '';
    if (!CLASSES.has(cls)) continue;
    for (const p of series.points ?? []) {
      const o = at(p.interval);
      const key = cls as ResponseCodeClass;
      o.requests[key] = (o.requests[key] ?? 0) + num(p.value?.int64Value);
    }
  }
  for (const series of latencies) {
    for (const p of series.points ?? []) {
      const d = p.value?.distributionValue;
      if (!d) continue;
      at(p.interval).latency = {
        count: num(d.count),
        bucketOptions: toBucketOptions(d.bucketOptions),
        bucketCounts: (d.bucketCounts ?? []).map(num),
      };
    }
  }
  const intervals = [...byEnd.values()].sort(
    (a, b) => a.startTime.localeCompare(b.startTime) || a.endTime.localeCompare(b.endTime),
  );
  return { revision, intervals };
}

export interface CloudMonitoringMetricsSource extends MetricsSource {
  close(): Promise<void>;
}

export function createMonitoringMetricsSource(options: MonitoringOptions = {}): CloudMonitoringMetricsSource {
  const client = new MetricServiceClient((options.clientOptions ?? {}) as ClientOptions);

  /**
   * Reads every page itself (the client's auto-pagination drops `execution_errors`) and says why
   * the answer may be incomplete: Monitoring's own execution errors, or pages left unread.
   */
  async function list(
    metricType: string,
    r: ServiceRef & { revision?: string },
    window: { start: Date; end: Date; alignmentSeconds: number },
    groupBy: string[],
    callOptions: { timeout?: number; maxRetries?: number } = {},
  ): Promise<{ series: ITimeSeries[]; incomplete: string[] }> {
    const series: ITimeSeries[] = [];
    const incomplete: string[] = [];
    let request: ListRequest | null = {
      name: `projects/${r.project}`,
      filter: revisionFilter(metricType, r),
      interval: { startTime: toTimestamp(window.start), endTime: toTimestamp(window.end) },
      aggregation: {
        alignmentPeriod: { seconds: window.alignmentSeconds },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
        groupByFields: groupBy,
      },
      view: 'FULL',
    };
    for (let page = 0; request; page++) {
      if (page === MAX_PAGES) {
        incomplete.push(`${metricType}: more than ${MAX_PAGES} pages; the rest was not read`);
        break;
      }
      try {
        const [pageSeries, next, response]: [ITimeSeries[], ListRequest | null, ListResponse | undefined] =
          await client.listTimeSeries(request, { autoPaginate: false, ...callOptions });
        series.push(...pageSeries);
        for (const e of response?.executionErrors ?? [])
          incomplete.push(
            `${metricType}: Cloud Monitoring reports the data incomplete: ${e.message ?? `code ${e.code}`}`,
          );
        request = next;
      } catch (err) {
        throw fromSdkError(
          err,
          `list ${metricType} of ${r.revision ? `revision ${r.revision}` : `service ${r.service} in ${r.region}`}`,
        );
      }
    }
    return { series, incomplete: [...new Set(incomplete)] };
  }

  return {
    async observe(revision, window) {
      const [counts, latencies] = await Promise.all([
        list(REQUEST_COUNT, revision, window, ['metric.label.response_code_class']),
        list(REQUEST_LATENCIES, revision, window, []),
      ]);
      const observations = toObservations(revision.revision, counts.series, latencies.series);
      const incomplete = [...counts.incomplete, ...latencies.incomplete];
      return incomplete.length ? { ...observations, incomplete } : observations;
    },
    async serviceRequests(service, window) {
      // Informational (a rollout's start message): one quick try, never Monitoring's long retries.
      const { series } = await list(REQUEST_COUNT, service, { ...window, alignmentSeconds: 60 }, [], {
        timeout: 5000,
        maxRetries: 0,
      });
      return series.flatMap((s) => s.points ?? []).reduce((n, p) => n + num(p.value?.int64Value), 0);
    },
    close: () => client.close(),
  };
}
