/**
 * `npm start` reported broken-export's run as soon as it read FAILED, before finishRun had stored
 * its dead letter: 1 run in 4 ended "demo did not go as expected" (issue #13, item 14). The demo
 * now waits for every part it reports.
 */
import { JobRunRecord } from '../../../functions/domain/jobs';
import { jobRunReported, type ReportedParts } from '../../../scripts/demo/settled';

const now = '2026-11-30T00:00:00.000Z';
const run = (over: Partial<JobRunRecord>): JobRunRecord =>
  JobRunRecord.parse({
    id: 'broken-export-1',
    job: 'broken-export',
    project: 'demo-project',
    region: 'us-central1',
    status: 'RUNNING',
    trigger: 'schedule',
    retry: { maxAttempts: 3, initialBackoffSeconds: 30, multiplier: 2, maxBackoffSeconds: 600 },
    timeoutSeconds: 600,
    message: { topic: 'glidepath-job-triggers' },
    createdAt: now,
    updatedAt: now,
    ...over,
  });

const parts = (stored: string[], told: string[]): ReportedParts => ({
  deadLetterStored: async (id) => stored.includes(id),
  slackTold: (id) => told.includes(id),
});
const ID = 'job-failed-broken-export-1';

test.each([
  ['a run still RUNNING', run({}), parts([ID], [ID]), false],
  [
    'a FAILED run whose dead letter id is not recorded yet',
    run({ status: 'FAILED' }),
    parts([ID], [ID]),
    false,
  ],
  [
    'a FAILED run whose dead letter is not stored yet',
    run({ status: 'FAILED', deadLetterId: ID }),
    parts([], [ID]),
    false,
  ],
  [
    'a FAILED run Slack has not heard of yet',
    run({ status: 'FAILED', deadLetterId: ID }),
    parts([ID], []),
    false,
  ],
  [
    'a FAILED run with its dead letter stored and told',
    run({ status: 'FAILED', deadLetterId: ID }),
    parts([ID], [ID]),
    true,
  ],
  ['a SUCCEEDED run', run({ status: 'SUCCEEDED' }), parts([], []), true],
  ['no run yet', undefined, parts([], []), false],
])('%s: reported %s', async (_, r, p, expected) => {
  expect(await jobRunReported(r, p)).toBe(expected);
});
