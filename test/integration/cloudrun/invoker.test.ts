/**
 * The front door is private by default, as Cloud Run is: a request needs an
 * ID token whose audience is the service's URL (or a custom audience), from
 * an identity holding roles/run.invoker on that service. A service with
 * `invokerIamDisabled` or an `allUsers` binding is open. Rules and sources:
 * docs/local-cloud.md, "Who may call a service".
 */
import { mintOidcToken } from '../../../functions/shared/oidc';
import { createMonitoringMetricsSource } from '../../../functions/adapters/monitoring';
import { createService, ref, serviceName, startHarness, type Harness } from './helpers';

const SECRET = 'invoker-test-secret';
const PROBER = 'glidepath-actions@test-project.iam.gserviceaccount.com';
const STRANGER = 'someone@test-project.iam.gserviceaccount.com';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ oidcSecret: SECRET });
});

afterAll(async () => h.close());

const token = (email: string, audience: string, nowMs?: number) =>
  mintOidcToken({ serviceAccount: email, audience, secret: SECRET, ...(nowMs ? { nowMs } : {}) });

async function call(url: string, bearer?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
  return { status: res.status, text: await res.text() };
}

async function grant(service: string, members: string[]): Promise<void> {
  await h.services.setIamPolicy({
    resource: serviceName(service),
    policy: { bindings: [{ role: 'roles/run.invoker', members }] },
  });
}

describe('a private service (the default)', () => {
  let url: string;
  let tagUrl: string;
  beforeAll(async () => {
    const svc = await createService(h.services, 'private', { invokerIamDisabled: false });
    url = svc.uri!;
    const revision = svc.latestReadyRevision!.split('/').pop()!;
    const [op] = await h.services.updateService({
      service: {
        ...svc,
        client: 'gcloud',
        traffic: [
          { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 },
          { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION', revision, tag: 'canary' },
        ],
      },
    });
    const [updated] = await op.promise();
    tagUrl = updated.trafficStatuses!.find((t) => t.tag === 'canary')!.uri!;
    await grant('private', [`serviceAccount:${PROBER}`]);
  });

  it('refuses a request without a token: 403, not authenticated', async () => {
    const answer = await call(url);
    expect(answer.status).toBe(403);
    expect(answer.text).toContain('The request was not authenticated.');
  });

  it('refuses a token it cannot verify: 401', async () => {
    const forged = mintOidcToken({ serviceAccount: PROBER, audience: url, secret: 'another secret' });
    const expired = token(PROBER, url, Date.now() - 2 * 3600_000);
    for (const bad of [forged, expired, 'not-a-jwt']) {
      const answer = await call(url, bad);
      expect(answer.status).toBe(401);
      expect(answer.text).toContain('The access token could not be verified');
    }
  });

  it('refuses a token for another audience, the tag URL included: 401', async () => {
    expect((await call(url, token(PROBER, 'http://127.0.0.1:1/s/us-central1/other'))).status).toBe(401);
    expect((await call(tagUrl, token(PROBER, tagUrl))).status).toBe(401);
  });

  it('refuses an identity without roles/run.invoker on the service: 403, not authorized', async () => {
    const answer = await call(url, token(STRANGER, url));
    expect(answer.status).toBe(403);
    expect(answer.text).toContain('The request was not authorized to invoke this service.');
  });

  it('serves an invoker whose token names the service URL, on the service and on its tag URL', async () => {
    expect((await call(url, token(PROBER, url))).status).toBe(200);
    expect((await call(`${tagUrl}/health`, token(PROBER, url))).status).toBe(200);
  });

  it('accepts a custom audience the service declares', async () => {
    const [svc] = await h.services.getService({ name: serviceName('private') });
    const [op] = await h.services.updateService({
      service: { ...svc, client: 'gcloud', customAudiences: ['https://shop.example.com'] },
    });
    await op.promise();
    expect((await call(url, token(PROBER, 'https://shop.example.com'))).status).toBe(200);
  });

  it('reads back the policy it was given', async () => {
    const [policy] = await h.services.getIamPolicy({ resource: serviceName('private') });
    expect(policy.bindings).toEqual([
      expect.objectContaining({ role: 'roles/run.invoker', members: [`serviceAccount:${PROBER}`] }),
    ]);
  });
});

describe('a public service', () => {
  it('is open with invokerIamDisabled', async () => {
    const svc = await createService(h.services, 'open-flag', { invokerIamDisabled: true });
    expect((await call(svc.uri!)).status).toBe(200);
  });

  it('is open with an allUsers binding, and closes again without it', async () => {
    const svc = await createService(h.services, 'open-binding', { invokerIamDisabled: false });
    expect((await call(svc.uri!)).status).toBe(403);
    await grant('open-binding', ['allUsers']);
    expect((await call(svc.uri!)).status).toBe(200);
    await grant('open-binding', []);
    expect((await call(svc.uri!)).status).toBe(403);
  });
});

it('counts no refused request in request_count: they never reach a container', async () => {
  const svc = await createService(h.services, 'uncounted', { invokerIamDisabled: false });
  const revision = svc.latestReadyRevision!.split('/').pop()!;
  await grant('uncounted', [`serviceAccount:${PROBER}`]);
  const start = new Date(Date.now() - 1000);
  const url = svc.uri!;
  const statuses = [
    (await call(url)).status,
    (await call(url, token(STRANGER, url))).status,
    (await call(url, token(PROBER, 'https://elsewhere.example.com'))).status,
    (await call(url, token(PROBER, url))).status,
  ];
  expect(statuses).toEqual([403, 403, 401, 200]);
  const metrics = createMonitoringMetricsSource({ clientOptions: h.clientOptions });
  try {
    const observed = await metrics.observe(
      { ...ref('uncounted'), revision },
      { start, end: new Date(Date.now() + 1000), alignmentSeconds: 60 },
    );
    expect(observed.intervals.map((i) => i.requests)).toEqual([{ '2xx': 1 }]);
  } finally {
    await metrics.close();
  }
});
