/**
 * Failure classes read from Cloud Run's own condition messages (cited in
 * docs/jobs.md): each text below is what Cloud Run (or the emulator, which
 * copies it) reports for that cause.
 */
import {
  classifyFailure,
  type FailureClass,
  type FailureEvidence,
} from '../../../functions/domain/job-failures';

const TASK = 'Task nightly-report-x7k2p-task0 failed with message:';
const IMAGE = 'us-docker.pkg.dev/p/jobs/nightly-report:v2';

const cases: Array<[string, FailureEvidence, FailureClass]> = [
  [
    'a non-zero exit',
    {
      stage: 'execution',
      message: `${TASK} The container exited with an error.`,
      executionReason: 'NON_ZERO_EXIT_CODE',
    },
    'exit-code',
  ],
  [
    'the memory limit',
    {
      stage: 'execution',
      message: `${TASK} Memory limit of 512 MiB exceeded with 517 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits`,
    },
    'out-of-memory',
  ],
  [
    'Cloud Run’s task timeout',
    { stage: 'execution', message: `${TASK} The configured timeout was reached.` },
    'timeout',
  ],
  ['Glidepath’s timeout (cancelled)', { stage: 'deadline', message: 'timed out after 60s' }, 'timeout'],
  [
    'a connection reset',
    {
      stage: 'execution',
      message: `${TASK} The container exited with an error. Connection reset by peer`,
      executionReason: 'NON_ZERO_EXIT_CODE',
    },
    'network',
  ],
  [
    'a missing image',
    { stage: 'execution', message: `Image '${IMAGE}' not found.`, reason: 'CONTAINER_MISSING' },
    'configuration',
  ],
  [
    'an image the service agent may not read',
    {
      stage: 'execution',
      message: `Google Cloud Run Service Agent service-123@serverless-robot-prod.iam.gserviceaccount.com must have permission to read the image, ${IMAGE}.`,
    },
    'configuration',
  ],
  [
    'a start refused for permission',
    { stage: 'start', code: 'permission', message: "run job x: Permission 'run.jobs.run' denied" },
    'configuration',
  ],
  [
    'a start refused: job not found',
    { stage: 'start', code: 'not_found', message: 'run job x: not found' },
    'configuration',
  ],
  [
    'a cancellation by someone else',
    { stage: 'execution', message: 'The execution was cancelled.', executionReason: 'CANCELLED' },
    'unknown',
  ],
];

describe('classifyFailure', () => {
  it.each(cases)('%s', (_what, evidence, expected) => {
    const { failureClass, evidence: line } = classifyFailure(evidence);
    expect(failureClass).toBe(expected);
    expect(line).toContain(evidence.message);
  });

  it('keeps the reasons with the evidence', () => {
    expect(
      classifyFailure({
        stage: 'execution',
        message: `Image '${IMAGE}' not found.`,
        reason: 'CONTAINER_MISSING',
      }).evidence,
    ).toBe(`execution: Image '${IMAGE}' not found. (reason CONTAINER_MISSING)`);
  });
});
