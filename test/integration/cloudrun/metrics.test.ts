/**
 * The Monitoring emulator serves what the front door observed, and the
 * MetricsSource adapter reads it through the real @google-cloud/monitoring
 * client: counts exact, percentiles within the buckets' resolution.
 */
import { MetricServiceClient } from '@google-cloud/monitoring';
import type { ClientOptions } from 'google-gax';
import { runLoad } from '../../../emulators/loadgen';
import {
  createMonitoringMetricsSource,
  type CloudMonitoringMetricsSource,
} from '../../../functions/adapters/monitoring';
import type { LatencyDistribution } from '../../../functions/domain/observations';
import { createService, ref, rpcError, startHarness, PROJECT, REGION, type Harness } from './helpers';

let h: Harness;
let metrics: CloudMonitoringMetricsSource;
const suiteStart = new Date();

beforeAll(async () => {
  h = await startHarness({ seed: 7 });
  metrics = createMonitoringMetricsSource({ clientOptions: h.clientOptions });
});

afterAll(async () => {
  await metrics.close();
  await h.close();
});

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The [lower, upper) bounds of the bucket holding the p-th percentile of an exponential histogram. */
function percentileBucket(d: LatencyDistribution, p: number): [number, number] {
  const { scale, growthFactor } = d.bucketOptions.exponentialBuckets!;
  const rank = (p / 100) * d.count;
  let seen = 0;
  for (let i = 0; i < d.bucketCounts.length; i++) {
    seen += d.bucketCounts[i];
    if (seen >= rank)
      return i === 0 ? [0, scale] : [scale * growthFactor ** (i - 1), scale * growthFactor ** i];
  }
  throw new Error('rank beyond the histogram');
}

test('request counts by class are exact and latency percentiles fall in the right bucket', async () => {
  const image = 'us-docker.pkg.dev/test-project/apps/flaky:v1';
  h.emulator.setProfile(image, { errorRate: 0.2, latencyMs: { p50: 50, p99: 400 } });
  const svc = await createService(h.services, 'flaky', {}, image);
  const revision = svc.latestReadyRevision!.split('/').pop()!;
  const start = new Date();
  const byClass: Record<string, number> = {};
  const latencies: number[] = [];
  for (let i = 0; i < 300; i++) {
    const res = await fetch(`${svc.uri}/work?i=${i}`);
    const body = (await res.json()) as { latencyMs: number };
    const cls = `${Math.floor(res.status / 100)}xx`;
    byClass[cls] = (byClass[cls] ?? 0) + 1;
    latencies.push(body.latencyMs);
  }
  expect(byClass['5xx']).toBeGreaterThan(20);
  const end = new Date(Date.now() + 1000);

  const observed = await metrics.observe({ ...ref('flaky'), revision }, { start, end, alignmentSeconds: 60 });
  expect(observed.revision).toBe(revision);
  const requests: Record<string, number> = {};
  let latencyCount = 0;
  const merged = new Map<number, number>();
  for (const interval of observed.intervals) {
    for (const [cls, n] of Object.entries(interval.requests)) requests[cls] = (requests[cls] ?? 0) + n!;
    latencyCount += interval.latency?.count ?? 0;
    interval.latency?.bucketCounts.forEach((n, i) => merged.set(i, (merged.get(i) ?? 0) + n));
  }
  expect(requests).toEqual(byClass);
  expect(latencyCount).toBe(300);

  const first = observed.intervals.find((i) => i.latency)!.latency!;
  const distribution: LatencyDistribution = {
    count: latencyCount,
    bucketOptions: first.bucketOptions,
    bucketCounts: [...merged.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n),
  };
  expect(distribution.bucketOptions.exponentialBuckets).toEqual({
    numFiniteBuckets: 100,
    growthFactor: 1.4,
    scale: 0.01,
  });
  const sorted = [...latencies].sort((a, b) => a - b);
  for (const p of [50, 95, 99]) {
    const [lower, upper] = percentileBucket(distribution, p);
    const truth = exactPercentile(sorted, p);
    expect(truth).toBeGreaterThanOrEqual(lower);
    expect(truth).toBeLessThan(upper);
  }
});

test('counts per alignment period follow the injected points, and other revisions are not mixed in', async () => {
  const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const labels = (revision: string) => ({
    project_id: PROJECT,
    service_name: 'injected',
    revision_name: revision,
    location: REGION,
    configuration_name: 'injected',
  });
  for (let minute = 0; minute < 5; minute++) {
    h.emulator.metrics.inject({
      revision: labels('injected-a'),
      responseCode: 200,
      atMs: base + minute * 60_000 + 5_000,
      count: 10 + minute,
    });
    h.emulator.metrics.inject({
      revision: labels('injected-a'),
      responseCode: 503,
      atMs: base + minute * 60_000 + 7_000,
      count: minute,
    });
    h.emulator.metrics.inject({
      revision: labels('injected-b'),
      responseCode: 200,
      atMs: base + minute * 60_000 + 5_000,
      count: 1000,
    });
  }
  const observed = await metrics.observe(
    { ...ref('injected'), revision: 'injected-a' },
    { start: new Date(base), end: new Date(base + 5 * 60_000), alignmentSeconds: 60 },
  );
  expect(observed.intervals.map((i) => [i.startTime, i.requests])).toEqual(
    [0, 1, 2, 3, 4].map((m) => [
      new Date(base + m * 60_000).toISOString(),
      m === 0 ? { '2xx': 10 } : { '2xx': 10 + m, '5xx': m },
    ]),
  );
});

test('data becomes visible only after the ingestion delay', async () => {
  // The store's clock is the test's: visibility is checked just before and at the delay, never raced.
  let storeNow = Date.now();
  const delayed = await startHarness({ ingestionDelayMs: 400, monitoringClock: () => storeNow });
  const source = createMonitoringMetricsSource({ clientOptions: delayed.clientOptions });
  try {
    const svc = await createService(delayed.services, 'late');
    const revision = svc.latestReadyRevision!.split('/').pop()!;
    const window = {
      start: new Date(Date.now() - 1000),
      end: new Date(Date.now() + 60_000),
      alignmentSeconds: 60,
    };
    const served = (o: Awaited<ReturnType<typeof source.observe>>) =>
      o.intervals.reduce((n, i) => n + (i.requests['2xx'] ?? 0), 0);
    const writtenAt = storeNow;
    for (let i = 0; i < 5; i++) expect((await fetch(svc.uri!)).status).toBe(200);
    expect(served(await source.observe({ ...ref('late'), revision }, window))).toBe(0);
    storeNow = writtenAt + 399;
    expect(served(await source.observe({ ...ref('late'), revision }, window))).toBe(0);
    storeNow = writtenAt + 400;
    expect(served(await source.observe({ ...ref('late'), revision }, window))).toBe(5);
  } finally {
    await source.close();
    await delayed.close();
  }
});

test('the load generator drives the service and Monitoring counts every answer', async () => {
  const svc = await createService(h.services, 'loaded');
  const revision = svc.latestReadyRevision!.split('/').pop()!;
  const start = new Date();
  const result = await runLoad({ url: `${svc.uri}/`, ratePerSecond: 500, maxRequests: 200 });
  expect(result).toMatchObject({ sent: 200, errors: 0, dropped: 0, byStatus: { 200: 200 } });
  const observed = await metrics.observe(
    { ...ref('loaded'), revision },
    { start, end: new Date(Date.now() + 1000), alignmentSeconds: 60 },
  );
  expect(observed.intervals.reduce((n, i) => n + (i.requests['2xx'] ?? 0), 0)).toBe(200);
});

test('the load generator refuses non-loopback targets and unbounded runs', async () => {
  await expect(runLoad({ url: 'http://example.com/', ratePerSecond: 10, maxRequests: 1 })).rejects.toThrow(
    /not allowed; expected http:\/\/ on a loopback host/,
  );
  await expect(runLoad({ url: 'http://127.0.0.1:1/', ratePerSecond: 10 })).rejects.toThrow(/never stops/);
  await expect(runLoad({ url: 'http://127.0.0.1:1/', ratePerSecond: 0, maxRequests: 1 })).rejects.toThrow(
    /ratePerSecond 0 is out of range/,
  );
});

describe('ListTimeSeries fidelity', () => {
  let client: MetricServiceClient;
  beforeAll(() => {
    client = new MetricServiceClient(h.clientOptions as ClientOptions);
  });
  afterAll(() => client.close());
  const now = Math.floor(Date.now() / 1000);
  const interval = { startTime: { seconds: now - 3600 }, endTime: { seconds: now + 60 } };

  test('an unsupported filter is rejected with INVALID_ARGUMENT naming it', async () => {
    const err = await rpcError(
      client.listTimeSeries({
        name: `projects/${PROJECT}`,
        filter: 'metric.type = "run.googleapis.com/request_count" OR resource.type = "x"',
        interval,
      }),
    );
    expect(err.code).toBe(3);
    expect(err.details).toMatch(
      /Unsupported filter at position 49 \("OR resource.type = \\"x\\""\).*expected AND or the end of the filter/,
    );
  });

  test('ALIGN_PERCENTILE_99 on the latency distribution, and HEADERS without points', async () => {
    const [series] = await client.listTimeSeries({
      name: `projects/${PROJECT}`,
      filter:
        'metric.type = "run.googleapis.com/request_latencies" AND resource.labels.service_name = "flaky"',
      interval,
      aggregation: {
        alignmentPeriod: { seconds: 3660 },
        perSeriesAligner: 'ALIGN_PERCENTILE_99',
        crossSeriesReducer: 'REDUCE_SUM',
      },
    });
    expect(series).toHaveLength(1);
    expect(series[0].valueType).toBe('DOUBLE');
    expect(series[0].points![0].value!.doubleValue).toBeGreaterThan(50);
    const [headers] = await client.listTimeSeries({
      name: `projects/${PROJECT}`,
      filter: 'metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = "flaky"',
      interval,
      view: 'HEADERS',
    });
    expect(headers.length).toBeGreaterThan(0);
    expect(headers.every((s) => (s.points ?? []).length === 0)).toBe(true);
    expect(headers[0].resource?.labels).toMatchObject({
      project_id: PROJECT,
      service_name: 'flaky',
      location: REGION,
      configuration_name: 'flaky',
    });
  });

  test('ALIGN_RATE gives requests per second; a percentile of an INT64 metric is rejected', async () => {
    const [rate] = await client.listTimeSeries({
      name: `projects/${PROJECT}`,
      filter: 'metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = "flaky"',
      interval,
      aggregation: {
        alignmentPeriod: { seconds: 3660 },
        perSeriesAligner: 'ALIGN_RATE',
        crossSeriesReducer: 'REDUCE_SUM',
      },
    });
    expect(rate[0].points![0].value!.doubleValue).toBeCloseTo(300 / 3660, 6);
    const err = await rpcError(
      client.listTimeSeries({
        name: `projects/${PROJECT}`,
        filter: 'metric.type = "run.googleapis.com/request_count"',
        interval,
        aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_PERCENTILE_99' },
      }),
    );
    expect(err.code).toBe(3);
    expect(err.details).toMatch(/ALIGN_PERCENTILE_99 requires a DISTRIBUTION metric/);
  });
});

test('at --speed N, each request on a service URL is recorded N times, the N − 1 generated from the profile', async () => {
  const fast = await startHarness({ evidencePerRequest: 20, seed: 3 });
  const source = createMonitoringMetricsSource({ clientOptions: fast.clientOptions });
  try {
    const image = 'us-docker.pkg.dev/test-project/apps/half:v1';
    fast.emulator.setProfile(image, { errorRate: 0.5, latencyMs: { p50: 50, p99: 400 } });
    const svc = await createService(fast.services, 'half', {}, image);
    const revision = svc.latestReadyRevision!.split('/').pop()!;
    const start = new Date();
    for (let i = 0; i < 50; i++) await fetch(`${svc.uri}/work`);
    // A health check is not amplified: it is not user traffic.
    const tagged = await fetch(`${fast.emulator.frontDoorUrl}/s/${REGION}/half/health`);
    expect(tagged.status).toBe(200);
    const observed = await source.observe(
      { ...ref('half'), revision },
      { start, end: new Date(Date.now() + 1000), alignmentSeconds: 60 },
    );
    const count = (cls: '2xx' | '5xx') => observed.intervals.reduce((n, i) => n + (i.requests[cls] ?? 0), 0);
    expect(count('2xx') + count('5xx')).toBe(50 * 20 + 1);
    // 1000 draws at 50% 5xx: within ±5 standard deviations (±79).
    expect(Math.abs(count('5xx') - 500)).toBeLessThan(80);
    const latencies = observed.intervals.reduce((n, i) => n + (i.latency?.count ?? 0), 0);
    expect(latencies).toBe(50 * 20 + 1);
  } finally {
    await source.close();
    await fast.close();
  }
});

test("a service's request count sums every revision and class of that service only", async () => {
  const image = 'us-docker.pkg.dev/test-project/apps/steady:v1';
  h.emulator.setProfile(image, { errorRate: 0.5, latencyMs: { p50: 5, p99: 20 } });
  const svc = await createService(h.services, 'steady', {}, image);
  for (let i = 0; i < 40; i++) await fetch(`${svc.uri}/work?i=${i}`);
  const window = { start: suiteStart, end: new Date(Date.now() + 1000) };
  const { project, region } = ref('steady');
  const steady = await metrics.serviceRequests({ project, region, service: 'steady' }, window);
  expect(steady.requests).toBe(40);
  // When the service began serving: within this test, not before the suite.
  expect(Date.parse(steady.firstServed!)).toBeGreaterThanOrEqual(suiteStart.getTime() - 60_000);
  // The first test's 300 requests to `flaky`, 5xx included, and none of these.
  expect((await metrics.serviceRequests({ project, region, service: 'flaky' }, window)).requests).toBe(300);
  expect(
    await metrics.serviceRequests({ project, region: 'europe-west1', service: 'steady' }, window),
  ).toEqual({
    requests: 0,
  });
});
