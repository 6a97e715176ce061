import {
  backoffSchedule,
  backoffSeconds,
  decideJobTrigger,
  jobRunArgument,
  retrySettings,
  type RetrySettings,
} from '../../../functions/domain/jobs';
import { parsePolicy, type Policy } from '../../../functions/domain/policy';

const retry: Omit<RetrySettings, 'retryOn'> = {
  maxAttempts: 6,
  initialBackoffSeconds: 30,
  multiplier: 2,
  maxBackoffSeconds: 600,
};

describe('backoff', () => {
  it('is min(initial × multiplier^(attempt−1), max)', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffSeconds(retry, a))).toEqual([30, 60, 120, 240, 480, 600]);
    expect(backoffSeconds({ ...retry, multiplier: 1.5, initialBackoffSeconds: 10 }, 3)).toBeCloseTo(22.5);
  });
  it('waits once between each pair of attempts', () => {
    expect(backoffSchedule({ ...retry, maxAttempts: 4 })).toEqual([30, 60, 120]);
    expect(backoffSchedule({ ...retry, maxAttempts: 1 })).toEqual([]);
  });
  it('refuses an attempt number that is not a positive integer, naming it', () => {
    expect(() => backoffSeconds(retry, 0)).toThrow('attempt: expected an integer ≥ 1, got 0');
    expect(() => backoffSeconds(retry, 1.5)).toThrow(/got 1.5/);
  });
});

describe('decideJobTrigger', () => {
  const policy: Policy = parsePolicy({
    jobs: [
      {
        name: 'nightly-report',
        project: 'my-project',
        region: 'us-central1',
        schedule: '0 2 * * *',
        timeout: '10m',
        retry: { maxAttempts: 4, initialBackoff: '30s', multiplier: 2, maxBackoff: '10m' },
        overridable: { args: true, env: ['MODE'] },
      },
      { name: 'fixed-export', project: 'my-project', region: 'us-central1', schedule: '0 3 * * *' },
    ],
  });
  const data = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');
  const scheduler = (publishTime: string, messageId: string) => ({
    data: data({ job: 'nightly-report' }),
    attributes: { job: 'nightly-report' },
    messageId,
    publishTime,
  });

  it('keys a scheduler message by its publish minute, so a redelivery or duplicate publish is the same run', () => {
    const a = decideJobTrigger(policy, scheduler('2026-03-01T02:00:01.250Z', '11'));
    const b = decideJobTrigger(policy, scheduler('2026-03-01T02:00:59.999Z', '12'));
    const next = decideJobTrigger(policy, scheduler('2026-03-01T02:01:00.000Z', '13'));
    expect(a).toMatchObject({
      outcome: 'start',
      runId: 'nightly-report-202603010200',
      trigger: 'schedule',
      scheduledAt: '2026-03-01T02:00:00.000Z',
    });
    expect(b).toMatchObject({ runId: 'nightly-report-202603010200' });
    expect(next).toMatchObject({ runId: 'nightly-report-202603010201' });
  });

  it('keys a hand-published message, a replay or one with overrides by its message id', () => {
    expect(
      decideJobTrigger(policy, {
        data: data({ job: 'nightly-report' }),
        messageId: '42',
        publishTime: '2026-03-01T02:00:00Z',
      }),
    ).toMatchObject({
      outcome: 'start',
      runId: 'nightly-report-m42',
      trigger: 'manual',
    });
    const replay = decideJobTrigger(policy, {
      ...scheduler('2026-03-01T02:00:00Z', '43'),
      attributes: { job: 'nightly-report', replayOf: 'job-failed-x' },
    });
    expect(replay).toMatchObject({ runId: 'nightly-report-m43', trigger: 'replay' });
    const withOverrides = decideJobTrigger(policy, {
      ...scheduler('2026-03-01T02:00:00Z', '44'),
      data: data({ job: 'nightly-report', overrides: { args: ['--full'] } }),
    });
    expect(withOverrides).toMatchObject({ runId: 'nightly-report-m44', overrides: { args: ['--full'] } });
  });

  it('rejects an unknown job, naming it and the known ones', () => {
    expect(decideJobTrigger(policy, { data: data({ job: 'nope' }), messageId: '1' })).toEqual({
      outcome: 'rejected',
      reason: 'job: expected a job of the policy (nightly-report, fixed-export), got "nope"',
    });
  });

  it('rejects a malformed payload with the field and what was expected', () => {
    const r = decideJobTrigger(policy, { data: data({ job: 'nightly-report', extra: 1 }), messageId: '1' });
    expect(r.outcome).toBe('rejected');
    expect(r.outcome === 'rejected' && r.reason).toMatch(/invalid job trigger: .*extra/);
    expect(decideJobTrigger(policy, { data: 'not base64!', messageId: '1' })).toMatchObject({
      outcome: 'rejected',
      reason: expect.stringMatching(/message.data: expected base64/),
    });
  });

  it('builds the workflow argument from the resolved policy', () => {
    const d = decideJobTrigger(policy, { data: data({ job: 'nightly-report' }), messageId: '7' });
    if (d.outcome !== 'start') throw new Error('expected start');
    expect(
      jobRunArgument({
        id: d.runId,
        job: d.job.name,
        retry: { maxAttempts: 4 },
        timeoutSeconds: d.job.timeout,
      }),
    ).toEqual({
      runId: 'nightly-report-m7',
      job: 'nightly-report',
      maxAttempts: 4,
      maxPolls: 60,
      pollSeconds: 10,
    });
  });
});

describe('overridable parameters on a trigger', () => {
  const policy = parsePolicy({
    jobs: [
      {
        name: 'nightly-report',
        project: 'my-project',
        region: 'us-central1',
        schedule: '0 2 * * *',
        overridable: { args: true, env: ['MODE', 'DAY'] },
      },
      { name: 'fixed-export', project: 'my-project', region: 'us-central1', schedule: '0 3 * * *' },
    ],
  });
  const trigger = (payload: unknown) => ({
    data: Buffer.from(JSON.stringify(payload)).toString('base64'),
    messageId: '9',
  });

  it('starts a run with the overrides the job allows', () => {
    expect(
      decideJobTrigger(
        policy,
        trigger({ job: 'nightly-report', overrides: { args: ['--full'], env: { MODE: 'full' } } }),
      ),
    ).toMatchObject({ outcome: 'start', overrides: { args: ['--full'], env: { MODE: 'full' } } });
  });

  it('rejects an env var the job does not list, naming it and the allowed ones', () => {
    expect(
      decideJobTrigger(
        policy,
        trigger({ job: 'nightly-report', overrides: { env: { MODE: 'x', TOKEN: 'y' } } }),
      ),
    ).toEqual({
      outcome: 'rejected',
      reason:
        'overrides.env: job nightly-report allows overriding MODE, DAY (jobs[].overridable.env), got "TOKEN"',
    });
  });

  it('rejects any override of a job that allows none', () => {
    expect(
      decideJobTrigger(policy, trigger({ job: 'fixed-export', overrides: { args: ['--all'] } })),
    ).toEqual({
      outcome: 'rejected',
      reason:
        'overrides.args: job fixed-export does not allow args overrides (jobs[].overridable.args is not true), got ["--all"]',
    });
    expect(
      decideJobTrigger(policy, trigger({ job: 'fixed-export', overrides: { env: { MODE: 'x' } } })),
    ).toEqual({
      outcome: 'rejected',
      reason:
        'overrides.env: job fixed-export allows overriding no env var (jobs[].overridable.env), got "MODE"',
    });
  });
});

describe('retry.on in the policy', () => {
  const job = { name: 'nightly-report', project: 'my-project', region: 'us-central1', schedule: '0 2 * * *' };

  it('retries every class but configuration by default', () => {
    const [parsed] = parsePolicy({ jobs: [job] }).jobs;
    expect(retrySettings(parsed).retryOn).toEqual([
      'timeout',
      'out-of-memory',
      'network',
      'exit-code',
      'unknown',
    ]);
  });

  it('takes the classes the policy lists', () => {
    const retry = { maxAttempts: 3, initialBackoff: '10s', multiplier: 2, maxBackoff: '1m', on: ['network'] };
    const [parsed] = parsePolicy({ jobs: [{ ...job, retry }] }).jobs;
    expect(retrySettings(parsed).retryOn).toEqual(['network']);
  });

  it('refuses a class that does not exist, naming the field', () => {
    const retry = { maxAttempts: 3, initialBackoff: '10s', multiplier: 2, maxBackoff: '1m', on: ['oom'] };
    expect(() => parsePolicy({ jobs: [{ ...job, retry }] })).toThrow(
      /jobs\[0\]\.retry\.on\[0\]: Invalid option: expected one of .*got "oom"/,
    );
  });
});
