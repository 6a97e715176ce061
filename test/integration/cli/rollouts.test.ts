/**
 * The rollout commands against Google's Firestore and Pub/Sub emulators:
 * seeded, valid RolloutRecord/ServiceRecord documents, the CLI spawned as
 * an operator runs it (scripts/glidepath.js), its output checked.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Firestore } from '@google-cloud/firestore';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';
import { waitFor } from '../../../emulators/util';
import { RolloutRecord, ServiceRecord } from '../../../functions/domain/records';

const run = promisify(execFile);
const ROOT = join(__dirname, '../../..');
const CLI = join(ROOT, 'scripts/glidepath.js');
const POLICY = join(ROOT, 'test/fixtures/policy.yaml');
const API = 'us-docker.pkg.dev/my-project/apps/api';
const T0 = Date.now() - 2 * 86_400_000;
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
const digest = (c: string): string => `sha256:${c.repeat(64)}`;

function rollout(
  id: string,
  status: RolloutRecord['status'],
  created: number,
  extra: Partial<RolloutRecord> = {},
): RolloutRecord {
  const d = digest(id.slice(-1));
  return RolloutRecord.parse({
    id,
    service: 'api',
    project: 'my-project',
    image: `${API}@${d}`,
    digest: d,
    source: 'gcr',
    status,
    plan: { rolloutId: id, service: 'api' },
    createdAt: at(created),
    updatedAt: at(created),
    ...extra,
  });
}

const ROLLOUTS = [
  rollout('api-a', 'PROMOTED', 0, {
    endedAt: at(30),
    outcomeReason: 'promoted in every region',
    regions: { 'us-central1': { status: 'PROMOTED', traffic: { 'api-gp-aaaa': 100 }, steps: [] } },
  }),
  rollout('api-b', 'ROLLED_BACK', 60, {
    endedAt: at(75),
    outcomeReason: 'us-central1: error rate 20% over 1%',
    regions: {
      'us-central1': {
        status: 'ROLLED_BACK',
        traffic: { 'api-gp-aaaa': 100 },
        updatedAt: at(75),
        steps: [
          {
            index: 0,
            percent: 10,
            verdict: 'FAIL',
            reasons: ['error rate 20% over 1%'],
            extensions: 0,
            judgedAt: at(70),
          },
        ],
      },
    },
  }),
  rollout('api-c', 'SUPERSEDED', 120, { endedAt: at(121), outcomeReason: 'superseded by api-d' }),
  rollout('api-d', 'RUNNING', 130, {
    executionName: 'projects/p/locations/us-central1/workflows/rollout/executions/x1',
    regions: {
      'us-central1': {
        status: 'SHIFTING',
        stableRevision: 'api-gp-aaaa',
        candidateRevision: 'api-gp-dddd',
        traffic: { 'api-gp-aaaa': 90, 'api-gp-dddd': 10 },
        steps: [
          { index: 0, percent: 10, verdict: 'PASS', reasons: ['error rate 0.1% within 1%'], extensions: 0 },
          { index: 1, percent: 50, reasons: [], extensions: 0 },
        ],
      },
    },
  }),
];

const SERVICE = ServiceRecord.parse({
  name: 'api',
  activeRollout: 'api-d',
  activeDigest: digest('d'),
  lastGood: { 'us-central1': 'api-gp-aaaa', 'europe-west1': 'api-gp-aaaa' },
  lastFailedDigest: digest('b'),
  updatedAt: at(130),
});

describeWithEmulators('glidepath status, history, redeploy, abort on the emulators', () => {
  const projectId = testProjectId(__filename);
  const env = { ...process.env, GLIDEPATH_PROJECT: projectId, USER: 'cli-test' };
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, ...args], { env, cwd: ROOT, timeout: 30_000 });
  let db: Firestore;
  let pubsub: PubSub;

  beforeAll(async () => {
    db = new Firestore({ projectId, ignoreUndefinedProperties: true });
    pubsub = new PubSub({ projectId });
    for (const r of ROLLOUTS) await db.collection('rollouts').doc(r.id).set(r);
    await db.collection('services').doc('api').set(SERVICE);
    // A service whose lease the abort test releases.
    await db
      .collection('rollouts')
      .doc('worker-e')
      .set({ ...rollout('worker-e', 'RUNNING', 140), service: 'worker' });
    await db
      .collection('services')
      .doc('worker')
      .set(ServiceRecord.parse({ name: 'worker', activeRollout: 'worker-e', updatedAt: at(140) }));
  });

  afterAll(async () => {
    await Promise.all([db?.terminate(), pubsub?.close()]);
  });

  it('status ROLLOUT prints regions, traffic and step verdicts', async () => {
    const { stdout } = await cli('status', 'api-d');
    expect(stdout).toContain('rollout api-d  RUNNING');
    expect(stdout).toContain(`${API}@${digest('d')}`);
    expect(stdout).toMatch(/us-central1\s+SHIFTING\s+api-gp-aaaa 90%, api-gp-dddd 10%/);
    expect(stdout).toContain('step 0 10%  PASS: error rate 0.1% within 1%');
    expect(stdout).toContain('step 1 50%  pending');
  });

  it('status SERVICE --json gives the lease, last good revisions and the active rollout', async () => {
    const { stdout } = await cli('status', 'api', '--json');
    const out = JSON.parse(stdout);
    expect(out.service).toMatchObject({ name: 'api', activeRollout: 'api-d', lastGood: SERVICE.lastGood });
    expect(out.rollout.id).toBe('api-d');
    expect(out.rollout.regions['us-central1'].traffic).toEqual({ 'api-gp-aaaa': 90, 'api-gp-dddd': 10 });
    expect(out.rollout.regions['us-central1'].steps[0]).toMatchObject({
      verdict: 'PASS',
      reasons: ['error rate 0.1% within 1%'],
    });
  });

  it('status with no argument lists the active rollouts; an unknown target is a usage error', async () => {
    const { stdout } = await cli('status', '--json');
    expect(
      JSON.parse(stdout)
        .rollouts.map((r: { id: string }) => r.id)
        .sort(),
    ).toEqual(['api-d', 'worker-e']);
    await expect(cli('status', 'nothing-here')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('nothing-here'),
    });
  });

  it('history --json lists rollouts newest first with DORA figures', async () => {
    const { stdout } = await cli('history', 'api', '--json');
    const out = JSON.parse(stdout);
    expect(out.rollouts.map((r: { id: string }) => r.id)).toEqual(['api-d', 'api-c', 'api-b', 'api-a']);
    expect(out.rollouts[3]).toMatchObject({
      digest: 'aaaaaaaaaaaa',
      source: 'gcr',
      status: 'PROMOTED',
      seconds: 1800,
    });
    expect(out.dora.deploymentFrequency.promoted).toBe(1);
    expect(out.dora.changeFailureRate).toEqual({ failed: 1, finished: 2, rate: 0.5, excluded: 1 });
    expect(out.dora.leadTime.medianSeconds).toBe(1800);
    expect(out.dora.timeToRestore.medianSeconds).toBe(300);

    const limited = JSON.parse((await cli('history', 'api', '--json', '--limit', '2')).stdout);
    expect(limited.rollouts.map((r: { id: string }) => r.id)).toEqual(['api-d', 'api-c']);

    const text = (await cli('history', 'api')).stdout;
    expect(text).toContain('change failure rate: 50%');
  });

  it('redeploy publishes the deploy request and prints the message id', async () => {
    const [topic] = await pubsub.topic('glidepath-deploy-requests').get({ autoCreate: true });
    const [sub] = await topic.subscription('cli-test-deploy-requests').get({ autoCreate: true });
    const received = new Promise<Message>((resolve) =>
      sub.once('message', (m: Message) => (m.ack(), resolve(m))),
    );
    try {
      const { stdout } = await cli(
        'redeploy',
        '--service',
        'api',
        '--image',
        `${API}@${digest('a')}`,
        '--reason',
        'roll back to a',
        '--regions',
        'us-central1',
        '--config',
        POLICY,
        '--json',
      );
      const out = JSON.parse(stdout);
      const message = await received;
      expect(message.id).toBe(out.messageId);
      expect(JSON.parse(message.data.toString('utf8'))).toEqual({
        service: 'api',
        image: `${API}@${digest('a')}`,
        reason: 'roll back to a',
        requestedBy: 'cli-test',
        regions: ['us-central1'],
      });
    } finally {
      await sub.close();
    }
  });

  it('redeploy of a foreign image is refused before anything is published', async () => {
    const [topic] = await pubsub.topic('glidepath-deploy-requests').get({ autoCreate: true });
    const [sub] = await topic.subscription('cli-test-refused-redeploy').get({ autoCreate: true });
    // Everything the topic receives from here on, up to a sentinel the test publishes once the CLI has
    // exited, pulled through the emulator's REST API: a pull returns every message available, in order.
    const pullUntilSentinel = async (): Promise<string[]> => {
      const seen: string[] = [];
      const url = `http://${process.env.PUBSUB_EMULATOR_HOST}/v1/${sub.name}:pull`;
      await waitFor(
        async () => {
          const answer = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ maxMessages: 100, returnImmediately: true }),
          });
          const body = (await answer.json()) as { receivedMessages?: Array<{ message: { data: string } }> };
          seen.push(
            ...(body.receivedMessages ?? []).map((r) => Buffer.from(r.message.data, 'base64').toString()),
          );
          return seen.includes('sentinel');
        },
        { timeoutMs: 10_000, what: 'the sentinel' },
      );
      return seen;
    };
    try {
      await expect(
        cli(
          'redeploy',
          '--service',
          'api',
          '--image',
          `docker.io/evil/api@${digest('e')}`,
          '--reason',
          'x',
          '--config',
          POLICY,
        ),
      ).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('security violation') });
      await topic.publishMessage({ data: Buffer.from('sentinel') });
      expect(await pullUntilSentinel()).toEqual(['sentinel']);
    } finally {
      await sub.delete();
    }
  });

  it('abort ends the rollout ABORTED and frees the lease', async () => {
    const { stdout } = await cli('abort', 'worker-e', '--by', 'ana', '--config', POLICY, '--json');
    expect(JSON.parse(stdout)).toMatchObject({
      id: 'worker-e',
      status: 'ABORTED',
      outcomeReason: 'aborted by ana',
    });
    const service = ServiceRecord.parse((await db.collection('services').doc('worker').get()).data());
    expect(service.activeRollout).toBeNull();
  });
});
