/**
 * The emulator rejects what the real Cloud Run Admin API v2 rejects, with the
 * same gRPC codes, through the real @google-cloud/run client.
 */
import { RevisionsClient } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import { HeldTimers } from '../../../emulators/cloudrun/timers';
import { createService, rpcError, serviceName, startHarness, PROJECT, REGION, type Harness } from './helpers';

const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const ABORTED = 10;
const INTERNAL = 13;
// The emulator requires every Service write to name its client (the stricter reading).
const CLIENT = 'emulator-fidelity';
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION' as const;

let h: Harness;
let stable: string;
/** Held while a test looks at a service mid-update: its revision cannot become Ready meanwhile. */
const timers = new HeldTimers();

beforeAll(async () => {
  h = await startHarness({ timers });
  const created = await createService(h.services, 'svc');
  stable = created.latestReadyRevision!.split('/').pop()!;
});

afterAll(() => h.close());

async function current() {
  const [svc] = await h.services.getService({ name: serviceName('svc') });
  return svc;
}

test('a new service is Ready with generation 1, a revision named <service>-00001-xyz, and URLs', async () => {
  const svc = await current();
  expect(stable).toMatch(/^svc-00001-[a-z]{3}$/);
  expect(Number(svc.generation)).toBe(1);
  expect(Number(svc.observedGeneration)).toBe(1);
  expect(svc.reconciling).toBe(false);
  expect(svc.terminalCondition).toMatchObject({ type: 'Ready', state: 'CONDITION_SUCCEEDED' });
  expect(svc.uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/s\/us-central1\/svc$/);
  expect(svc.etag).toBeTruthy();
});

test('an update is reconciling until its revision is Ready', async () => {
  const svc = await current();
  timers.hold();
  const [operation] = await h.services.updateService({
    service: {
      ...svc,
      client: CLIENT,
      template: { ...svc.template, containers: [{ image: 'us-docker.pkg.dev/test-project/apps/api:v2' }] },
    },
  });
  const during = await current();
  expect(during.reconciling).toBe(true);
  expect(Number(during.generation)).toBe(2);
  expect(during.etag).not.toBe(svc.etag);
  timers.release();
  const [done] = await operation.promise();
  expect(done.reconciling).toBe(false);
  expect(done.latestReadyRevision).toMatch(/\/revisions\/svc-00002-[a-z]{3}$/);
  stable = done.latestReadyRevision!.split('/').pop()!;
});

test('a stale etag is rejected with ABORTED', async () => {
  const svc = await current();
  const [op] = await h.services.updateService({ service: { ...svc, client: CLIENT, labels: { a: '1' } } });
  await op.promise();
  const err = await rpcError(
    h.services.updateService({ service: { ...svc, client: CLIENT, labels: { a: '2' } } }),
  );
  expect(err.code).toBe(ABORTED);
  expect(err.details).toMatch(/etag/);
});

test('percentages that do not sum to 100 are rejected with INVALID_ARGUMENT', async () => {
  const svc = await current();
  const err = await rpcError(
    h.services.updateService({
      service: { ...svc, client: CLIENT, traffic: [{ type: REVISION, revision: stable, percent: 90 }] },
    }),
  );
  expect(err).toEqual({
    code: INVALID_ARGUMENT,
    details: 'service.traffic: Traffic targets sum to 90, want 100',
  });
});

test("a traffic target naming an unknown revision fails the operation with INTERNAL and Cloud Run's message", async () => {
  const svc = await current();
  const serving = svc.latestReadyRevision!.split('/').pop()!;
  const [operation] = await h.services.updateService({
    service: {
      ...svc,
      client: CLIENT,
      traffic: [
        { type: REVISION, revision: serving, percent: 90 },
        { type: REVISION, revision: 'svc-nope', percent: 10 },
      ],
    },
  });
  const err = await rpcError(operation.promise());
  expect(err).toEqual({
    code: INTERNAL,
    details:
      "Revision 'svc-nope' does not exist or is deleted. Update all traffic to route to currently available revisions.",
  });
  const after = await current();
  expect(after.terminalCondition).toMatchObject({ type: 'Ready', state: 'CONDITION_FAILED' });
  // The routes stay as they were: the serving revision still serves everything.
  const hits = await Promise.all(
    Array.from(
      { length: 10 },
      async () => ((await (await fetch(after.uri!)).json()) as { revision: string }).revision,
    ),
  );
  expect(new Set(hits)).toEqual(new Set([serving]));
  // Traffic back to an existing revision reconciles again.
  const [fixed] = await h.services.updateService({
    service: { ...after, client: CLIENT, traffic: [{ type: REVISION, revision: serving, percent: 100 }] },
  });
  await fixed.promise();
  expect((await current()).terminalCondition).toMatchObject({ state: 'CONDITION_SUCCEEDED' });
});

test("a traffic tag and service name longer than 46 characters together are rejected with Cloud Run's wording", async () => {
  const svc = await current();
  const serving = svc.latestReadyRevision!.split('/').pop()!;
  const tag = 't'.repeat(44); // 44 + "svc" = 47
  const err = await rpcError(
    h.services.updateService({
      service: {
        ...svc,
        client: CLIENT,
        traffic: [{ type: REVISION, revision: serving, percent: 100, tag }],
      },
    }),
  );
  expect(err).toEqual({
    code: INVALID_ARGUMENT,
    details: `service.traffic[0].tag: traffic tag '${tag}' and service name 'svc' together are too long. Combined traffic tag and service name cannot exceed 46 characters.`,
  });
  // 43 + 3 = 46 fits.
  const [op] = await h.services.updateService({
    service: {
      ...svc,
      client: CLIENT,
      traffic: [{ type: REVISION, revision: serving, percent: 100, tag: 't'.repeat(43) }],
    },
  });
  await op.promise();
});

test('a duplicate tag is rejected', async () => {
  const svc = await current();
  const err = await rpcError(
    h.services.updateService({
      service: {
        ...svc,
        client: CLIENT,
        traffic: [
          { type: REVISION, revision: stable, percent: 100, tag: 'blue' },
          { type: REVISION, revision: stable, percent: 0, tag: 'blue' },
        ],
      },
    }),
  );
  expect(err.code).toBe(INVALID_ARGUMENT);
  expect(err.details).toMatch(/service\.traffic\[1\]\.tag: Multiple definitions for "blue"/);
});

test('an explicit revision name must start with the service name and be unique per configuration', async () => {
  const svc = await current();
  const withTemplate = (revision: string, image: string) => ({
    service: { ...svc, client: CLIENT, template: { ...svc.template, revision, containers: [{ image }] } },
  });
  const badPrefix = await rpcError(
    h.services.updateService(withTemplate('other-v3', 'us-docker.pkg.dev/test-project/apps/api:v3')),
  );
  expect(badPrefix.code).toBe(INVALID_ARGUMENT);
  expect(badPrefix.details).toMatch(/"other-v3" must have prefix "svc-"/);

  const [op] = await h.services.updateService(
    withTemplate('svc-v3', 'us-docker.pkg.dev/test-project/apps/api:v3'),
  );
  await op.promise();
  const again = await current();
  const duplicate = await rpcError(
    h.services.updateService({
      service: {
        ...again,
        client: CLIENT,
        template: {
          ...again.template,
          revision: 'svc-v3',
          containers: [{ image: 'us-docker.pkg.dev/test-project/apps/api:v4' }],
        },
      },
    }),
  );
  expect(duplicate.code).toBe(ALREADY_EXISTS);
  expect(duplicate.details).toBe("Revision named 'svc-v3' with different configuration already exists.");
});

test('NOT_FOUND for a missing service and revision, with the real message', async () => {
  const err = await rpcError(h.services.getService({ name: serviceName('missing') }));
  expect(err).toEqual({
    code: NOT_FOUND,
    details: `Resource 'missing' of kind 'SERVICE' in region '${REGION}' in project '${PROJECT}' does not exist.`,
  });
  const revisions = new RevisionsClient(h.clientOptions as ClientOptions);
  const revErr = await rpcError(revisions.getRevision({ name: `${serviceName('svc')}/revisions/svc-nope` }));
  await revisions.close();
  expect(revErr.code).toBe(NOT_FOUND);
  const update = await rpcError(
    h.services.updateService({
      service: {
        client: CLIENT,
        name: serviceName('missing'),
        template: { containers: [{ image: 'x.io/a/b' }] },
      },
    }),
  );
  expect(update.code).toBe(NOT_FOUND);
});

test('allow_missing creates the service on update', async () => {
  const [op] = await h.services.updateService({
    allowMissing: true,
    service: {
      client: CLIENT,
      name: serviceName('created-by-update'),
      template: { containers: [{ image: 'us-docker.pkg.dev/test-project/apps/api:v1' }] },
    },
  });
  const [svc] = await op.promise();
  expect(svc.latestReadyRevision).toMatch(/created-by-update-00001-/);
});

test('a write that does not name its client is refused (the stricter reading)', async () => {
  const svc = await current();
  const err = await rpcError(
    h.services.updateService({ service: { ...svc, client: '', labels: { c: '1' } } }),
  );
  expect(err.code).toBe(INVALID_ARGUMENT);
  expect(err.details).toMatch(/^service\.client: expected the name of the API client/);
});

test('a malformed name is rejected naming the field and the expected form', async () => {
  const err = await rpcError(h.services.getService({ name: 'projects/p/services/x' }));
  expect(err.code).toBe(INVALID_ARGUMENT);
  expect(err.details).toMatch(
    /^name: "projects\/p\/services\/x" is not valid; expected projects\/<project>\/locations\/<location>\/services\/<service>$/,
  );
});

test('listing revisions returns the newest first', async () => {
  const revisions = new RevisionsClient(h.clientOptions as ClientOptions);
  const [list] = await revisions.listRevisions({ parent: serviceName('svc') });
  await revisions.close();
  expect(list.map((r) => r.name!.split('/').pop())).toEqual([
    'svc-v3',
    stable,
    expect.stringMatching(/^svc-00001-/),
  ]);
});
