/**
 * GetExecution's views, as executions.proto describes them (ExecutionView): BASIC returns only
 * name, start_time, end_time, duration, state and workflow_revision_id, so no `error`; FULL (the
 * default) returns everything. The sweeper's reasons come from `error`, so it reads FULL.
 */
import { join } from 'node:path';
import { ExecutionsClient } from '@google-cloud/workflows';
import { startWorkflowsEmulator, type WorkflowsEmulator } from '../../../emulators/workflows';
import { waitFor } from '../../../emulators/util';
import { WorkflowsLauncher } from '../../../functions/adapters/workflows';
import { localClientOptions } from '../../../functions/shared/endpoint';
import { silentLogger } from '../../../functions/shared/log';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'workflows');
const parentOf = (w: string): string => `projects/p1/locations/us-central1/workflows/${w}`;

let emulator: WorkflowsEmulator;
let client: ExecutionsClient;
let failed: string;
let succeeded: string;

async function run(workflow: string, argument: unknown): Promise<string> {
  const [created] = await client.createExecution({
    parent: parentOf(workflow),
    execution: { argument: JSON.stringify(argument), labels: { rollout: 'r1' } },
  });
  await waitFor(async () => (await client.getExecution({ name: created.name }))[0].state !== 'ACTIVE', {
    timeoutMs: 10_000,
    what: `execution ${created.name} to finish`,
  });
  return created.name!;
}

beforeAll(async () => {
  emulator = await startWorkflowsEmulator({
    workflowsDir: FIXTURES,
    env: { sleeper: { COLOR: 'blue' } },
    logger: silentLogger,
  });
  client = new ExecutionsClient({ ...localClientOptions(emulator.host), projectId: 'p1' });
  failed = await run('failing', {});
  succeeded = await run('sleeper', { seconds: 0.01 });
});
afterAll(async () => {
  await client.close();
  await emulator.stop();
});

const BASIC_FIELDS = ['name', 'startTime', 'endTime', 'duration', 'state', 'workflowRevisionId'];
/** The fields an answer sets: proto3 defaults (empty strings, maps, unset messages) count as unset. */
const setFields = (e: object): string[] =>
  Object.entries(e)
    .filter(
      ([, v]) => v !== null && v !== '' && v !== 0 && !(typeof v === 'object' && Object.keys(v).length === 0),
    )
    .filter(([k, v]) => !(k === 'callLogLevel' && v === 'CALL_LOG_LEVEL_UNSPECIFIED'))
    .filter(([k, v]) => !(k === 'executionHistoryLevel' && v === 'EXECUTION_HISTORY_LEVEL_UNSPECIFIED'))
    .map(([k]) => k)
    .sort();

test('BASIC returns only the six basic fields: no error, argument, result or labels', async () => {
  const [basicFailed] = await client.getExecution({ name: failed, view: 'BASIC' });
  expect(basicFailed.state).toBe('FAILED');
  expect(setFields(basicFailed)).toEqual([...BASIC_FIELDS].sort());
  const [basicSucceeded] = await client.getExecution({ name: succeeded, view: 'BASIC' });
  expect(setFields(basicSucceeded)).toEqual([...BASIC_FIELDS].sort());
  const [page] = await client.listExecutions(
    { parent: parentOf('failing'), view: 'BASIC' },
    { autoPaginate: false },
  );
  expect(setFields(page.find((e) => e.name === failed)!)).toEqual([...BASIC_FIELDS].sort());
});

test('FULL, and no view at all, return the error, the argument and the labels', async () => {
  for (const view of ['FULL', undefined] as const) {
    const [full] = await client.getExecution({ name: failed, ...(view ? { view } : {}) });
    expect(JSON.parse(full.error!.payload!)).toEqual({ code: 409, message: 'rollout superseded' });
    expect(full.argument).toBe('{}');
    expect(full.labels).toEqual({ rollout: 'r1' });
  }
});

test("the sweeper's view of a failed execution carries its error", async () => {
  const launcher = new WorkflowsLauncher(client, 'p1', 'us-central1');
  expect(await launcher.state(failed)).toEqual({
    state: 'FAILED',
    error: JSON.stringify({ code: 409, message: 'rollout superseded' }),
  });
});
