/**
 * What Cloud Run's request metrics leave out, and the emulator with them
 * (https://cloud.google.com/monitoring/api/metrics_gcp#gcp-run):
 * - request_latencies "is measured from when the request reaches the running
 *   container to when it exits. Notably, it does not include container
 *   startup latency";
 * - request_count "excludes requests that are not reaching your container
 *   instances (e.g. unauthorized requests or when maximum number of instances
 *   is reached)".
 */
import { MetricServiceClient } from '@google-cloud/monitoring';
import type { ClientOptions } from 'google-gax';
import {
  createMonitoringMetricsSource,
  type CloudMonitoringMetricsSource,
} from '../../../functions/adapters/monitoring';
import type { RevisionObservations } from '../../../functions/domain/observations';
import { createService, ref, startHarness, type Harness } from './helpers';

let h: Harness;
let metrics: CloudMonitoringMetricsSource;

beforeAll(async () => {
  h = await startHarness({ seed: 11, simulateLatency: true });
  metrics = createMonitoringMetricsSource({ clientOptions: h.clientOptions });
});

afterAll(async () => {
  await metrics.close();
  await h.close();
});

function totals(observed: RevisionObservations): { requests: number; latencyCount: number } {
  let requests = 0;
  let latencyCount = 0;
  for (const i of observed.intervals) {
    requests += Object.values(i.requests).reduce((n, c) => n + (c ?? 0), 0);
    latencyCount += i.latency?.count ?? 0;
  }
  return { requests, latencyCount };
}

test('a cold start delays the first answer but stays out of request_latencies', async () => {
  const image = 'us-docker.pkg.dev/test-project/apps/cold:v1';
  const coldStartMs = 400;
  h.emulator.setProfile(image, { coldStartMs, latencyMs: { p50: 5, p99: 10 } });
  const svc = await createService(h.services, 'cold', {}, image);
  const revision = svc.latestReadyRevision!.split('/').pop()!;
  const start = new Date(Date.now() - 1000);

  const first = (await (await fetch(`${svc.uri}/work`)).json()) as { latencyMs: number; startupMs: number };
  const second = (await (await fetch(`${svc.uri}/work`)).json()) as { latencyMs: number; startupMs: number };
  // The client waited for the container to start; Monitoring's latency does not include that wait.
  expect(first.startupMs).toBe(coldStartMs);
  expect(second.startupMs).toBe(0);
  expect(first.latencyMs).toBeLessThan(coldStartMs);

  const client = new MetricServiceClient(h.clientOptions as ClientOptions);
  try {
    const [series] = await client.listTimeSeries({
      name: 'projects/test-project',
      filter: `metric.type = "run.googleapis.com/request_latencies" AND resource.labels.revision_name = "${revision}"`,
      interval: {
        startTime: { seconds: Math.floor(start.getTime() / 1000) },
        endTime: { seconds: Math.ceil(Date.now() / 1000) + 1 },
      },
      aggregation: {
        alignmentPeriod: { seconds: 60 },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
      },
    });
    const points = series.flatMap((s) => s.points ?? []);
    const count = points.reduce((n, p) => n + Number(p.value?.distributionValue?.count ?? 0), 0);
    const sum = points.reduce(
      (n, p) => n + Number(p.value?.distributionValue?.count ?? 0) * (p.value?.distributionValue?.mean ?? 0),
      0,
    );
    expect(count).toBe(2);
    expect(sum).toBeCloseTo(first.latencyMs + second.latencyMs, 6);
    expect(sum).toBeLessThan(coldStartMs);
  } finally {
    await client.close();
  }
});

test('at max instances the excess requests get 429 and never reach request_count', async () => {
  const image = 'us-docker.pkg.dev/test-project/apps/busy:v1';
  h.emulator.setProfile(image, { latencyMs: { p50: 300, p99: 400 } });
  const svc = await createService(
    h.services,
    'busy',
    {},
    image,
    // One instance that takes one request at a time.
    { scaling: { maxInstanceCount: 1 }, maxInstanceRequestConcurrency: 1 },
  );
  const revision = svc.latestReadyRevision!.split('/').pop()!;
  const start = new Date(Date.now() - 1000);

  const answers = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const res = await fetch(`${svc.uri}/work`);
      return { status: res.status, text: await res.text() };
    }),
  );
  const statuses = answers.map((a) => a.status).sort();
  expect(statuses).toEqual([200, 429, 429, 429]);
  for (const a of answers.filter((x) => x.status === 429))
    expect(a.text).toContain('The request was aborted because there was no available instance.');

  const observed = await metrics.observe(
    { ...ref('busy'), revision },
    { start, end: new Date(Date.now() + 1000), alignmentSeconds: 60 },
  );
  expect(totals(observed)).toEqual({ requests: 1, latencyCount: 1 });
});
