/**
 * Execution labels: the Workflows emulator validates them as executions.proto
 * describes, and the rollout path (intake starting an execution) sends valid
 * labels whatever the length of the rollout id.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecutionsClient } from '@google-cloud/workflows';
import { startWorkflowsEmulator, type WorkflowsEmulator } from '../../../emulators/workflows';
import { localClientOptions } from '../../../functions/shared/endpoint';
import { silentLogger } from '../../../functions/shared/log';
import { WorkflowsLauncher } from '../../../functions/adapters/workflows';
import { handleIntake, type IntakeDeps } from '../../../functions/usecases/intake';
import { parsePolicy } from '../../../functions/domain/policy';
import type { AdmitInput } from '../../../functions/ports';
import type { RolloutRecord } from '../../../functions/domain/records';

const INVALID_ARGUMENT = 3;
const PROJECT = 'my-project';
const REPO = 'us-docker.pkg.dev/my-project/apps/api';

let dir: string;
let emulator: WorkflowsEmulator;
let client: ExecutionsClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'glidepath-labels-'));
  writeFileSync(join(dir, 'rollout.workflows.yaml'), 'main:\n  steps:\n    - done:\n        return: ok\n');
  emulator = await startWorkflowsEmulator({ workflowsDir: dir, logger: silentLogger });
  client = new ExecutionsClient({ ...localClientOptions(emulator.host), projectId: PROJECT });
});
afterAll(async () => {
  await client.close();
  await emulator.stop();
  rmSync(dir, { recursive: true, force: true });
});

const create = (labels: Record<string, string>) =>
  client.createExecution({
    parent: `projects/${PROJECT}/locations/us-central1/workflows/rollout`,
    execution: { argument: '{}', labels },
  });

async function rejection(labels: Record<string, string>): Promise<{ code: number; details: string }> {
  try {
    await create(labels);
  } catch (err) {
    const e = err as { code: number; details: string };
    return { code: e.code, details: e.details };
  }
  throw new Error(`expected labels ${JSON.stringify(labels)} to be refused`);
}

describe('CreateExecution validates labels as executions.proto describes', () => {
  test.each([
    ['a value of 64 characters', { rollout_id: 'a'.repeat(64) }, /value "a{64}" is not valid/],
    ['an upper-case value', { service: 'Api' }, /value "Api" is not valid/],
    ['a value with a dot', { service: 'api.v2' }, /value "api\.v2" is not valid/],
    ['a key that starts with a digit', { '1service': 'api' }, /key "1service" is not valid/],
    ['a key of 64 characters', { ['k'.repeat(64)]: 'v' }, /key "k{64}" is not valid/],
    ['an empty key', { '': 'v' }, /key "" is not valid/],
    ['a non-ASCII value (the stricter reading)', { service: 'café' }, /value "café" is not valid/],
    [
      '65 entries',
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
      /at most 64 entries, got 65/,
    ],
  ])('refuses %s with INVALID_ARGUMENT', async (_what, labels, message) => {
    const err = await rejection(labels as Record<string, string>);
    expect(err.code).toBe(INVALID_ARGUMENT);
    expect(err.details).toMatch(message);
  });

  test('accepts 64 entries, keys and values of 63 characters, and an empty value', async () => {
    const labels = Object.fromEntries(Array.from({ length: 62 }, (_, i) => [`k${i}`, 'v']));
    Object.assign(labels, { ['k'.repeat(63)]: `a-_${'9'.repeat(60)}`, empty: '' });
    const [created] = await create(labels);
    expect(created.labels).toEqual(labels);
  });
});

describe('intake starts an execution with valid labels for a long rollout id', () => {
  // A name of 45 characters gives a rollout id of 67 (name-<12 hex>-<base36 time>).
  const service = `checkout-${'x'.repeat(36)}`;
  const policy = parsePolicy({
    services: [{ name: 'api', project: PROJECT, image: REPO, waves: [['us-central1']] }],
  });
  // Built past the policy parser on purpose: the label rules must hold for any id, not only for
  // the names today's policy admits.
  policy.services[0] = { ...policy.services[0], name: service };

  const admitted: RolloutRecord[] = [];
  let clockMs = Date.parse('2026-11-30T05:00:00Z');
  const deps = (): IntakeDeps => ({
    policy,
    store: {
      admit: async (input: AdmitInput) => {
        const now = input.now.toISOString();
        const rollout = { ...input.rollout, status: 'PENDING', regions: {}, createdAt: now, updatedAt: now };
        admitted.push(rollout as RolloutRecord);
        return { kind: 'started', rollout: rollout as RolloutRecord };
      },
      claimLaunch: async () => true,
      releaseLaunch: async () => undefined,
      finish: async () => {
        throw new Error('no rollout of this test is finished by intake');
      },
      recordExecution: async () => undefined,
    },
    deadLetters: {} as IntakeDeps['deadLetters'],
    // The policy has no job images: nothing reaches the job rollout store.
    jobRollouts: {} as IntakeDeps['jobRollouts'],
    launcher: new WorkflowsLauncher(client, PROJECT, 'us-central1'),
    notifier: { notify: async () => true },
    // Each rollout a second later: ids then differ only in their last characters.
    clock: { now: () => new Date((clockMs += 1000)) },
    log: silentLogger,
    dedupTtlSeconds: 60,
    metrics: { serviceRequests: async () => ({ requests: 60_000 }) },
    timeScale: 1,
  });

  test('the execution starts, and its labels fit and stay distinct per rollout', async () => {
    const push = (digest: string) => ({
      data: Buffer.from(
        JSON.stringify({ action: 'INSERT', digest: `${REPO}@${digest}`, tag: `${REPO}:v1` }),
      ).toString('base64'),
      messageId: `m${clockMs}`,
    });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect((await handleIntake(deps(), 'gcr', push(digest))).outcome).toBe('rollout');
    expect((await handleIntake(deps(), 'gcr', push(digest))).outcome).toBe('rollout');
    expect(admitted.map((r) => r.id.length)).toEqual([67, 67]);
    expect(admitted[0].id.slice(0, 63)).toBe(admitted[1].id.slice(0, 63));

    const [executions] = await client.listExecutions({
      parent: `projects/${PROJECT}/locations/us-central1/workflows/rollout`,
      view: 'FULL',
    });
    const labels = executions
      .filter((e) => e.labels?.service === service)
      .map((e) => e.labels as Record<string, string>);
    expect(labels).toHaveLength(2);
    for (const l of labels) {
      expect(l.rollout_id).toMatch(/^[a-z0-9_-]{1,63}$/);
      expect(l.rollout_id.startsWith(service)).toBe(true);
    }
    expect(labels[0].rollout_id).not.toBe(labels[1].rollout_id);
  });
});
