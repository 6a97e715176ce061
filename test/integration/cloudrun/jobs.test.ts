/** Contract tests of the JobRunner adapter against the emulator's Jobs and Executions. */
import { ExecutionsClient, JobsClient } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import { waitFor } from '../../../emulators/util';
import {
  createCloudRunJobRunner,
  createCloudRunJobTemplates,
  type CloudRunJobRunner,
  type CloudRunJobTemplates,
} from '../../../functions/adapters/jobs';
import type { JobExecutionState } from '../../../functions/ports';
import { HeldTimers } from '../../../emulators/cloudrun/timers';
import { startHarness, PROJECT, REGION, type Harness } from './helpers';

let h: Harness;
/** Held while a test looks at an execution that must still be running: it cannot finish meanwhile. */
const timers = new HeldTimers();
let jobs: JobsClient;
let runner: CloudRunJobRunner;
let templates: CloudRunJobTemplates;

beforeAll(async () => {
  h = await startHarness({ timers });
  jobs = new JobsClient(h.clientOptions as ClientOptions);
  runner = createCloudRunJobRunner({ clientOptions: h.clientOptions });
  templates = createCloudRunJobTemplates({ clientOptions: h.clientOptions });
});

afterAll(async () => {
  await jobs.close();
  await runner.close();
  await templates.close();
  await h.close();
});

async function createJob(id: string, image: string): Promise<void> {
  const [op] = await jobs.createJob({
    parent: `projects/${PROJECT}/locations/${REGION}`,
    jobId: id,
    job: { template: { template: { containers: [{ image, args: ['--default'] }] } } },
  });
  await op.promise();
}

const job = (id: string) => ({ project: PROJECT, region: REGION, job: id });

function finished(name: string): Promise<JobExecutionState> {
  return waitFor(
    async () => {
      const s = await runner.getExecution(name);
      return s.state === 'RUNNING' ? undefined : s;
    },
    { timeoutMs: 5000, what: `execution ${name} to finish`, intervalMs: 20 },
  );
}

test('an execution of a healthy image succeeds, and the overrides are recorded', async () => {
  h.emulator.setProfile('us-docker.pkg.dev/test-project/jobs/report:v1', { durationMs: 1500 });
  await createJob('report', 'us-docker.pkg.dev/test-project/jobs/report:v1');
  timers.hold();
  const name = await runner.run(job('report'), { args: ['--date', '2024-01-01'], env: { MODE: 'backfill' } });
  expect(name).toMatch(
    new RegExp(`^projects/${PROJECT}/locations/${REGION}/jobs/report/executions/report-[a-z0-9]{5}$`),
  );
  const running = await runner.getExecution(name);
  expect(running).toMatchObject({ state: 'RUNNING', succeededCount: 0, failedCount: 0 });
  expect(running.startTime).toBeDefined();
  timers.release();
  const done = await finished(name);
  expect(done).toMatchObject({ state: 'SUCCEEDED', succeededCount: 1, failedCount: 0 });
  expect(done.completionTime).toBeDefined();
  expect(done.error).toBeUndefined();

  const executions = new ExecutionsClient(h.clientOptions as ClientOptions);
  const [execution] = await executions.getExecution({ name });
  await executions.close();
  expect(execution.taskCount).toBe(1);
  expect(execution.template?.containers?.[0]?.args).toEqual(['--date', '2024-01-01']);
  expect(execution.template?.containers?.[0]?.env).toEqual([
    expect.objectContaining({ name: 'MODE', value: 'backfill' }),
  ]);
});

test('an image with failRate 1 fails, with the reason', async () => {
  h.emulator.setProfile('us-docker.pkg.dev/test-project/jobs/broken', { failRate: 1, durationMs: 20 });
  await createJob('broken', 'us-docker.pkg.dev/test-project/jobs/broken:v1');
  const done = await finished(await runner.run(job('broken')));
  expect(done).toMatchObject({ state: 'FAILED', succeededCount: 0, failedCount: 1 });
  expect(done.error).toMatch(/The container exited with an error\./);
});

test('scripted outcomes: fail twice, then succeed', async () => {
  h.emulator.setProfile('us-docker.pkg.dev/test-project/jobs/flaky:v1', { durationMs: 20 });
  await createJob('flaky', 'us-docker.pkg.dev/test-project/jobs/flaky:v1');
  h.emulator.setJobOutcomes(`projects/${PROJECT}/locations/${REGION}/jobs/flaky`, [
    'fail',
    'fail',
    'succeed',
  ]);
  const states: string[] = [];
  for (let i = 0; i < 3; i++) states.push((await finished(await runner.run(job('flaky')))).state);
  expect(states).toEqual(['FAILED', 'FAILED', 'SUCCEEDED']);
});

test('a cancelled execution reports CANCELLED; running a missing job is not_found', async () => {
  h.emulator.setProfile('us-docker.pkg.dev/test-project/jobs/long:v1', { durationMs: 60_000 });
  await createJob('long', 'us-docker.pkg.dev/test-project/jobs/long:v1');
  const name = await runner.run(job('long'));
  const executions = new ExecutionsClient(h.clientOptions as ClientOptions);
  const [op] = await executions.cancelExecution({ name });
  await op.promise();
  await executions.close();
  expect(await runner.getExecution(name)).toMatchObject({ state: 'CANCELLED' });
  await expect(runner.run(job('missing'))).rejects.toMatchObject({ code: 'not_found' });
  await expect(
    runner.getExecution(`projects/${PROJECT}/locations/${REGION}/jobs/long/executions/long-zzzzz`),
  ).rejects.toMatchObject({ code: 'not_found' });
});

test('cancel stops a running execution; a failure carries the condition’s reasons', async () => {
  h.emulator.setProfile('us-docker.pkg.dev/test-project/jobs/stuck:v1', { durationMs: 20 });
  await createJob('stuck', 'us-docker.pkg.dev/test-project/jobs/stuck:v1');
  h.emulator.setJobOutcomes(`projects/${PROJECT}/locations/${REGION}/jobs/stuck`, ['hang', 'image-missing']);
  const hung = await runner.run(job('stuck'));
  expect(await runner.getExecution(hung)).toMatchObject({ state: 'RUNNING' });
  await runner.cancel(hung);
  expect(await runner.getExecution(hung)).toMatchObject({ state: 'CANCELLED', executionReason: 'CANCELLED' });
  await runner.cancel(hung); // already ended: nothing to do, no error

  const missing = await finished(await runner.run(job('stuck')));
  expect(missing).toMatchObject({
    state: 'FAILED',
    reason: 'CONTAINER_MISSING',
    error: "Image 'us-docker.pkg.dev/test-project/jobs/stuck:v1' not found.",
  });
});

describe('UpdateJob (job.proto: the whole Job, no update mask; etag "to detect modification conflict during updates")', () => {
  const V1 = 'us-docker.pkg.dev/test-project/jobs/export:v1';
  const V2 = 'us-docker.pkg.dev/test-project/jobs/export@sha256:' + 'b'.repeat(64);
  const name = `projects/${PROJECT}/locations/${REGION}/jobs/export`;

  beforeAll(() => createJob('export', V1));

  test('replaces the template, bumps generation and etag, answers with a long-running operation holding the Job', async () => {
    const [before] = await jobs.getJob({ name });
    const template = structuredClone(before.template!);
    template.template!.containers![0].image = V2;
    const [op] = await jobs.updateJob({ job: { ...before, template, client: 'test' } });
    expect(op.name).toMatch(new RegExp(`^projects/${PROJECT}/locations/${REGION}/operations/`));
    const [updated] = await op.promise();
    expect(updated.template?.template?.containers?.[0]).toMatchObject({ image: V2, args: ['--default'] });
    expect(Number(updated.generation)).toBe(Number(before.generation) + 1);
    expect(updated.etag).not.toBe(before.etag);
    expect(updated.uid).toBe(before.uid);
    // Executions started from now on run the new template.
    const execution = await runner.run(job('export'));
    const [e] = await new ExecutionsClient(h.clientOptions as ClientOptions).getExecution({
      name: execution,
    });
    expect(e.template?.containers?.[0].image).toBe(V2);
  });

  test('a stale etag is ABORTED, a missing job NOT_FOUND, a write without client INVALID_ARGUMENT; none changes the job', async () => {
    const [current] = await jobs.getJob({ name });
    await expect(
      jobs.updateJob({ job: { ...current, etag: '"stale"', client: 'test' } }),
    ).rejects.toMatchObject({
      code: 10,
      details: expect.stringMatching(/etag "stale" of job 'export' is stale/),
    });
    await expect(
      jobs.updateJob({
        job: { ...current, name: `projects/${PROJECT}/locations/${REGION}/jobs/nope`, client: 'test' },
      }),
    ).rejects.toMatchObject({ code: 5 });
    await expect(jobs.updateJob({ job: { ...current, client: '' } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/^job\.client: expected/),
    });
    const [after] = await jobs.getJob({ name });
    expect(after.etag).toBe(current.etag);
    expect(after.generation).toEqual(current.generation);
  });

  test('the JobTemplates adapter reads and replaces the template; a template read before a change is a conflict', async () => {
    const ref = job('export');
    const read = (await templates.getJob(ref))!;
    expect(read.images).toEqual([V2]);
    const back = JSON.parse(read.template);
    back.template.containers[0].image = V1;
    const restored = await templates.updateTemplate(ref, {
      etag: read.etag,
      template: JSON.stringify(back),
      timeoutMs: 5000,
    });
    expect(restored.images).toEqual([V1]);
    await expect(
      templates.updateTemplate(ref, { etag: read.etag, template: read.template, timeoutMs: 5000 }),
    ).rejects.toMatchObject({ code: 'conflict' });
    expect(await templates.getJob(job('missing'))).toBeUndefined();
  });
});
