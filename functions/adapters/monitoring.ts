/**
 * MetricsSource on Cloud Monitoring v3 (`@google-cloud/monitoring`): Cloud
 * Run's request_count (by response_code_class) and request_latencies of one
 * revision, aligned per period with ALIGN_DELTA and summed across series
 * (instances, response codes) with REDUCE_SUM. The answers are read by the
 * strict parser of functions/domain/analysis/monitoring.ts.
 */
import { MetricServiceClient, protos } from '@google-cloud/monitoring';
import type { ClientOptions } from 'google-gax';
import { liveObservations, requestTotal } from '../domain/analysis/monitoring';
import type { MetricsSource, ServiceRef } from '../ports';
import { fromSdkError } from '../shared/errors';

type ITimeSeries = protos.google.monitoring.v3.ITimeSeries;
type ITimestamp = protos.google.protobuf.ITimestamp;
type ListRequest = protos.google.monitoring.v3.IListTimeSeriesRequest;
type ListResponse = protos.google.monitoring.v3.IListTimeSeriesResponse;

export const REQUEST_COUNT = 'run.googleapis.com/request_count';
const REQUEST_LATENCIES = 'run.googleapis.com/request_latencies';
/** A window of one rollout step is a few points per series; this many pages means something is wrong. */
const MAX_PAGES = 20;

interface MonitoringOptions {
  /** Client options, e.g. `localClientOptions(host)` for the emulator; `{}` for Google. */
  clientOptions?: Record<string, unknown>;
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
      // The strict parser (also `glidepath analyze`'s): a malformed answer is INCONCLUSIVE, never NaN.
      return liveObservations(
        revision.revision,
        { requestCount: counts.series, requestLatencies: latencies.series },
        [...counts.incomplete, ...latencies.incomplete],
      );
    },
    async serviceRequests(service, window) {
      // Informational (a rollout's start message): one quick try, never Monitoring's long retries.
      const { series } = await list(REQUEST_COUNT, service, { ...window, alignmentSeconds: 60 }, [], {
        timeout: 5000,
        maxRetries: 0,
      });
      // Strict: a malformed count throws, naming the field, and the caller says the traffic is unknown.
      return requestTotal(series);
    },
    close: () => client.close(),
  };
}
