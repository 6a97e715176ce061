/**
 * google.monitoring.v3.MetricService as served by the emulator: only
 * ListTimeSeries, over the store that the Cloud Run front door fills.
 */
import { grpcService, RpcError, Status } from '../cloudrun/protos';
import { parseFilter } from './filter';
import type { MetricStore } from './store';

type Timestamp = { seconds?: string; nanos?: number } | undefined;

function toMs(t: Timestamp, field: string): number {
  if (!t) throw new RpcError(Status.INVALID_ARGUMENT, `${field}: must be set`);
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** metric_service.proto, ListTimeSeriesRequest.page_size: "If page_size is empty or more than 100,000 results, the effective page_size is 100,000 results". */
const MAX_PAGE_SIZE = 100_000;

type ProtoSeries = { points: unknown[] } & Record<string, unknown>;

/**
 * One page of an answer. With the FULL view, page_size counts points; with HEADERS, time series
 * (metric_service.proto). A series cut by the page boundary continues on the next page with its
 * header repeated. The token names the offset and the request it belongs to, so a token replayed
 * with another filter, interval or aggregation is INVALID_ARGUMENT.
 */
function paginate(
  all: ProtoSeries[],
  headersOnly: boolean,
  pageSize: number,
  token: string,
  fingerprint: string,
): { timeSeries: ProtoSeries[]; nextPageToken: string } {
  let offset = 0;
  if (token) {
    let parsed: { offset?: unknown; request?: unknown } = {};
    try {
      parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof parsed;
    } catch {
      // Reported below.
    }
    if (typeof parsed.offset !== 'number' || parsed.request !== fingerprint)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'page_token: not a nextPageToken returned by a previous call with the same request',
      );
    offset = parsed.offset;
  }
  const page: ProtoSeries[] = [];
  let skipped = 0;
  let taken = 0;
  for (const series of all) {
    if (taken === pageSize) break;
    const units = headersOnly ? 1 : series.points.length;
    if (skipped + units <= offset) {
      skipped += units;
      continue;
    }
    if (headersOnly) {
      page.push(series);
      taken++;
      skipped++;
      continue;
    }
    const from = offset - skipped;
    const points = series.points.slice(from, from + (pageSize - taken));
    page.push({ ...series, points });
    taken += points.length;
    skipped += from + points.length;
  }
  const total = all.reduce((n, s) => n + (headersOnly ? 1 : s.points.length), 0);
  const next = offset + taken;
  return {
    timeSeries: page,
    nextPageToken:
      next < total
        ? Buffer.from(JSON.stringify({ offset: next, request: fingerprint })).toString('base64url')
        : '',
  };
}

export function metricService(
  store: MetricStore,
  options: { maxPageSize?: number; metricsScopes?: Record<string, string[]> } = {},
): ReturnType<typeof grpcService> {
  const maxPageSize = options.maxPageSize ?? MAX_PAGE_SIZE;
  const metricsScopes = options.metricsScopes ?? {};
  return grpcService('google.monitoring.v3.MetricService', {
    ListTimeSeries: (req) => {
      const r = req as {
        name?: string;
        filter?: string;
        interval?: { startTime?: Timestamp; endTime?: Timestamp };
        aggregation?: {
          alignmentPeriod?: { seconds?: string; nanos?: number };
          perSeriesAligner?: string;
          crossSeriesReducer?: string;
          groupByFields?: string[];
        };
        secondaryAggregation?: { perSeriesAligner?: string; crossSeriesReducer?: string };
        view?: string;
        pageSize?: number;
        pageToken?: string;
      };
      const project = /^projects\/([^/]+)$/.exec(r.name ?? '')?.[1];
      if (!project)
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `name: ${JSON.stringify(r.name ?? '')} is not valid; expected projects/<project>`,
        );
      const clauses = parseFilter(r.filter ?? '');
      const endMs = toMs(r.interval?.endTime, 'interval.endTime');
      // For DELTA metrics a missing start time means "a point ending at endTime"; one period back is the nearest reading.
      const startMs = r.interval?.startTime
        ? toMs(r.interval.startTime, 'interval.startTime')
        : endMs - 60_000;
      const secondary = r.secondaryAggregation;
      if (
        (secondary?.perSeriesAligner && secondary.perSeriesAligner !== 'ALIGN_NONE') ||
        (secondary?.crossSeriesReducer && secondary.crossSeriesReducer !== 'REDUCE_NONE')
      )
        throw new RpcError(Status.INVALID_ARGUMENT, 'secondaryAggregation: is not supported by the emulator');
      const a = r.aggregation;
      const alignmentSeconds = a?.alignmentPeriod
        ? Number(a.alignmentPeriod.seconds ?? 0) + (a.alignmentPeriod.nanos ?? 0) / 1e9
        : undefined;
      const timeSeries = store.query({
        // A scoping project sees the series of every project it monitors (a metrics scope), so
        // only a resource.labels.project_id clause narrows a query to one project.
        projects: [project, ...(metricsScopes[project] ?? [])],
        clauses,
        startMs,
        endMs,
        alignmentSeconds: alignmentSeconds && alignmentSeconds > 0 ? alignmentSeconds : undefined,
        aligner: a?.perSeriesAligner ?? 'ALIGN_NONE',
        reducer: a?.crossSeriesReducer ?? 'REDUCE_NONE',
        groupByFields: a?.groupByFields ?? [],
        headersOnly: r.view === 'HEADERS',
      });
      if ((r.pageSize ?? 0) < 0)
        throw new RpcError(Status.INVALID_ARGUMENT, `page_size: must be positive, got ${r.pageSize}`);
      const pageSize = !r.pageSize || r.pageSize > maxPageSize ? maxPageSize : r.pageSize;
      const { pageSize: _size, pageToken: _token, ...request } = r;
      const page = paginate(
        timeSeries as ProtoSeries[],
        r.view === 'HEADERS',
        pageSize,
        r.pageToken ?? '',
        JSON.stringify(request),
      );
      return { ...page, executionErrors: [], unit: '' };
    },
  });
}
