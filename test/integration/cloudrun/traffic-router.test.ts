/**
 * Contract tests of the Cloud Run TrafficRouter adapter against the emulator,
 * through the real @google-cloud/run clients.
 */
import {
  createCloudRunTrafficRouter,
  type CloudRunTrafficRouter,
} from '../../../functions/adapters/cloudrun';
import { GlidepathError } from '../../../functions/shared/errors';
import type { ServiceSnapshot, TrafficTarget } from '../../../functions/ports';
import { buildPlan, rolloutId } from '../../../functions/domain/plan';
import { parsePolicy } from '../../../functions/domain/policy';
import { withCandidateAtZero } from '../../../functions/domain/traffic';
import { createService, ref, serviceName, startHarness, PROJECT, REGION, type Harness } from './helpers';

const REPO = 'us-docker.pkg.dev/test-project/apps/api';

let h: Harness;
let router: CloudRunTrafficRouter;

beforeAll(async () => {
  h = await startHarness();
  router = createCloudRunTrafficRouter({ clientOptions: h.clientOptions });
});

afterAll(async () => {
  await router.close();
  await h.close();
});

/** The plan a rollout uses at deploy: pin the current split, add the candidate's tag at 0%. */
const pinAndTag =
  (candidate: string, tag: string) =>
  (current: ServiceSnapshot): TrafficTarget[] => [
    ...current.traffic.map((t) =>
      t.type === 'LATEST' ? { ...t, type: 'REVISION' as const, revision: current.latestReadyRevision } : t,
    ),
    { type: 'REVISION', revision: candidate, percent: 0, tag },
  ];

const split =
  (stable: string, candidate: string | undefined, candidatePercent: number) =>
  (current: ServiceSnapshot): TrafficTarget[] => {
    // Keep every tag; move the percentages only.
    const kept = current.traffic.map((t) => ({ ...t, percent: 0 }));
    const set = (revision: string, percent: number): void => {
      const untagged = kept.find((t) => t.revision === revision && !t.tag);
      if (untagged) untagged.percent = percent;
      else kept.push({ type: 'REVISION', revision, percent });
    };
    set(stable, 100 - candidatePercent);
    if (candidate && candidatePercent > 0) set(candidate, candidatePercent);
    return kept.filter((t) => t.percent > 0 || t.tag);
  };

async function revisionsHit(url: string, n: number): Promise<Record<string, number>> {
  const hits: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const body = (await (await fetch(url)).json()) as { revision: string };
    hits[body.revision] = (hits[body.revision] ?? 0) + 1;
  }
  return hits;
}

test('getService returns undefined for a service that does not exist', async () => {
  expect(await router.getService(ref('nope'))).toBeUndefined();
});

test('deploy at 0% with a tag, shift, roll back: the split is exact and the user tag and other fields survive', async () => {
  await createService(h.services, 'api', {
    labels: { team: 'payments' },
    description: 'the API',
    template: {
      containers: [
        { image: 'us-docker.pkg.dev/test-project/apps/api:v1', env: [{ name: 'MODE', value: 'prod' }] },
      ],
    },
  });
  const initial = (await router.getService(ref('api')))!;
  const stable = initial.latestReadyRevision!;
  expect(stable).toMatch(/^api-00001-[a-z]{3}$/);
  // The user's own tag on the stable revision.
  const tagged = await router.setTraffic(
    ref('api'),
    () => [
      { type: 'REVISION', revision: stable, percent: 100 },
      { type: 'REVISION', revision: stable, percent: 0, tag: 'docs' },
    ],
    { timeoutMs: 5000 },
  );
  expect(tagged.tagUrls.docs).toMatch(/\/t\/us-central1\/api\/docs$/);

  const candidate = 'api-gp-0123456789ab';
  const deployed = await router.deployRevision(ref('api'), {
    image: 'us-docker.pkg.dev/test-project/apps/api@sha256:' + 'a'.repeat(64),
    revisionName: candidate,
    plan: pinAndTag(candidate, 'gp-0123456789ab'),
    timeoutMs: 5000,
  });
  expect(deployed.latestCreatedRevision).toBe(candidate);
  expect(deployed.latestReadyRevision).toBe(candidate);
  expect(deployed.traffic).toEqual([
    { type: 'REVISION', revision: stable, percent: 100 },
    { type: 'REVISION', revision: stable, percent: 0, tag: 'docs' },
    { type: 'REVISION', revision: candidate, percent: 0, tag: 'gp-0123456789ab' },
  ]);
  // The candidate answers on its tag URL, health path included; the service URL still reaches only the stable.
  const health = await fetch(`${deployed.tagUrls['gp-0123456789ab']}/health`);
  expect(health.status).toBe(200);
  expect(((await health.json()) as { revision: string }).revision).toBe(candidate);
  expect(await revisionsHit(deployed.url!, 20)).toEqual({ [stable]: 20 });

  const shifted = await router.setTraffic(ref('api'), split(stable, candidate, 50), { timeoutMs: 5000 });
  expect(shifted.traffic.filter((t) => t.percent > 0)).toEqual([
    { type: 'REVISION', revision: stable, percent: 50 },
    { type: 'REVISION', revision: candidate, percent: 50 },
  ]);
  const hits = await revisionsHit(shifted.url!, 200);
  expect(hits[stable] + hits[candidate]).toBe(200);
  expect(hits[candidate]).toBeGreaterThan(60); // 50% of 200, far outside chance of failing
  expect(hits[stable]).toBeGreaterThan(60);

  const rolledBack = await router.setTraffic(ref('api'), split(stable, undefined, 0), { timeoutMs: 5000 });
  expect(rolledBack.traffic.filter((t) => t.percent > 0)).toEqual([
    { type: 'REVISION', revision: stable, percent: 100 },
  ]);
  expect(rolledBack.traffic.find((t) => t.tag === 'docs')).toEqual({
    type: 'REVISION',
    revision: stable,
    percent: 0,
    tag: 'docs',
  });
  expect(await revisionsHit(rolledBack.url!, 30)).toEqual({ [stable]: 30 });

  // Fields Glidepath does not manage were sent back untouched.
  const [svc] = await h.services.getService({ name: serviceName('api') });
  expect(svc.labels).toEqual({ team: 'payments' });
  expect(svc.description).toBe('the API');
  expect(svc.template?.containers?.[0]?.env).toEqual([
    expect.objectContaining({ name: 'MODE', value: 'prod' }),
  ]);
});

test('an etag conflict between read and write is retried on a fresh read, keeping the concurrent change', async () => {
  await createService(h.services, 'conflict');
  const stable = (await router.getService(ref('conflict')))!.latestReadyRevision!;
  const seenEtags: string[] = [];
  const result = await router.setTraffic(
    ref('conflict'),
    (current) => {
      seenEtags.push(current.etag);
      // Someone else updates the service after our read and before our write.
      if (seenEtags.length === 1)
        h.emulator.modifyService(
          serviceName('conflict'),
          (spec) => (spec.labels = { owner: 'someone-else' }),
        );
      return [
        { type: 'REVISION', revision: stable, percent: 100 },
        { type: 'REVISION', revision: stable, percent: 0, tag: 'pinned' },
      ];
    },
    { timeoutMs: 5000 },
  );
  // Retried on a fresh read. The other client's change is reconciled a moment later (readyDelayMs),
  // which changes the etag once more: when that lands between the retry's read and write (a loaded
  // machine), a third read is right too.
  expect(seenEtags.length).toBeGreaterThanOrEqual(2);
  expect(seenEtags.length).toBeLessThanOrEqual(3);
  expect(new Set(seenEtags).size).toBe(seenEtags.length);
  expect(result.tagUrls.pinned).toBeDefined();
  const [svc] = await h.services.getService({ name: serviceName('conflict') });
  expect(svc.labels).toEqual({ owner: 'someone-else' });
});

test('conflicts beyond the retry budget surface as a conflict error', async () => {
  await createService(h.services, 'contended');
  const stubborn = createCloudRunTrafficRouter({ clientOptions: h.clientOptions, maxConflictRetries: 2 });
  let calls = 0;
  const err = await stubborn
    .setTraffic(
      ref('contended'),
      (current) => {
        calls++;
        h.emulator.modifyService(serviceName('contended'), (spec) => (spec.labels = { n: String(calls) }));
        return current.traffic;
      },
      { timeoutMs: 5000 },
    )
    .catch((e: unknown) => e);
  await stubborn.close();
  expect(err).toBeInstanceOf(GlidepathError);
  expect((err as GlidepathError).code).toBe('conflict');
  expect(calls).toBe(3);
});

test('an operation that never finishes surfaces as a deadline error', async () => {
  await createService(h.services, 'stall');
  h.emulator.setProfile('us-docker.pkg.dev/test-project/apps/slow:v2', { coldStartMs: 600_000 });
  // No wall-clock bound: the operation never finishes, so without the deadline this test would hang.
  const err = await router
    .deployRevision(ref('stall'), {
      image: 'us-docker.pkg.dev/test-project/apps/slow:v2',
      revisionName: 'stall-slow',
      plan: pinAndTag('stall-slow', 'gp-slow'),
      timeoutMs: 400,
    })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GlidepathError);
  expect((err as GlidepathError).code).toBe('deadline');
  expect((err as GlidepathError).message).toMatch(/did not finish within 400 ms/);
  expect((await router.getRevision(ref('stall'), 'stall-slow'))?.ready).toBe('unknown');
});

test('a revision whose container fails to start never becomes Ready, and the stable keeps serving', async () => {
  const created = await createService(h.services, 'broken');
  const stable = created.latestReadyRevision!.split('/').pop()!;
  h.emulator.setProfile('us-docker.pkg.dev/test-project/apps/broken', { startupFailure: true, errorRate: 0 });
  const err = await router
    .deployRevision(ref('broken'), {
      image: 'us-docker.pkg.dev/test-project/apps/broken:v2',
      revisionName: 'broken-v2',
      plan: pinAndTag('broken-v2', 'gp-v2'),
      timeoutMs: 5000,
    })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GlidepathError);
  // Cloud Run ends the operation with code 13 (INTERNAL); an operation that finished with an
  // error is final, so the deploy must not be retried.
  expect((err as GlidepathError).code).toBe('failed');
  expect((err as GlidepathError).transient).toBe(false);
  expect((err as GlidepathError).message).toMatch(
    /Revision 'broken-v2' is not ready and cannot serve traffic\. The user-provided container failed to start/,
  );
  const revision = await router.getRevision(ref('broken'), 'broken-v2');
  expect(revision).toMatchObject({
    name: 'broken-v2',
    ready: 'false',
    image: 'us-docker.pkg.dev/test-project/apps/broken:v2',
  });
  expect(revision?.reason).toMatch(/failed to start/);
  const snapshot = (await router.getService(ref('broken')))!;
  expect(snapshot.latestReadyRevision).toBe(stable);
  expect(snapshot.latestCreatedRevision).toBe('broken-v2');
  expect(await revisionsHit(snapshot.url!, 10)).toEqual({ [stable]: 10 });
  // A later traffic change is still allowed and the failed revision stays failed.
  await router.setTraffic(ref('broken'), () => [{ type: 'REVISION', revision: stable, percent: 100 }], {
    timeoutMs: 5000,
  });
  expect((await router.getRevision(ref('broken'), 'broken-v2'))?.ready).toBe('false');
});

test("the candidate tag of a long service name fits Cloud Run's 46 characters for tag and name", async () => {
  // 35 characters: `gp-` and 12 hex of the digest (15) would make 50.
  const service = `long-${'n'.repeat(30)}`;
  await createService(h.services, service);
  const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
  const request = {
    service: {
      ...parsePolicy({ services: [{ name: service, project: PROJECT, image: REPO, waves: [[REGION]] }] })
        .services[0],
    },
    repository: REPO,
    digest,
    source: 'gcr' as const,
  };
  const plan = buildPlan(request, rolloutId(service, digest, new Date()));
  const candidate = `${service}-cand`;
  const deployed = await router.deployRevision(ref(service), {
    image: plan.image,
    revisionName: candidate,
    plan: (current) => withCandidateAtZero(current, candidate, plan.revisionTag),
    timeoutMs: 5000,
  });
  expect(plan.revisionTag).toBe('gp-01234567');
  expect(deployed.tagUrls[plan.revisionTag]).toMatch(new RegExp(`/t/${REGION}/${service}/gp-01234567$`));
  // Another digest gets another tag.
  const other = buildPlan({ ...request, digest: `sha256:${'fedcba9876543210'.repeat(4)}` }, 'x');
  expect(other.revisionTag).toBe('gp-fedcba98');
});

test('a service with a sidecar: the new image goes into the ingress container (the one with ports)', async () => {
  const sidecar = { name: 'proxy', image: 'us-docker.pkg.dev/test-project/infra/envoy:1' };
  const app = { name: 'app', image: `${REPO}:v1`, ports: [{ containerPort: 8080 }] };
  await createService(h.services, 'sidecar', { template: { containers: [sidecar, app] } });
  const image = `${REPO}@sha256:${'c'.repeat(64)}`;
  const deployed = await router.deployRevision(ref('sidecar'), {
    image,
    revisionName: 'sidecar-v2',
    plan: pinAndTag('sidecar-v2', 'gp-v2'),
    timeoutMs: 5000,
  });
  expect(deployed.image).toBe(image);
  const [svc] = await h.services.getService({ name: serviceName('sidecar') });
  // Every write names Glidepath (Service.client, client_version).
  expect([svc.client, svc.clientVersion]).toEqual(['glidepath', '0.1.0']);
  expect(svc.template!.containers!.map((c) => [c.name, c.image])).toEqual([
    ['proxy', sidecar.image],
    ['app', image],
  ]);
  expect(await router.getRevision(ref('sidecar'), 'sidecar-v2')).toMatchObject({ image, ready: 'true' });
});

test('the emulator refuses several containers unless exactly one declares ports', async () => {
  const containers = [
    { name: 'a', image: `${REPO}:v1` },
    { name: 'b', image: 'us-docker.pkg.dev/test-project/infra/envoy:1' },
  ];
  const err = await h.services
    .createService({
      parent: `projects/${PROJECT}/locations/${REGION}`,
      serviceId: 'noports',
      service: { template: { containers } },
    })
    .catch((e: { code: number; details: string }) => e);
  expect(err).toMatchObject({
    code: 3,
    details:
      'template.containers: Revision template should contain exactly one container with an exposed port.',
  });
});

test('getRevision reports a Ready revision and undefined for an unknown one', async () => {
  const snapshot = (await router.getService(ref('api')))!;
  expect(await router.getRevision(ref('api'), snapshot.latestReadyRevision!)).toMatchObject({
    ready: 'true',
  });
  expect(await router.getRevision(ref('api'), 'api-nope')).toBeUndefined();
});

test('a fence checked after every read stops a writer that lost its lease while another wrote', async () => {
  await createService(h.services, 'fenced');
  const stable = (await router.getService(ref('fenced')))!.latestReadyRevision!;
  let leaseHeld = true;
  let fenceChecks = 0;
  const attempt = router.setTraffic(
    ref('fenced'),
    (current) => {
      // Between our read and our write, a newer rollout takes the service over.
      if (leaseHeld) {
        leaseHeld = false;
        h.emulator.modifyService(serviceName('fenced'), (spec) => (spec.labels = { owner: 'newer-rollout' }));
      }
      return [...current.traffic, { type: 'REVISION', revision: stable, percent: 0, tag: 'stale-writer' }];
    },
    {
      timeoutMs: 5000,
      fence: async () => {
        fenceChecks++;
        if (!leaseHeld) throw new Error('lease lost');
      },
    },
  );
  // The stale write failed on its etag; the retry re-read and met the fence.
  await expect(attempt).rejects.toThrow('lease lost');
  expect(fenceChecks).toBe(2);
  const [svc] = await h.services.getService({ name: serviceName('fenced') });
  expect(svc.labels).toEqual({ owner: 'newer-rollout' });
  expect((svc.traffic ?? []).map((t) => t.tag)).not.toContain('stale-writer');
});
