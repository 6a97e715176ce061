/**
 * The shipped rollout workflow with stages and an approval gate, on the
 * Workflows emulator (real callbacks, real access-token check) against a
 * stand-in actions endpoint that records every call: staging runs first,
 * the gate waits on its callback, and only an approval touches production.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ExecutionsClient } from '@google-cloud/workflows';
import { startWorkflowsEmulator, type WorkflowsEmulator } from '../../../emulators/workflows';
import { waitFor } from '../../../emulators/util';
import { executionEnded } from '../../helpers/workflow-executions';
import { localClientOptions } from '../../../functions/shared/endpoint';
import { silentLogger } from '../../../functions/shared/log';
import { localAccessToken } from '../../../functions/shared/oidc';

const SECRET = 'gates-secret';
const WORKFLOW_SA = 'wf@p.iam.gserviceaccount.com';
const ACTIONS_SA = 'actions@p.iam.gserviceaccount.com';
// 60 s bakes and gate timeouts, a thousand times faster.
const SCALE = 1000;

interface Call {
  action: string;
  body: Record<string, unknown>;
}

let server: Server;
let emulator: WorkflowsEmulator;
let client: ExecutionsClient;
let calls: Call[] = [];
/** What expire_gate answers: the gate as the record has it once the wait timed out. */
let recordAfterTimeout = 'EXPIRED';
/** The region whose analysis fails, if any. */
let failing: string | undefined;

const json = (res: ServerResponse, body: unknown): void => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const ANSWERS: Record<string, (body: Record<string, unknown>) => unknown> = {
  deploy: () => ({ outcome: 'deployed', candidate: 'api-new', stable: 'api-old', tagUrl: 'http://x' }),
  smoke: () => ({ passed: true }),
  shift: () => ({ percent: 10 }),
  analyze: (b) => ({
    verdict: b.region === failing ? 'FAIL' : 'PASS',
    reasons: b.region === failing ? ['error rate 0.5 > 0.01'] : [],
    nextLookSeconds: 60,
    extensions: 0,
  }),
  promote: () => ({ traffic: { 'api-new': 100 } }),
  rollback: () => ({ traffic: { 'api-old': 100 } }),
  open_gate: (b) => ({
    gate: `${String(b.position)}-${String(b.stage)}`,
    status: 'WAITING',
    expiresAt: 'later',
  }),
  expire_gate: (b) => ({ gate: b.gate, status: recordAfterTimeout }),
  complete: (b) => ({ status: b.status }),
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const action = (req.url ?? '').slice(1);
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      calls.push({ action, body });
      json(res, ANSWERS[action]?.(body) ?? {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const actionsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator = await startWorkflowsEmulator({
    workflowsDir: join(__dirname, '..', '..', '..', 'workflows'),
    env: { rollout: { ACTIONS_URL: actionsUrl } },
    serviceAccount: WORKFLOW_SA,
    oidcSecret: SECRET,
    callbackSenders: [ACTIONS_SA],
    sleepScale: SCALE,
    logger: silentLogger,
  });
  client = new ExecutionsClient({ ...localClientOptions(emulator.host), projectId: 'p' });
});
afterAll(async () => {
  await client.close();
  await emulator.stop();
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => {
  calls = [];
  recordAfterTimeout = 'EXPIRED';
  failing = undefined;
});

const ANALYSIS = {
  minRequests: 1,
  maxExtensions: 0,
  onInconclusive: 'fail',
  errorRate: { maxAbsolute: 0.01, maxIncrease: 0.005 },
  latency: { percentile: 99, maxMs: 1000, maxRatio: 1.25 },
};

/** Staging, then production behind a gate `before` the stage or its promotion (the plan as intake builds it). */
function plan(timeoutSeconds: number, before: 'stage' | 'promotion' = 'stage') {
  const production = {
    name: 'production',
    project: 'prod-project',
    waves:
      before === 'stage'
        ? [{ regions: ['us-east1'] }]
        : [{ regions: ['us-east1'] }, { regions: ['us-east4'] }],
    steps: [{ percent: 10, bakeSeconds: 60 }],
    analysis: ANALYSIS,
    approval: { approvers: ['U0LEAD'], timeoutSeconds, before },
  };
  return {
    rolloutId: 'api-1',
    service: 'api',
    project: production.project,
    waves: production.waves,
    steps: production.steps,
    analysis: ANALYSIS,
    maxParallelRegions: 2,
    rollbackPromotedRegions: false,
    stages: [
      {
        name: 'staging',
        project: 'staging-project',
        waves: [{ regions: ['us-west1'] }],
        steps: [],
        analysis: ANALYSIS,
      },
      production,
    ],
  };
}

async function start(timeoutSeconds: number, before: 'stage' | 'promotion' = 'stage'): Promise<string> {
  const [created] = await client.createExecution({
    parent: 'projects/p/locations/us-central1/workflows/rollout',
    execution: { argument: JSON.stringify(plan(timeoutSeconds, before)) },
  });
  return created.name!;
}

const finished = (name: string) => executionEnded(client, name, 20_000);

const regionCalls = (region: string) => calls.filter((c) => c.body.region === region).map((c) => c.action);
const completed = () => calls.filter((c) => c.action === 'complete').map((c) => c.body.status);

async function answerGate(
  decision: 'approve' | 'reject',
  token = localAccessToken(ACTIONS_SA, SECRET),
  extra: { reason?: string } = {},
) {
  const opened = await waitFor(() => calls.find((c) => c.action === 'open_gate'), {
    timeoutMs: 10_000,
    what: 'the gate to open',
  });
  return fetch(String(opened.body.callbackUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      rolloutId: 'api-1',
      gate: `${String(opened.body.position)}-production`,
      decision,
      by: 'Lead (Slack U0LEAD)',
      ...extra,
    }),
  });
}

test('staging runs 0% → smoke → 100% with no canary, then the gate opens with its callback; an approval runs production', async () => {
  const name = await start(3600);
  expect((await answerGate('approve')).status).toBe(200);
  const done = await finished(name);
  expect(done.state).toBe('SUCCEEDED');
  expect(regionCalls('us-west1')).toEqual(['deploy', 'smoke', 'promote']);
  expect(regionCalls('us-east1')).toEqual(['deploy', 'smoke', 'shift', 'analyze', 'promote']);
  const opened = calls.find((c) => c.action === 'open_gate')!;
  expect(opened.body).toMatchObject({ rolloutId: 'api-1', stage: 'production', position: 'before' });
  expect(String(opened.body.callbackUrl)).toMatch(
    /\/v1\/projects\/p\/locations\/us-central1\/workflows\/rollout\/executions\/[0-9a-f-]{36}\/callbacks\//,
  );
  // The gate opens only after staging promoted, and production starts only after it.
  const order = calls.map((c) => `${c.action}:${String(c.body.region ?? '')}`);
  expect(order.indexOf('open_gate:')).toBeGreaterThan(order.indexOf('promote:us-west1'));
  expect(order.indexOf('deploy:us-east1')).toBeGreaterThan(order.indexOf('open_gate:'));
  expect(completed()).toEqual(['PROMOTED']);
});

test('a rejection ends the rollout REJECTED and production is never touched', async () => {
  const name = await start(3600);
  expect((await answerGate('reject')).status).toBe(200);
  await finished(name);
  expect(regionCalls('us-east1')).toEqual([]);
  expect(completed()).toEqual(['REJECTED']);
  expect(calls.find((c) => c.action === 'complete')?.body.reason).toMatch(
    /gate before-production rejected by Lead \(Slack U0LEAD\)/,
  );
});

test('nobody answers: the wait times out, the gate expires, the rollout ends EXPIRED, production untouched', async () => {
  const name = await start(60);
  await finished(name);
  expect(calls.filter((c) => c.action === 'expire_gate').map((c) => c.body.gate)).toEqual([
    'before-production',
  ]);
  expect(regionCalls('us-east1')).toEqual([]);
  expect(completed()).toEqual(['EXPIRED']);
});

test('a decision recorded just before the timeout stands: the record, not the race, decides', async () => {
  recordAfterTimeout = 'APPROVED';
  const name = await start(60);
  await finished(name);
  expect(regionCalls('us-east1')).toEqual(['deploy', 'smoke', 'shift', 'analyze', 'promote']);
  expect(completed()).toEqual(['PROMOTED']);
});

test('a callback without the right token is refused and does not wake the gate', async () => {
  const name = await start(3600);
  expect((await answerGate('approve', 'not-a-token')).status).toBe(401);
  expect(
    (await answerGate('approve', localAccessToken('stranger@p.iam.gserviceaccount.com', SECRET))).status,
  ).toBe(403);
  expect(regionCalls('us-east1')).toEqual([]);
  expect((await answerGate('reject')).status).toBe(200);
  await finished(name);
  expect(completed()).toEqual(['REJECTED']);
});

describe('a gate before the final promotion of production', () => {
  const CANARY = ['deploy', 'smoke', 'shift', 'analyze'];
  const order = () => calls.map((c) => `${c.action}:${String(c.body.region ?? '')}`);

  test('every production region holds its canary at the last step, the gate opens, an approval promotes them', async () => {
    const name = await start(3600, 'promotion');
    expect((await answerGate('approve')).status).toBe(200);
    expect((await finished(name)).state).toBe('SUCCEEDED');
    expect(regionCalls('us-west1')).toEqual(['deploy', 'smoke', 'promote']);
    expect(regionCalls('us-east1')).toEqual([...CANARY, 'promote']);
    expect(regionCalls('us-east4')).toEqual([...CANARY, 'promote']);
    const opened = calls.filter((c) => c.action === 'open_gate');
    expect(opened.map((c) => c.body)).toEqual([
      expect.objectContaining({ rolloutId: 'api-1', stage: 'production', position: 'promote' }),
    ]);
    // Both waves reach their last step before the gate; nothing is promoted before it.
    expect(order().indexOf('open_gate:')).toBeGreaterThan(order().indexOf('analyze:us-east4'));
    expect(order().indexOf('promote:us-east1')).toBeGreaterThan(order().indexOf('open_gate:'));
    expect(completed()).toEqual(['PROMOTED']);
  });

  test('a rejection rolls every held region back, saying who and why, and ends the rollout REJECTED', async () => {
    const name = await start(3600, 'promotion');
    expect((await answerGate('reject', undefined, { reason: 'p99 looks slow' })).status).toBe(200);
    await finished(name);
    expect(regionCalls('us-east1')).toEqual([...CANARY, 'rollback']);
    expect(regionCalls('us-east4')).toEqual([...CANARY, 'rollback']);
    const why =
      /^gate promote-production rejected by Lead \(Slack U0LEAD\): p99 looks slow; the canary of stage production rolled back/;
    for (const rollback of calls.filter((c) => c.action === 'rollback'))
      expect(rollback.body.reason).toMatch(why);
    expect(completed()).toEqual(['REJECTED']);
    expect(calls.find((c) => c.action === 'complete')?.body.reason).toMatch(why);
  });

  test('nobody answers: the gate expires, every held region is rolled back, the rollout ends EXPIRED', async () => {
    const name = await start(60, 'promotion');
    await finished(name);
    expect(calls.filter((c) => c.action === 'expire_gate').map((c) => c.body.gate)).toEqual([
      'promote-production',
    ]);
    expect(regionCalls('us-east1')).toEqual([...CANARY, 'rollback']);
    expect(regionCalls('us-east4')).toEqual([...CANARY, 'rollback']);
    expect(completed()).toEqual(['EXPIRED']);
  });

  test('a region failing in a later wave takes the canary held in an earlier one back too; no gate opens', async () => {
    failing = 'us-east4';
    const name = await start(3600, 'promotion');
    await finished(name);
    expect(regionCalls('us-east4')).toEqual([...CANARY, 'rollback']);
    expect(regionCalls('us-east1')).toEqual([...CANARY, 'rollback']);
    expect(calls.filter((c) => c.action === 'open_gate')).toEqual([]);
    expect(completed()).toEqual(['ROLLED_BACK']);
  });
});
