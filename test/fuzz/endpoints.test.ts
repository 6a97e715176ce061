/**
 * Hostile requests through the real hosted functions (issue #9 part 4), on
 * Google's Pub/Sub and Firestore emulators: the `actions` endpoint with a
 * valid OIDC token, and raw Pub/Sub pushes to `intake` and `jobTrigger`.
 *
 * Every answer is a clear rejection: a 4xx naming the field (actions), or an
 * acknowledged push whose rejection is recorded once in `deadLetters` with its
 * raw payload (intake, job trigger). Nothing is ever half-written: no rollout,
 * service lease, job run or workflow execution comes out of any of it.
 */
import { Firestore } from '@google-cloud/firestore';
import fc from 'fast-check';
import { join } from 'node:path';
import { describeWithEmulators, testProjectId } from '../helpers/emulators';
import { startRecordingExecutions, type RecordingExecutions } from '../helpers/recording-executions';
import { hostFunction, pushEndpoint, type HostedFunction } from '../../emulators/functions-host';
import { startSlackSink, type SlackSink } from '../../emulators/slack-sink';
import { waitFor } from '../../emulators/util';
import { ACTIONS } from '../../functions/actions';
import { TOPICS } from '../../functions/domain/messages';
import { configureRuntime } from '../../functions/entry/runtime';
import { createLogger } from '../../functions/shared/log';
import { mintOidcToken } from '../../functions/shared/oidc';
import {
  ACTION_SAMPLES,
  FIELD_PATH,
  POLICY,
  digest,
  hostileAttributes,
  hostileBody,
  hostileData,
  hostileString,
  lookAlikes,
  mutatedPayload,
  mutationMayStart,
  namesAField,
} from './hostile';
import '../../functions/entry/actions';
import '../../functions/entry/intake';
import '../../functions/entry/job-trigger';

const SA = 'glidepath-workflows@fuzz.iam.gserviceaccount.com';
const OIDC_SECRET = 'fuzz-endpoints-secret';
/** No single request may take longer than this: a hang fails the test. */
const REQUEST_BUDGET_MS = 10_000;
const PARALLEL = 8;
const SEED = Number(process.env.FUZZ_SEED) || 4242;
const b64 = (text: string) => Buffer.from(text).toString('base64');
/** An error line that names the field: `invalid deploy body: rolloutId: expected …`. */
const NAMES_A_FIELD = new RegExp(String.raw`^invalid [a-z_]+ body: ${FIELD_PATH}: `);

interface Answer {
  status: number;
  body: string;
  ms: number;
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_BUDGET_MS) });
  return { status: res.status, body: await res.text(), ms: Date.now() - started };
}

/** Runs `tasks` with at most PARALLEL in flight. */
async function inParallel<T>(tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]();
      }
    }),
  );
  return results;
}

/** A string as a URL path segment (a lone surrogate cannot be percent-encoded: it goes as U+FFFD). */
function pathSegment(s: string): string {
  return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd')) || 'empty';
}

const sample = <T>(arb: fc.Arbitrary<T>, numRuns: number, salt: number) =>
  fc.sample(arb, { numRuns, seed: SEED + salt });

describeWithEmulators('hostile requests through the hosted functions', () => {
  const projectId = testProjectId(__filename);
  let executions: RecordingExecutions;
  let slack: SlackSink;
  let db: Firestore;
  const fns: Record<string, HostedFunction> = {};
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    executions = await startRecordingExecutions();
    slack = await startSlackSink();
    Object.assign(process.env, {
      GLIDEPATH_PROJECT: projectId,
      GLIDEPATH_POLICY_FILE: join(__dirname, '../fixtures/policy.yaml'),
      GLIDEPATH_WORKFLOWS_ENDPOINT: executions.host,
      GLIDEPATH_WORKFLOW_SA: SA,
      GLIDEPATH_LOCAL_OIDC_SECRET: OIDC_SECRET,
      // Nothing here may reach Cloud Run or Monitoring: local endpoints that refuse connections.
      GLIDEPATH_RUN_ENDPOINT: '127.0.0.1:9',
      GLIDEPATH_MONITORING_ENDPOINT: '127.0.0.1:9',
      SLACK_WEBHOOK_URL: slack.url,
    });
    configureRuntime({ log: createLogger({}, (line) => logs.push(JSON.parse(line))) });
    for (const target of ['actions', 'intake', 'jobTrigger']) fns[target] = await hostFunction(target);
    db = new Firestore({ projectId });
  });

  afterAll(async () => {
    await Promise.all(Object.values(fns).map((f) => f.stop()));
    await executions?.stop();
    await slack?.stop();
    await db?.terminate();
  });

  const count = async (collection: string) => (await db.collection(collection).get()).size;

  /** Nothing in the collections a started rollout or job run writes, and no workflow execution. */
  async function expectNoPartialWrite(): Promise<void> {
    expect({
      rollouts: await count('rollouts'),
      services: await count('services'),
      jobRuns: await count('jobRuns'),
      executions: executions.created.length,
    }).toEqual({ rollouts: 0, services: 0, jobRuns: 0, executions: 0 });
  }

  describe('the actions endpoint, with a valid OIDC token', () => {
    const token = () => mintOidcToken({ serviceAccount: SA, audience: fns.actions.url, secret: OIDC_SECRET });
    const post = (path: string, body: string, contentType = 'application/json') =>
      send(`${fns.actions.url}/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token()}`, 'content-type': contentType },
        body,
      });

    it('answers every hostile body with a 400 whose JSON error names the field, within the time bound', async () => {
      // Bodies the schema refuses (a body it accepts would run the action: see the last test), with an
      // object or array at the root (anything else never reaches the function: see the next test).
      const cases = Object.keys(ACTIONS).flatMap((action, i) =>
        sample(hostileBody(action), 60, i)
          .filter(({ text }) => {
            const body = JSON.parse(text) as unknown;
            return (
              typeof body === 'object' && body !== null && !ACTIONS[action].schema.safeParse(body).success
            );
          })
          .slice(0, 18)
          .map(({ text }) => ({ action, text })),
      );
      expect(cases.length).toBeGreaterThan(150);
      const answers = await inParallel(
        cases.map(
          ({ action, text }) =>
            () =>
              post(action, text),
        ),
      );
      const bad = answers
        .map((a, i) => ({ ...a, ...cases[i] }))
        .filter((a) => {
          if (a.status !== 400 || a.ms > REQUEST_BUDGET_MS) return true;
          const { error } = JSON.parse(a.body) as { error?: unknown };
          return typeof error !== 'string' || !NAMES_A_FIELD.test(error) || error.length > 6000;
        });
      expect(
        bad.map((b) => ({
          action: b.action,
          status: b.status,
          body: b.body.slice(0, 300),
          text: b.text.slice(0, 200),
        })),
      ).toEqual([]);
      await expectNoPartialWrite();
    });

    it('answers unknown action names with a 404 naming the actions, and unreadable bodies with a 4xx', async () => {
      const names = [
        ...[
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          'prototype',
          'DEPLOY',
          'deploy.',
          '%2e%2e',
          'x'.repeat(2000),
        ],
        ...['deploy/extra', '..%2Fdeploy', 'job_run_attempt%00', '%F0%9F%91%A9', 'smoke%20'],
        ...sample(hostileString, 12, 100).map((s) => pathSegment(s.slice(0, 200))),
      ];
      const unknown = await inParallel(names.map((n) => () => post(n, '{}')));
      for (const [i, a] of unknown.entries()) {
        expect([names[i].slice(0, 60), a.status]).toEqual([names[i].slice(0, 60), 404]);
        expect(JSON.parse(a.body).error).toMatch(/^expected POST \/<deploy\|smoke\|/);
      }
      // Not JSON, or JSON that is not an object or array, the wrong content type, a GET: refused before
      // any action runs. (The functions-framework's body parser answers the first kind itself, with an
      // HTML page, and logs the error to stderr: silenced here.)
      const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      const unreadable = await inParallel([
        () => post('deploy', '{"rolloutId":'),
        () => post('deploy', '\u0000'),
        () => post('deploy', 'null'),
        () => post('deploy', '"deploy"'),
        () => post('deploy', '[]'),
        () => post('deploy', JSON.stringify(ACTION_SAMPLES.deploy), 'text/plain'),
        () => post('deploy', `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`),
        () => post('deploy', JSON.stringify({ ...ACTION_SAMPLES.deploy, pad: 'x'.repeat(5_000_000) })),
        () =>
          send(`${fns.actions.url}/deploy`, {
            method: 'GET',
            headers: { authorization: `Bearer ${token()}` },
          }),
      ]);
      quiet.mockRestore();
      for (const a of unreadable) {
        expect(a.status).toBeGreaterThanOrEqual(400);
        expect(a.status).toBeLessThan(500);
        expect(a.ms).toBeLessThan(REQUEST_BUDGET_MS);
      }
      await expectNoPartialWrite();
    });

    it('answers well-formed bodies for rollouts and runs that do not exist with a 4xx, never a 5xx', async () => {
      const names = [
        'deploy',
        'smoke',
        'shift',
        'analyze',
        'promote',
        'rollback',
        'complete',
        'job_run_attempt',
        'job_attempt_status',
        'job_run_finish',
        'job_rollout_begin',
        'job_rollout_update',
        'job_rollout_verify',
        'job_rollout_finish',
      ];
      const answers = await inParallel(names.map((n) => () => post(n, JSON.stringify(ACTION_SAMPLES[n]))));
      expect(
        answers.map((a, i) => [
          names[i],
          a.status >= 400 && a.status < 500 ? '4xx' : `${a.status} ${a.body.slice(0, 200)}`,
        ]),
      ).toEqual(names.map((n) => [n, '4xx']));
      await expectNoPartialWrite();
    });
  });

  describe('raw Pub/Sub pushes to intake and the job trigger', () => {
    let nextId = 7_000_000;
    type PushMessage = Record<string, unknown> & { messageId: string };
    /**
     * What the test expects, from what it generated (never from the code under test): a rejection
     * (with its reason, where the test knows it), an ignored message, or either of the two when a
     * hostile mutation may be refused or found irrelevant but must never start anything.
     */
    type Expected =
      { outcome: 'rejected'; reason?: RegExp } | { outcome: 'ignored' } | { outcome: 'not started' };
    interface Push {
      fn: 'intake' | 'jobTrigger';
      topic: string;
      body: { message: PushMessage; subscription: string };
      expected: Expected;
    }

    function push(fn: Push['fn'], topic: string, fields: Record<string, unknown>, expected: Expected): Push {
      const body = {
        message: { publishTime: '2026-01-02T03:04:05.678Z', ...fields, messageId: String(nextId++) },
        subscription: `projects/${projectId}/subscriptions/${topic}-fuzz`,
      };
      return { fn, topic, body, expected };
    }

    /** Our own formats (deploy requests, job triggers) are never ignored: refused, or started. */
    const refused = (topic: string): Expected =>
      topic === TOPICS.deployRequests || topic === TOPICS.jobTriggers
        ? { outcome: 'rejected' }
        : { outcome: 'not started' };
    /** Mutations that may leave a valid message (by the test's own rule) would start one by design. */
    function mutatedData(topic: string, runs: number, salt: number): string[] {
      return sample(mutatedPayload(topic), runs, salt)
        .filter(({ blame, mutation, base }) => !mutationMayStart(topic, mutation, blame, base))
        .map(({ text }) => b64(text));
    }

    function hostilePushes(): Push[] {
      const pushes: Push[] = [];
      const intakeTopics = [TOPICS.gcr, TOPICS.cloudBuilds, TOPICS.deployRequests];
      for (const [i, topic] of intakeTopics.entries()) {
        const mutated = mutatedData(topic, 120, 200 + i);
        const raw = sample(hostileData, 20, 210 + i).filter((d): d is string => Boolean(d));
        const attributes = sample(hostileAttributes, mutated.length + raw.length, 220 + i);
        [...mutated, ...raw].forEach((data, j) =>
          pushes.push(
            push(
              'intake',
              topic,
              { data, ...(attributes[j] ? { attributes: attributes[j] } : {}) },
              refused(topic),
            ),
          ),
        );
      }
      // Manual deploy requests for images outside the service's repository: each one refused, naming the
      // image (a security violation, or a path segment no registry has).
      for (const service of POLICY.services) {
        const [d] = sample(digest, 1, 300);
        for (const image of lookAlikes(service.image, d)
          .filter((r) => r !== `${service.image}@${d}`)
          .slice(0, 14)) {
          const request = { service: service.name, image, reason: 'fuzz', requestedBy: 'mallory' };
          pushes.push(
            push(
              'intake',
              TOPICS.deployRequests,
              { data: b64(JSON.stringify(request)) },
              {
                outcome: 'rejected',
                reason: /^(?:security violation: image "|image: invalid path segment )/,
              },
            ),
          );
        }
      }
      // Messages to ignore, some of them hostile: a DELETE, a build that did not succeed, no matching service, no tag.
      const [d] = sample(digest, 1, 301);
      const api = POLICY.services.find((s) => s.tags?.length)!;
      const ignore: Array<[string, unknown]> = [
        [TOPICS.gcr, { action: 'DELETE', digest: `${api.image}@${d}` }],
        [TOPICS.gcr, { action: 'DELETE', tag: '\u202e../../evil:latest' }],
        [TOPICS.gcr, { action: 'INSERT', digest: `${api.image}-evil@${d}`, tag: `${api.image}-evil:v1.2.3` }],
        [TOPICS.gcr, { action: 'INSERT', digest: `evil.io/${api.image}@${d}` }],
        [TOPICS.gcr, { action: 'INSERT', digest: `${api.image}@${d}` }],
        [
          TOPICS.gcr,
          { action: 'INSERT', digest: `${api.image}@${d}`, tag: `${api.image}:latest`, __proto__: 1 },
        ],
        [
          TOPICS.cloudBuilds,
          { id: 'b-1', status: 'FAILURE', results: { images: [{ name: `${api.image}:v1.2.3`, digest: d }] } },
        ],
        [TOPICS.cloudBuilds, { id: 'b-2', status: '\u202eSUCCESS' }],
        [TOPICS.cloudBuilds, { id: 'b-3', status: 'SUCCESS' }],
        [
          TOPICS.cloudBuilds,
          {
            id: 'b-4',
            status: 'SUCCESS',
            results: { images: [{ name: `evil.io/x/api:v1.2.3`, digest: d }] },
          },
        ],
        [TOPICS.cloudBuilds, { id: 'b-5', status: 'SUCCESS', constructor: { prototype: { polluted: 1 } } }],
      ];
      for (const [topic, payload] of ignore)
        pushes.push(push('intake', topic, { data: b64(JSON.stringify(payload)) }, { outcome: 'ignored' }));
      // Envelopes out of the ordinary: attributes and no data (which Pub/Sub allows, and the
      // framework does not convert), empty data, data that is not a string, reserved attributes.
      const noData = {
        outcome: 'rejected',
        reason: /^message\.data: expected base64-encoded JSON, got nothing/,
      } as const;
      const notAMessage = {
        outcome: 'rejected',
        reason:
          /^message: expected a Pub\/Sub message with base64 data, got .*message\.data: expected string/,
      } as const;
      for (const topic of [TOPICS.gcr, TOPICS.deployRequests]) {
        pushes.push(push('intake', topic, { attributes: { origin: 'fuzz' } }, noData));
        pushes.push(push('intake', topic, { data: '' }, noData));
        pushes.push(push('intake', topic, { data: { action: 'INSERT' } }, notAMessage));
        pushes.push(
          push(
            'intake',
            topic,
            { data: 'e30=', attributes: { __x__: 'reserved', ok: '\ud800' } },
            {
              outcome: 'rejected',
              reason: /^message: expected a Pub\/Sub message .*message\.attributes\.__x__: /,
            },
          ),
        );
      }
      pushes.push(
        push('jobTrigger', TOPICS.jobTriggers, { attributes: { job: POLICY.jobs[0].name } }, noData),
      );
      pushes.push(push('jobTrigger', TOPICS.jobTriggers, { data: 7 }, notAMessage));
      for (const data of mutatedData(TOPICS.jobTriggers, 120, 400))
        pushes.push(push('jobTrigger', TOPICS.jobTriggers, { data }, refused(TOPICS.jobTriggers)));
      return pushes;
    }

    it('acknowledges every push, records each rejection once with its raw payload, and starts nothing', async () => {
      const pushes = hostilePushes();
      const expectedRejected = pushes.filter((p) => p.expected.outcome === 'rejected');
      expect(expectedRejected.length).toBeGreaterThan(100);
      expect(pushes.filter((p) => p.expected.outcome === 'ignored').length).toBeGreaterThan(10);
      expect(pushes.filter((p) => p.expected.outcome === 'not started').length).toBeGreaterThan(100);

      const answers = await inParallel(
        pushes.map(
          (p) => () =>
            send(pushEndpoint(fns[p.fn], projectId, p.topic), {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(p.body),
            }),
        ),
      );
      const idOf = (p: Push) => p.body.message.messageId;
      // Acknowledged (2xx): a rejected message is recorded, not retried.
      const unacked = answers
        .map((a, i) => ({ ...a, id: idOf(pushes[i]) }))
        .filter((a) => a.status < 200 || a.status >= 300);
      expect(unacked.map((a) => `${a.id}: ${a.status} ${a.body.slice(0, 200)}`)).toEqual([]);
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(REQUEST_BUDGET_MS);

      // Each function logged one outcome per message, the one the test expects: a start fails here.
      const logged = () => {
        const seen = new Map<string, string[]>();
        for (const entry of logs)
          if (typeof entry.messageId === 'string' && typeof entry.outcome === 'string')
            seen.set(entry.messageId, [...(seen.get(entry.messageId) ?? []), entry.outcome]);
        return seen;
      };
      // (On a timeout the comparison below says which messages have no outcome.)
      await waitFor(() => pushes.every((p) => logged().has(idOf(p))), {
        timeoutMs: 15_000,
        what: 'an outcome for every push',
      }).catch(() => undefined);
      const outcomes = logged();
      const allowed = (e: Expected) => (e.outcome === 'not started' ? ['ignored', 'rejected'] : [e.outcome]);
      const mismatches = pushes
        .filter((p) => {
          const seen = outcomes.get(idOf(p)) ?? [];
          return seen.length !== 1 || !allowed(p.expected).includes(seen[0]);
        })
        .map(
          (p) =>
            `${p.topic} ${idOf(p)}: expected ${p.expected.outcome}, logged ${JSON.stringify(outcomes.get(idOf(p)))}: ${Buffer.from(
              String(p.body.message.data ?? ''),
              'base64',
            )
              .toString()
              .slice(0, 200)}`,
        );
      expect(mismatches).toEqual([]);

      // Exactly one dead letter per rejected message, none for an ignored one; each keeps the payload
      // and names the field, with the reason the test expects where it knows it.
      const rejected = pushes.filter((p) => outcomes.get(idOf(p))?.[0] === 'rejected');
      expect(rejected.length).toBeGreaterThanOrEqual(expectedRejected.length);
      const records = new Map((await db.collection('deadLetters').get()).docs.map((d) => [d.id, d.data()]));
      expect([...records.keys()].sort()).toEqual(rejected.map((p) => `rejected-${idOf(p)}`).sort());
      const securityViolations = rejected.filter((p) =>
        /^security violation: /.test(records.get(`rejected-${idOf(p)}`)!.reason),
      );
      expect(securityViolations.length).toBeGreaterThanOrEqual(15);
      const wrongRecords = rejected.flatMap((p) => {
        const record = records.get(`rejected-${idOf(p)}`)!;
        const problems: string[] = [];
        if (record.kind !== 'rejected' || record.source !== p.topic || record.messageId !== idOf(p))
          problems.push(`kind ${record.kind}, source ${record.source}, messageId ${record.messageId}`);
        if (!namesAField(record.reason)) problems.push('a reason that names no field');
        const { expected } = p;
        if (expected.outcome === 'rejected' && expected.reason && !expected.reason.test(record.reason))
          problems.push(`a reason that does not match ${expected.reason}`);
        // A readable envelope keeps its data as sent; an unreadable one keeps the event it came in.
        const data = p.body.message.data;
        if (
          data !== undefined &&
          data !== '' &&
          record.data !== data &&
          !Buffer.from(record.data, 'base64').toString().includes(JSON.stringify(data).slice(1, 1000))
        )
          problems.push('a record without the payload');
        return problems.map((problem) => `${idOf(p)}: ${problem}: ${String(record.reason).slice(0, 200)}`);
      });
      expect(wrongRecords).toEqual([]);
      await expectNoPartialWrite();
    });
  });
});
