/**
 * The intake use case (functions/usecases/intake.ts), fast: the in-memory
 * stores and a recording Workflows launcher. Every message ends started,
 * ignored or rejected; a delivery that failed to start its rollout is
 * finished by the redelivery, and only one delivery ever starts it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicyYaml } from '../../../functions/domain/policy';
import { handleIntake, type IntakeDeps } from '../../../functions/usecases/intake';
import { GlidepathError } from '../../../functions/shared/errors';
import { createLogger } from '../../../functions/shared/log';
import type { PubsubMessage } from '../../../functions/domain/messages';
import type { SlackMessage } from '../../../functions/ports';
import { InMemoryDeadLetterStore, InMemoryRolloutStore } from '../../helpers/memory-stores';

const policy = parsePolicyYaml(readFileSync(join(__dirname, '../../fixtures/policy.yaml'), 'utf8'));
const fixture = (name: string): PubsubMessage =>
  JSON.parse(readFileSync(join(__dirname, '../../fixtures/messages', `${name}.json`), 'utf8'));
const gcr = (digestChar: string, messageId: string, repository = 'apps/api'): PubsubMessage => ({
  data: Buffer.from(
    JSON.stringify({
      action: 'INSERT',
      digest: `us-docker.pkg.dev/my-project/${repository}@sha256:${digestChar.repeat(64)}`,
      tag: `us-docker.pkg.dev/my-project/${repository}:v2.0.0`,
    }),
  ).toString('base64'),
  messageId,
});

function setup() {
  let now = new Date('2026-11-30T08:00:00Z').getTime();
  const store = new InMemoryRolloutStore();
  const deadLetters = new InMemoryDeadLetterStore();
  const started: unknown[] = [];
  const slack: SlackMessage[] = [];
  /** What the next launcher.start calls do: an error to throw, or undefined to start. */
  const startFailures: Array<Error | undefined> = [];
  /** What Monitoring answers for the service's past hour, per region asked (default: 1000/min). */
  const requestsPerHour: Array<number | Error | { requests: number; firstServed: string }> = [];
  const traffic: Array<{ region: string; minutes: number }> = [];
  const deps: IntakeDeps = {
    policy,
    store,
    deadLetters,
    // The policy has no job images: nothing reaches the job rollout store.
    jobRollouts: {} as IntakeDeps['jobRollouts'],
    launcher: {
      start: async (_workflow, argument) => {
        const failure = startFailures.shift();
        if (failure) throw failure;
        started.push(argument);
        return `projects/p/locations/us-central1/workflows/rollout/executions/e${started.length}`;
      },
      cancel: async () => undefined,
      state: async () => ({ state: 'MISSING' }),
    },
    notifier: { notify: async (m) => (slack.push(m), true) },
    clock: { now: () => new Date(now) },
    log: createLogger({}, () => undefined),
    dedupTtlSeconds: 3600,
    metrics: {
      serviceRequests: async (ref, window) => {
        traffic.push({
          region: ref.region,
          minutes: (window.end.getTime() - window.start.getTime()) / 60_000,
        });
        const answer = requestsPerHour.shift() ?? 60_000;
        if (answer instanceof Error) throw answer;
        return typeof answer === 'number' ? { requests: answer } : answer;
      },
    },
    timeScale: 1,
  };
  return {
    deps,
    store,
    deadLetters,
    started,
    slack,
    startFailures,
    requestsPerHour,
    traffic,
    tick: (s: number) => void (now += s * 1000),
  };
}

describe('intake: the start message checks minRequests against the recent traffic', () => {
  const started = (t: ReturnType<typeof setup>) => t.slack.find((m) => m.text.startsWith('🚀'))!;
  const contextText = (m: { blocks: unknown[] }) => JSON.stringify(m.blocks);

  it('reads the first wave over the past hour and says when each step reaches minRequests', async () => {
    const t = setup();
    t.requestsPerHour.push(36_000); // 600/min
    await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(t.traffic).toEqual([{ region: 'us-central1', minutes: 60 }]);
    const m = started(t);
    expect(m.text).not.toMatch(/⚠️/);
    expect(contextText(m)).toContain('Recent traffic: 600 requests/min in us-central1');
    expect(contextText(m)).toContain(
      'step 1 (10%): the canary gets 60/min; minRequests 200 is in the window 10m into the step',
    );
  });

  it('takes a service younger than the hour at the rate it has served since it began, not as a quiet one', async () => {
    const t = setup();
    // Began serving 10 minutes before the window's end (now − 180 s): 6000 requests are 600/min.
    t.requestsPerHour.push({ requests: 6000, firstServed: '2026-11-30T07:47:00.000Z' });
    await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    const m = started(t);
    expect(m.text).not.toMatch(/⚠️/);
    expect(contextText(m)).toContain('Recent traffic: 600 requests/min in us-central1');
  });

  it('warns a quiet service, in the text too, with what to change', async () => {
    const t = setup();
    t.requestsPerHour.push(1200); // 20/min
    await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    const m = started(t);
    expect(m.text).toMatch(/⚠️ step 1 \(10%\) cannot reach minRequests 200 within its 3 extension\(s\)/);
    expect(contextText(m)).toContain('lower analysis.minRequests to 32');
  });

  it('starts the rollout anyway when Monitoring cannot answer, and says the check was skipped', async () => {
    const t = setup();
    t.requestsPerHour.push(new Error('PERMISSION_DENIED'));
    const result = await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(result.outcome).toBe('rollout');
    expect(t.started).toHaveLength(1);
    expect(contextText(started(t))).toContain(
      'Recent traffic unknown (PERMISSION_DENIED): minRequests not checked.',
    );
  });
});

describe('intake', () => {
  it('admits a tagged image, starts one execution with its plan and records it: RUNNING', async () => {
    const t = setup();
    const result = await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(result.outcome).toBe('rollout');
    expect(result.rollouts).toEqual([
      expect.objectContaining({ service: 'api', status: 'PENDING', admission: 'started' }),
    ]);
    const id = result.rollouts[0].id;
    expect(t.started).toEqual([
      expect.objectContaining({ rolloutId: id, service: 'api', digest: `sha256:${'a'.repeat(64)}` }),
    ]);
    expect(await t.store.getRollout(id)).toMatchObject({
      status: 'RUNNING',
      executionName: 'projects/p/locations/us-central1/workflows/rollout/executions/e1',
    });
    expect(t.slack).toHaveLength(1);
  });

  it('answers a redelivery as a duplicate and starts nothing more', async () => {
    const t = setup();
    const first = await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    t.tick(10);
    const again = await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(again.outcome).toBe('ignored');
    expect(again.rollouts).toEqual([
      expect.objectContaining({ id: first.rollouts[0].id, admission: 'duplicate' }),
    ]);
    expect(again.reason).toMatch(/^same image already admitted as rollout api-/);
    expect(t.started).toHaveLength(1);
  });

  it('a failed start throws (Pub/Sub redelivers) and the redelivery starts the admitted rollout, once', async () => {
    const t = setup();
    t.startFailures.push(new GlidepathError('unavailable', 'Workflows is unavailable'));
    await expect(handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'))).rejects.toThrow(
      'Workflows is unavailable',
    );
    expect(t.started).toEqual([]);
    t.tick(5); // the claim was released: no need to wait for it to expire
    const redelivered = await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(redelivered).toMatchObject({ outcome: 'rollout', rollouts: [{ admission: 'resumed' }] });
    expect(t.started).toHaveLength(1);
    const third = await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(third).toMatchObject({ outcome: 'ignored', rollouts: [{ admission: 'duplicate' }] });
    expect(t.started).toHaveLength(1);
  });

  it('while another delivery holds a fresh launch claim, a redelivery throws a transient conflict', async () => {
    const t = setup();
    // The admitting delivery crashed after admitting, before starting: its claim stays for 30 s.
    t.startFailures.push(new Error('process killed'));
    jest.spyOn(t.store, 'releaseLaunch').mockRejectedValueOnce(new Error('crashed'));
    await expect(handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'))).rejects.toThrow('process killed');
    t.tick(10);
    await expect(handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'))).rejects.toMatchObject({
      code: 'conflict',
      transient: true,
    });
    expect(t.started).toEqual([]);
    t.tick(30);
    expect(await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'))).toMatchObject({
      rollouts: [{ admission: 'resumed' }],
    });
    expect(t.started).toHaveLength(1);
  });

  it('a redelivery that finds the admitted rollout’s plan corrupt ends it FAILED with the field named, starting nothing', async () => {
    const t = setup();
    t.startFailures.push(new GlidepathError('unavailable', 'Workflows is unavailable'));
    await expect(handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'))).rejects.toThrow();
    const [rollout] = (await t.store.listServices()).map((s) => s.activeRollout!);
    const stored = (await t.store.getRollout(rollout))!;
    t.store.put({ ...stored, plan: { ...stored.plan, smoke: { path: '/health' } } });
    await handleIntake(t.deps, 'gcr', fixture('gcr-insert-tagged'));
    expect(t.started).toEqual([]);
    expect(await t.store.getRollout(rollout)).toMatchObject({
      status: 'FAILED',
      outcomeReason: expect.stringMatching(
        /^the stored plan of rollout api-.* is corrupt: plan\.smoke\.expectStatus/,
      ),
    });
  });

  it('supersedes the running rollout of the service with a newer image and tells Slack', async () => {
    const t = setup();
    const a = await handleIntake(t.deps, 'gcr', gcr('1', 'm-1'));
    t.tick(60);
    const b = await handleIntake(t.deps, 'gcr', gcr('2', 'm-2'));
    expect(b.rollouts).toEqual([expect.objectContaining({ admission: 'started' })]);
    expect(await t.store.getRollout(a.rollouts[0].id)).toMatchObject({
      status: 'SUPERSEDED',
      supersededBy: b.rollouts[0].id,
    });
    expect(t.started).toHaveLength(2);
    expect(t.slack.map((m) => m.text).join('\n')).toMatch(/superseded/i);
  });

  it('queues a newer image of a service under onNewImage: queue, starting nothing until the first ends', async () => {
    const t = setup();
    const a = await handleIntake(t.deps, 'gcr', gcr('1', 'm-1', 'shop/checkout'));
    const b = await handleIntake(t.deps, 'gcr', gcr('2', 'm-2', 'shop/checkout'));
    expect(b).toMatchObject({ outcome: 'rollout', rollouts: [{ service: 'checkout', admission: 'queued' }] });
    expect(t.started).toHaveLength(1);
    expect(await t.store.getService('checkout')).toMatchObject({
      activeRollout: a.rollouts[0].id,
      queue: [b.rollouts[0].id],
    });
  });

  it('records a rejected message as a dead letter (once) and starts nothing', async () => {
    const t = setup();
    const result = await handleIntake(t.deps, 'glidepath-deploy-requests', fixture('manual-foreign-image'));
    expect(result.outcome).toBe('rejected');
    expect(result.reason).toMatch(/security violation/);
    const letters = await t.deadLetters.listDeadLetters({ all: true, limit: 10 });
    expect(letters).toEqual([
      expect.objectContaining({
        id: 'rejected-m-529436595',
        kind: 'rejected',
        source: 'glidepath-deploy-requests',
        reason: result.reason,
      }),
    ]);
    await handleIntake(t.deps, 'glidepath-deploy-requests', fixture('manual-foreign-image'));
    expect(await t.deadLetters.listDeadLetters({ all: true, limit: 10 })).toHaveLength(1);
    expect(t.slack).toHaveLength(1);
    expect(t.started).toEqual([]);
  });
});
