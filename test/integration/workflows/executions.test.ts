/**
 * The Workflows emulator through the real ExecutionsClient from
 * @google-cloud/workflows, pointed at it with localClientOptions.
 */
import { join } from 'node:path';
import { ExecutionsClient } from '@google-cloud/workflows';
import { startWorkflowsEmulator, type WorkflowsEmulator } from '../../../emulators/workflows';
import { waitFor } from '../../../emulators/util';
import { executionEnded } from '../../helpers/workflow-executions';
import { localClientOptions } from '../../../functions/shared/endpoint';
import { silentLogger } from '../../../functions/shared/log';
import { localAccessToken, mintOidcToken } from '../../../functions/shared/oidc';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'workflows');
const parentOf = (w: string): string => `projects/p1/locations/us-central1/workflows/${w}`;

const SECRET = 'executions-secret';
const SENDER = 'actions@p1.iam.gserviceaccount.com';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let emulator: WorkflowsEmulator;
let client: ExecutionsClient;

beforeAll(async () => {
  emulator = await startWorkflowsEmulator({
    workflowsDir: FIXTURES,
    env: { sleeper: { COLOR: 'blue' } },
    logger: silentLogger,
    oidcSecret: SECRET,
    callbackSenders: [SENDER],
  });
  client = new ExecutionsClient({ ...localClientOptions(emulator.host), projectId: 'p1' });
});
afterAll(async () => {
  await client.close();
  await emulator.stop();
});

const finished = (name: string) => executionEnded(client, name, 10_000);

test('create, then get until SUCCEEDED: result is a JSON string, labels kept, built-in env set', async () => {
  const [created] = await client.createExecution({
    parent: parentOf('sleeper'),
    execution: { argument: JSON.stringify({ seconds: 0.05 }), labels: { rollout: 'r1' } },
  });
  expect(created.name).toMatch(
    /^projects\/p1\/locations\/us-central1\/workflows\/sleeper\/executions\/[0-9a-f-]{36}$/,
  );
  expect(created.state).toBe('ACTIVE');
  const done = await finished(created.name!);
  expect(done.state).toBe('SUCCEEDED');
  expect(done.labels).toEqual({ rollout: 'r1' });
  expect(done.endTime).toBeTruthy();
  expect(JSON.parse(done.result!)).toEqual({
    workflow: 'sleeper',
    execution: created.name!.split('/').pop(),
    color: 'blue',
    half: 0.025,
  });
  expect(emulator.stats(created.name!)).toEqual({ steps: 2, internalSteps: 2, externalSteps: 0 });
});

test('a failed execution carries the raised map as its error payload', async () => {
  const [created] = await client.createExecution({ parent: parentOf('failing'), execution: {} });
  const done = await finished(created.name!);
  expect(done.state).toBe('FAILED');
  expect(JSON.parse(done.error!.payload!)).toEqual({ code: 409, message: 'rollout superseded' });
  expect(done.error!.context).toContain('step "check"');
});

test('CancelExecution stops a sleeping execution promptly', async () => {
  const [created] = await client.createExecution({
    parent: parentOf('sleeper'),
    execution: { argument: '{"seconds": 3600}' },
  });
  const [cancelled] = await client.cancelExecution({ name: created.name });
  expect(cancelled.state).toBe('CANCELLED');
  await emulator.settled(created.name!);
  const [after] = await client.getExecution({ name: created.name });
  expect(after.state).toBe('CANCELLED');
});

test('ListExecutions pages with page tokens, newest first', async () => {
  const parent = parentOf('failing');
  const names: string[] = [];
  for (let i = 0; i < 3; i++) names.push((await client.createExecution({ parent, execution: {} }))[0].name!);
  const [page1, , response1] = await client.listExecutions({ parent, pageSize: 2 }, { autoPaginate: false });
  expect(page1).toHaveLength(2);
  expect(page1[0].name).toBe(names[2]);
  expect(response1?.nextPageToken).toBeTruthy();
  const [all] = await client.listExecutions({ parent, pageSize: 2 });
  expect(all.map((e) => e.name)).toEqual(expect.arrayContaining(names));
});

test('unknown workflows and invalid definitions are refused with the reason', async () => {
  await expect(client.createExecution({ parent: parentOf('nope'), execution: {} })).rejects.toMatchObject({
    code: 5,
  });
  await expect(client.createExecution({ parent: parentOf('invalid'), execution: {} })).rejects.toThrow(
    /step "s1": "parallel.exception_policy" must be "continueAll", got "stopAll"/,
  );
  await expect(
    client.createExecution({ parent: parentOf('sleeper'), execution: { argument: '{bad' } }),
  ).rejects.toMatchObject({ code: 3 });
});

test('events.await_callback receives a request made to the callback URL', async () => {
  const [created] = await client.createExecution({ parent: parentOf('callback'), execution: {} });
  // The callback URL is only known to the execution; find it by the emulator's base URL and the execution id.
  const id = created.name!.split('/').pop()!;
  const url = await waitFor(() => emulatorCallbackUrl(id), {
    timeoutMs: 5000,
    what: 'the callback endpoint',
  });
  expect(url).toMatch(
    new RegExp(
      `/v1/projects/p1/locations/us-central1/workflows/callback/executions/${id}/callbacks/\\d+_[0-9a-f-]{36}$`,
    ),
  );
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(localAccessToken(SENDER, SECRET)) },
    body: '{"verdict":"PASS"}',
  });
  expect(res.status).toBe(200);
  const done = await finished(created.name!);
  expect(JSON.parse(done.result!)).toEqual({ verdict: 'PASS' });
  expect(emulator.stats(created.name!)).toMatchObject({ externalSteps: 1 });
});

test('a callback URL requires an OAuth access token of an identity allowed workflows.callbacks.send', async () => {
  const [created] = await client.createExecution({ parent: parentOf('callback'), execution: {} });
  const id = created.name!.split('/').pop()!;
  const url = await waitFor(() => emulatorCallbackUrl(id), {
    timeoutMs: 5000,
    what: 'the callback endpoint',
  });
  const post = (headers: Record<string, string>) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"n":1}',
    });
  expect((await post({})).status).toBe(401);
  expect((await post(bearer(localAccessToken(SENDER, 'another-secret')))).status).toBe(401);
  // An OIDC identity token is not an access token, whatever its signer.
  const idToken = mintOidcToken({ serviceAccount: SENDER, audience: url, secret: SECRET });
  expect((await post(bearer(idToken))).status).toBe(401);
  const stranger = await post(bearer(localAccessToken('someone@p1.iam.gserviceaccount.com', SECRET)));
  expect(stranger.status).toBe(403);
  expect(await stranger.text()).toMatch(/workflows\.callbacks\.send/);
  // None of them reached the execution: it still waits, and takes the allowed sender's request.
  expect((await post(bearer(localAccessToken(SENDER, SECRET)))).status).toBe(200);
  const done = await finished(created.name!);
  expect(JSON.parse(done.result!)).toEqual({ n: 1 });
});

/** The callback endpoint created by an execution, as exposed by the emulator. */
function emulatorCallbackUrl(executionId: string): string | undefined {
  return emulator.callbackUrls(executionId)[0];
}
