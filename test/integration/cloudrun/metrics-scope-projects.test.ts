/**
 * Identify the project in every Monitoring filter (issue #13, item 11). A scoping project's
 * metrics scope takes in the series of the projects it monitors, so a query on
 * `projects/<host>` without a `resource.labels.project_id` clause also counts a staging project's
 * revision of the same service and revision name. Without the clause in the adapter's filter,
 * the canary below would be judged on 60 requests instead of its own 10.
 */
import {
  createMonitoringMetricsSource,
  type CloudMonitoringMetricsSource,
} from '../../../functions/adapters/monitoring';
import { startHarness, PROJECT, REGION, type Harness } from './helpers';

const OTHER = 'staging-project';
let h: Harness;
let metrics: CloudMonitoringMetricsSource;
const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;

const labels = (project: string) => ({
  project_id: project,
  service_name: 'shop',
  revision_name: 'shop-00002',
  location: REGION,
  configuration_name: 'shop',
});

beforeAll(async () => {
  h = await startHarness({ metricsScopes: { [PROJECT]: [OTHER] } });
  metrics = createMonitoringMetricsSource({ clientOptions: h.clientOptions });
  h.emulator.metrics.inject({ revision: labels(PROJECT), responseCode: 200, atMs: base + 5_000, count: 10 });
  h.emulator.metrics.inject({ revision: labels(OTHER), responseCode: 200, atMs: base + 5_000, count: 50 });
});
afterAll(async () => {
  await metrics.close();
  await h.close();
});

test("a revision's observations count its own project only, inside a metrics scope", async () => {
  const observed = await metrics.observe(
    { project: PROJECT, region: REGION, service: 'shop', revision: 'shop-00002' },
    { start: new Date(base), end: new Date(base + 60_000), alignmentSeconds: 60 },
  );
  const total = observed.intervals.reduce((n, i) => n + (i.requests['2xx'] ?? 0), 0);
  expect(total).toBe(10);
});
