import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ACK_DEADLINE_SECONDS,
  describeWithEmulators,
  expectNoRedelivery,
  testProjectId,
} from '../helpers/emulators';
import { startRecordingExecutions, type RecordingExecutions } from '../helpers/recording-executions';
import { hostFunction, pushEndpoint, type HostedFunction } from '../../emulators/functions-host';
import { ensurePushSubscription } from '../../emulators/pubsub-setup';
import { startSlackSink, type SlackSink } from '../../emulators/slack-sink';
import { waitFor } from '../../emulators/util';
import { createLogger } from '../../functions/shared/log';
import { configureRuntime } from '../../functions/entry/runtime';
import '../../functions/entry/intake';

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(__dirname, '../fixtures/messages', `${name}.json`), 'utf8')) as {
    data: string;
    attributes: Record<string, string>;
  };
const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const gcrInsert = (repo: string, digest: string, tag?: string) => ({
  action: 'INSERT',
  digest: `${repo}@${digest}`,
  ...(tag ? { tag: `${repo}:${tag}` } : {}),
});
const API = 'us-docker.pkg.dev/my-project/apps/api';
const CHECKOUT = 'us-docker.pkg.dev/my-project/shop/checkout';

describeWithEmulators('intake on the Pub/Sub and Firestore emulators', () => {
  const projectId = testProjectId(__filename);
  let pubsub: PubSub;
  let db: Firestore;
  let executions: RecordingExecutions;
  let fn: HostedFunction;
  let slackSink: SlackSink;
  const outcomes: Array<{ outcome: string; reason: string; messageId?: string }> = [];

  beforeAll(async () => {
    executions = await startRecordingExecutions();
    slackSink = await startSlackSink();
    Object.assign(process.env, {
      GLIDEPATH_PROJECT: projectId,
      GLIDEPATH_POLICY_FILE: join(__dirname, '../fixtures/policy.yaml'),
      GLIDEPATH_WORKFLOWS_ENDPOINT: executions.host,
      // No Monitoring here: the start message says the traffic check was skipped.
      GLIDEPATH_MONITORING_ENDPOINT: '127.0.0.1:9',
      SLACK_WEBHOOK_URL: slackSink.url,
    });
    configureRuntime({
      log: createLogger({}, (line) => {
        const entry = JSON.parse(line);
        if (entry.outcome) outcomes.push(entry);
      }),
    });
    fn = await hostFunction('intake');
    pubsub = new PubSub({ projectId });
    db = new Firestore({ projectId });
    for (const topic of ['gcr', 'cloud-builds', 'glidepath-deploy-requests']) {
      await ensurePushSubscription(pubsub, {
        topic,
        name: `${topic}-intake`,
        endpoint: pushEndpoint(fn, projectId, topic),
        // Short, so that "no redelivery" is checked over a window that a redelivery could not miss.
        ackDeadlineSeconds: ACK_DEADLINE_SECONDS,
        minimumBackoffSeconds: 0,
      });
    }
  });

  afterAll(async () => {
    await fn?.stop();
    await executions?.stop();
    await slackSink?.stop();
    await pubsub?.close();
    await db?.terminate();
  });

  const publish = (topic: string, payload: unknown, attributes: Record<string, string> = {}) =>
    pubsub.topic(topic).publishMessage({ data: Buffer.from(JSON.stringify(payload)), attributes });
  const outcomeOf = (messageId: string) =>
    waitFor(() => outcomes.find((o) => o.messageId === messageId), {
      timeoutMs: 20_000,
      what: `outcome of ${messageId}`,
    });
  const rolloutsOf = async (service: string) =>
    (await db.collection('rollouts').where('service', '==', service).get()).docs.map((d) => d.data());

  it('turns a pushed gcr event into a rollout record and one execution request with the plan', async () => {
    const digest = digestOf(1);
    const id = await publish('gcr', gcrInsert(API, digest, 'v1.0.0'));
    expect(await outcomeOf(id)).toMatchObject({ outcome: 'rollout' });
    const rollout = await waitFor(
      async () => (await rolloutsOf('api')).find((r) => r.digest === digest && r.executionName),
      { timeoutMs: 10_000, what: 'rollout record with execution' },
    );
    expect(rollout).toMatchObject({
      status: 'RUNNING',
      source: 'gcr',
      tag: 'v1.0.0',
      image: `${API}@${digest}`,
    });
    const started = executions.created.filter(
      (e) => (e.argument as { rolloutId: string }).rolloutId === rollout.id,
    );
    expect(started).toHaveLength(1);
    expect(started[0].name).toBe(rollout.executionName);
    expect(started[0].labels).toEqual({ rollout_id: rollout.id, service: 'api' });
    expect(started[0].parent).toBe(`projects/${projectId}/locations/us-central1/workflows/rollout`);
    expect(started[0].argument).toMatchObject({
      waves: [{ regions: ['us-central1'] }, { regions: ['europe-west1', 'asia-southeast1'] }],
      steps: [
        { percent: 10, bakeSeconds: 300 },
        { percent: 50, bakeSeconds: 300 },
      ],
      revisionTag: `gp-${digest.slice(7, 19)}`,
    });
    const service = (await db.doc('services/api').get()).data();
    expect(service).toMatchObject({ activeRollout: rollout.id, activeDigest: digest });
    expect(slackSink.posts.some((p) => p.text.includes(rollout.id) && p.text.includes('started'))).toBe(true);
  });

  it('starts one rollout for a duplicate delivery and the same digest from both topics', async () => {
    const digest = digestOf(2);
    const ids = await Promise.all([
      publish('gcr', gcrInsert(API, digest, 'v1.0.1')),
      publish('gcr', gcrInsert(API, digest, 'v1.0.1')),
      publish(
        'cloud-builds',
        {
          id: 'build-2',
          status: 'SUCCESS',
          results: { images: [{ name: `${API}:v1.0.1`, digest }] },
          substitutions: { COMMIT_SHA: 'abc123' },
        },
        { buildId: 'build-2', status: 'SUCCESS' },
      ),
    ]);
    const results = await Promise.all(ids.map(outcomeOf));
    expect(results.filter((r) => r.outcome === 'rollout')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'ignored')).toHaveLength(2);
    const rollouts = (await rolloutsOf('api')).filter((r) => r.digest === digest);
    expect(rollouts).toHaveLength(1);
    expect(
      executions.created.filter((e) => (e.argument as { digest: string }).digest === digest),
    ).toHaveLength(1);
  });

  it('under supersede, two concurrent images leave exactly one active rollout', async () => {
    const [a, b] = [digestOf(3), digestOf(4)];
    const ids = await Promise.all([
      publish('gcr', gcrInsert(API, a, 'v2.0.0')),
      publish('gcr', gcrInsert(API, b, 'v2.0.1')),
    ]);
    await Promise.all(ids.map(outcomeOf));
    const rollouts = (await rolloutsOf('api')).filter((r) => r.digest === a || r.digest === b);
    expect(rollouts).toHaveLength(2);
    const active = rollouts.filter((r) => r.status === 'RUNNING' || r.status === 'PENDING');
    expect(active).toHaveLength(1);
    const superseded = rollouts.find((r) => r.status === 'SUPERSEDED')!;
    expect(superseded.supersededBy).toBe(active[0].id);
    const service = (await db.doc('services/api').get()).data();
    expect(service?.activeRollout).toBe(active[0].id);
  });

  it('records a rejected message in deadLetters with its raw payload, acknowledges it, and tells Slack', async () => {
    const f = fixture('manual-foreign-image');
    const [id] = [
      await pubsub.topic('glidepath-deploy-requests').publishMessage({ data: Buffer.from(f.data, 'base64') }),
    ];
    expect(await outcomeOf(id)).toMatchObject({ outcome: 'rejected' });
    const record = await waitFor(async () => (await db.doc(`deadLetters/rejected-${id}`).get()).data(), {
      timeoutMs: 5000,
      what: 'dead letter',
    });
    expect(record).toMatchObject({
      kind: 'rejected',
      source: 'glidepath-deploy-requests',
      data: f.data,
      messageId: id,
    });
    expect(record.reason).toMatch(/security violation/);
    expect(
      slackSink.posts.some((p) => p.text.includes('Rejected') && p.text.includes('security violation')),
    ).toBe(true);
    // Acknowledged: exactly one outcome for it through the redelivery window.
    await expectNoRedelivery(`message ${id}`, () => outcomes.filter((o) => o.messageId === id).length);
  });

  it('redelivers when the workflow start fails transiently, then starts exactly once', async () => {
    executions.failNext(2);
    const digest = digestOf(5);
    const id = await publish('gcr', gcrInsert(CHECKOUT, digest, 'latest'));
    const rollout = await waitFor(
      async () => (await rolloutsOf('checkout')).find((r) => r.digest === digest && r.executionName),
      { timeoutMs: 30_000, what: 'rollout started after retries' },
    );
    expect(rollout.status).toBe('RUNNING');
    expect(
      executions.created.filter((e) => (e.argument as { digest: string }).digest === digest),
    ).toHaveLength(1);
    // The delivery that finally started it reports a rollout, not an ignore.
    expect(await outcomeOf(id)).toMatchObject({
      outcome: 'rollout',
      reason: expect.stringMatching(/^resumed /),
    });
  });
});
