/**
 * Incomplete Monitoring answers (issue #13, item 8): ListTimeSeries pages by points with the FULL
 * view and flags a partial answer in `execution_errors` (metric_service.proto). The adapter reads
 * every page itself and reports incompleteness to the judge, which never passes on it.
 */
import { MetricServiceClient } from '@google-cloud/monitoring';
import type { ClientOptions } from 'google-gax';
import { FaultInjector } from '../../../emulators/faults';
import {
  createMonitoringMetricsSource,
  revisionFilter,
  REQUEST_COUNT,
  type CloudMonitoringMetricsSource,
} from '../../../functions/adapters/monitoring';
import { ref, rpcError, startHarness, PROJECT, REGION, type Harness } from './helpers';

const PAGE = 3;
let h: Harness;
let metrics: CloudMonitoringMetricsSource;
const faults = new FaultInjector(1);
const base = Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000;

const labels = (revision: string) => ({
  project_id: PROJECT,
  service_name: 'paged',
  revision_name: revision,
  location: REGION,
  configuration_name: 'paged',
});

/** `minutes` minutes of traffic: per minute, 100 + m answers 200 and m answers 503. */
function inject(revision: string, minutes: number): void {
  for (let m = 0; m < minutes; m++) {
    const atMs = base + m * 60_000 + 5_000;
    h.emulator.metrics.inject({ revision: labels(revision), responseCode: 200, atMs, count: 100 + m });
    h.emulator.metrics.inject({
      revision: labels(revision),
      responseCode: 503,
      atMs,
      count: m,
      latenciesMs: [20],
    });
  }
}

const observe = (revision: string, minutes: number) =>
  metrics.observe(
    { ...ref('paged'), revision },
    { start: new Date(base), end: new Date(base + minutes * 60_000), alignmentSeconds: 60 },
  );

const totals = (o: Awaited<ReturnType<typeof observe>>) =>
  o.intervals.reduce(
    (t, i) => ({ ok: t.ok + (i.requests['2xx'] ?? 0), bad: t.bad + (i.requests['5xx'] ?? 0) }),
    { ok: 0, bad: 0 },
  );

beforeAll(async () => {
  h = await startHarness({ seed: 3, faults, monitoringMaxPageSize: PAGE });
  metrics = createMonitoringMetricsSource({ clientOptions: h.clientOptions });
  inject('ten', 10);
  inject('forty', 40);
});
afterEach(() => faults.clear());
afterAll(async () => {
  await metrics.close();
  await h.close();
});

test(`an answer over several pages of ${PAGE} points is read whole and is complete`, async () => {
  const observed = await observe('ten', 10);
  // 10 minutes: 10 × 200 + 45 × 503 requests, 20 count points and 10 latency points: 7 + 4 pages.
  expect(totals(observed)).toEqual({ ok: 1045, bad: 45 });
  expect(observed.intervals).toHaveLength(10);
  expect(observed.incomplete).toBeUndefined();
});

test('an answer flagged in execution_errors is incomplete, with the reason', async () => {
  faults.add({ at: 'monitoring.ListTimeSeries', effect: 'incomplete', subject: /request_count/ });
  const observed = await observe('ten', 10);
  expect(observed.incomplete).toEqual([
    `${REQUEST_COUNT}: Cloud Monitoring reports the data incomplete: injected fault: monitoring.ListTimeSeries read part of the data`,
  ]);
});

test('pages beyond the adapter’s limit leave the answer incomplete', async () => {
  // 40 minutes: 80 count points, 20 pages of 3 and a token still left.
  const observed = await observe('forty', 40);
  expect(observed.incomplete).toEqual([`${REQUEST_COUNT}: more than 20 pages; the rest was not read`]);
});

test('the emulator pages by points, and a token is bound to its request', async () => {
  const client = new MetricServiceClient(h.clientOptions as ClientOptions);
  try {
    const request = {
      name: `projects/${PROJECT}`,
      filter: revisionFilter(REQUEST_COUNT, { ...ref('paged'), revision: 'ten' }),
      interval: { startTime: { seconds: base / 1000 }, endTime: { seconds: base / 1000 + 600 } },
      aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_DELTA' as const },
      view: 'FULL' as const,
      pageSize: 2,
    };
    const [page, next] = await client.listTimeSeries(request, { autoPaginate: false });
    expect(page.reduce((n, s) => n + (s.points ?? []).length, 0)).toBe(2);
    expect(next?.pageToken).toBeTruthy();
    const replayed = await rpcError(
      client.listTimeSeries({
        ...request,
        filter: request.filter.replace('"ten"', '"forty"'),
        pageToken: next!.pageToken,
      }),
    );
    expect(replayed).toEqual({
      code: 3,
      details: 'page_token: not a nextPageToken returned by a previous call with the same request',
    });
  } finally {
    await client.close();
  }
});
