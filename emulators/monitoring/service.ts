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

export function metricService(store: MetricStore): ReturnType<typeof grpcService> {
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
        project,
        clauses,
        startMs,
        endMs,
        alignmentSeconds: alignmentSeconds && alignmentSeconds > 0 ? alignmentSeconds : undefined,
        aligner: a?.perSeriesAligner ?? 'ALIGN_NONE',
        reducer: a?.crossSeriesReducer ?? 'REDUCE_NONE',
        groupByFields: a?.groupByFields ?? [],
        headersOnly: r.view === 'HEADERS',
      });
      return { timeSeries, nextPageToken: '', executionErrors: [], unit: '' };
    },
  });
}
