/**
 * After a promotion the service is left as a Cloud Run user expects
 * (docs/deploy.md, "After a promotion"): traffic follows LATEST, so a later
 * manual `gcloud run deploy` takes the traffic, and the next rollout still
 * starts from whatever serves.
 */
import { join } from 'node:path';
import { ServicesClient } from '@google-cloud/run';
import { describeWithEmulators } from '../helpers/emulators';
import { simulate, digestOf } from '../../emulators/simulate';
import { startLocalCloud, LOADGEN_SA, type LocalCloud } from '../../emulators/local-cloud';
import { localClientOptions } from '../../functions/shared/endpoint';
import { toSnapshot } from '../../functions/adapters/cloudrun';

const policyFile = join(__dirname, '../fixtures/e2e/after-promotion.policy.yaml');
const SHOP = 'us-docker.pkg.dev/e2e-after/apps/shop';
const REF = { project: 'e2e-after', region: 'us-central1', service: 'shop' };
const NAME = 'projects/e2e-after/locations/us-central1/services/shop';

describeWithEmulators('after a promotion', () => {
  let cloud: LocalCloud;
  let services: ServicesClient;
  beforeAll(async () => {
    cloud = await startLocalCloud({
      projectId: 'e2e-after',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      cloudRun: { readyDelayMs: 100, simulateLatency: false },
    });
    services = new ServicesClient(localClientOptions(cloud.cloudRun.grpcHost));
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    await cloud?.stop();
  });

  const rollOut = (pushes: string[]) =>
    simulate({ policyFile, pushes, cloud, ratePerSecond: 60, rolloutTimeoutMs: 120_000 });
  const read = async () => (await services.getService({ name: NAME }))[0];
  /** Which revisions the service URL reaches, over `n` requests. */
  const served = async (n: number): Promise<Set<string>> => {
    const url = (await read()).uri!;
    // The service is private (docs/local-cloud.md): call it as the load generator, an invoker.
    const headers = { authorization: `Bearer ${cloud.idToken(LOADGEN_SA, url)}` };
    const seen = new Set<string>();
    for (let i = 0; i < n; i++)
      seen.add(((await (await fetch(`${url}/`, { headers })).json()) as { revision: string }).revision);
    return seen;
  };

  it('leaves traffic on LATEST, so a later manual deploy takes it; the next rollout starts from that', async () => {
    const { rollouts } = await rollOut([`${SHOP}:v1`, `${SHOP}:v2`]);
    expect(rollouts[0]).toMatchObject({ status: 'PROMOTED' });
    const candidate = Object.keys(rollouts[0].regions['us-central1'].traffic)[0];

    const promoted = toSnapshot(REF, await read());
    expect(promoted.latestReadyRevision).toBe(candidate);
    expect(promoted.traffic.filter((t) => t.percent > 0)).toEqual([{ type: 'LATEST', percent: 100 }]);
    expect(await served(10)).toEqual(new Set([candidate]));

    // What `gcloud run deploy --image …` does: read, clear template.revision, set the image, replace.
    const manualImage = `${SHOP}@${digestOf(`${SHOP}:hotfix`)}`;
    const current = await read();
    const [op] = await services.updateService({
      service: {
        ...current,
        template: {
          ...current.template,
          revision: '',
          containers: [{ ...current.template!.containers![0], image: manualImage }],
        },
      },
    });
    const [manual] = await op.promise();
    const manualRevision = manual.latestReadyRevision!.split('/').pop()!;
    expect(manualRevision).not.toBe(candidate);
    expect(await served(10)).toEqual(new Set([manualRevision]));

    // Cloud Run refuses a template re-sent under Glidepath's revision name with another configuration.
    const stale = await read();
    const refused = await services
      .updateService({
        service: {
          ...stale,
          template: { ...stale.template, revision: candidate, labels: { changed: 'yes' } },
        },
      })
      .then(
        () => undefined,
        (err: { code: number; details: string }) => err,
      );
    expect(refused).toMatchObject({
      code: 6,
      details: `Revision named '${candidate}' with different configuration already exists.`,
    });

    // The next rollout records the manual revision as the stable one, and promotes.
    const next = await rollOut([`${SHOP}:v3`]);
    expect(next.rollouts[0]).toMatchObject({ status: 'PROMOTED' });
    const doc = (await cloud.firestore.doc(`rollouts/${next.rollouts[0].id}`).get()).data()!;
    expect(doc.regions['us-central1'].stableRevision).toBe(manualRevision);
    expect(await served(10)).toEqual(new Set([doc.regions['us-central1'].candidateRevision]));
  }, 180_000);
});
