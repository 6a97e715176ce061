/** The job-run sweeper's diagnosis: who still drives an unfinished job run? */
import { diagnoseJobRun, jobRunLifetimeSeconds } from '../../../functions/domain/job-sweep';
import type { JobRunRecord } from '../../../functions/domain/jobs';

const settings = { heartbeatGraceSeconds: 900, launchGraceSeconds: 600 };
const created = '2026-03-01T02:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(created) + seconds * 1000);

const run = (patch: Partial<JobRunRecord> = {}): JobRunRecord => ({
  id: 'nightly-report-m1',
  job: 'nightly-report',
  project: 'my-project',
  region: 'us-central1',
  status: 'RUNNING',
  trigger: 'manual',
  retry: {
    maxAttempts: 3,
    initialBackoffSeconds: 30,
    multiplier: 2,
    maxBackoffSeconds: 600,
    retryOn: ['exit-code'],
  },
  timeoutSeconds: 3600,
  message: { topic: 'glidepath-job-triggers', attributes: {} },
  executionName: 'projects/p/locations/l/workflows/job-run/executions/e1',
  attempts: [],
  createdAt: created,
  updatedAt: created,
  ...patch,
});

describe('diagnoseJobRun', () => {
  it('leaves a run alone while its execution is alive and within any healthy run’s lifetime', () => {
    expect(diagnoseJobRun(run(), { state: 'ACTIVE' }, at(3600), settings)).toMatchObject({ stuck: false });
  });

  it('ends a run whose execution ended or vanished, saying how', () => {
    expect(diagnoseJobRun(run(), { state: 'FAILED', error: 'boom' }, at(60), settings)).toEqual({
      stuck: true,
      reason:
        'workflow execution projects/p/locations/l/workflows/job-run/executions/e1 is FAILED (boom) but job run nightly-report-m1 is RUNNING',
      cancelExecution: false,
    });
    expect(diagnoseJobRun(run(), { state: 'MISSING' }, at(60), settings)).toMatchObject({
      stuck: true,
      reason: expect.stringContaining('no longer exists'),
    });
  });

  it('ends a run whose execution was never started, after the launch grace', () => {
    const pending = run({ status: 'PENDING', executionName: undefined });
    expect(diagnoseJobRun(pending, undefined, at(600), settings)).toMatchObject({ stuck: false });
    expect(diagnoseJobRun(pending, undefined, at(601), settings)).toEqual({
      stuck: true,
      reason: 'no job-run workflow execution was started for 10m (limit 10m)',
      cancelExecution: false,
    });
  });

  it('cancels an execution that outlived the longest healthy run', () => {
    // 3 × (3600 + 20) + 2 × 600 = 12,060 s, plus a wait for the job's lock of 3600 + 10 s, plus the 900 s grace.
    expect(jobRunLifetimeSeconds(run())).toBe(15_670);
    expect(diagnoseJobRun(run(), { state: 'ACTIVE' }, at(16_570), settings)).toMatchObject({ stuck: false });
    expect(diagnoseJobRun(run(), { state: 'ACTIVE' }, at(16_571), settings)).toMatchObject({
      stuck: true,
      cancelExecution: true,
    });
  });

  it('never touches a finished run', () => {
    expect(diagnoseJobRun(run({ status: 'FAILED' }), { state: 'MISSING' }, at(60), settings)).toMatchObject({
      stuck: false,
    });
  });
});
