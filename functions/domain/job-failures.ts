/**
 * Why a job attempt failed, from what Cloud Run says about it, and whether
 * that kind of failure is worth another attempt. The texts matched here are
 * Cloud Run's own condition messages and reasons; each is cited in
 * docs/jobs.md ("Failure classes").
 */
import type { ErrorCode } from '../shared/errors';

export const FAILURE_CLASSES = [
  'timeout',
  'configuration',
  'out-of-memory',
  'network',
  'exit-code',
  'unknown',
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** `retry.on` when the policy does not set it: retrying a permission or configuration error cannot help. */
export const DEFAULT_RETRY_ON: readonly FailureClass[] = FAILURE_CLASSES.filter((c) => c !== 'configuration');

/** What was seen of a failed attempt. */
export type FailureEvidence =
  /** The execution could not be started: the Admin API's refusal, mapped to our error code. */
  | { stage: 'start'; code: ErrorCode; message: string }
  /** The execution ended unsuccessfully: its Completed condition. */
  | { stage: 'execution'; message: string; reason?: string; executionReason?: string }
  /** The job's timeout passed with the execution still running; Glidepath cancelled it. */
  | { stage: 'deadline'; message: string };

interface ClassifiedFailure {
  failureClass: FailureClass;
  /** The evidence the class was read from, in one line, kept with the attempt and in the dead letter. */
  evidence: string;
}

/** Condition reasons (google.cloud.run.v2.Condition.CommonReason) that a retry cannot fix. */
const CONFIGURATION_REASONS = new Set([
  'CONTAINER_MISSING',
  'CONTAINER_PERMISSION_DENIED',
  'CONTAINER_IMAGE_UNAUTHORIZED',
  'CONTAINER_IMAGE_AUTHORIZATION_CHECK_FAILED',
  'ENCRYPTION_KEY_PERMISSION_DENIED',
  'ENCRYPTION_KEY_CHECK_FAILED',
  'SECRETS_ACCESS_CHECK_FAILED',
  'VPC_NETWORK_NOT_FOUND',
]);

const TIMEOUT = /The configured timeout was reached/i;
const MEMORY = /Memory limit of \S+ \S+ exceeded/i;
const CONFIGURATION =
  /must have permission to read the image|Image '[^']*' not found|Permission '[^']*' denied|does not have permission/i;
const NETWORK =
  /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|Connection reset by peer|Connection refused|failed to connect/i;
const EXIT = /container exited|exit code/i;

function evidenceLine(e: FailureEvidence): string {
  const tags =
    e.stage === 'execution'
      ? [e.reason && `reason ${e.reason}`, e.executionReason && `executionReason ${e.executionReason}`]
      : e.stage === 'start'
        ? [`code ${e.code}`]
        : [];
  const suffix = tags.filter(Boolean).join(', ');
  return `${e.stage}: ${e.message}${suffix ? ` (${suffix})` : ''}`.slice(0, 1000);
}

/**
 * The class of a failed attempt. Specific evidence wins over general: a
 * task that ran out of memory also "exited", so memory is checked first; a
 * message naming a connection error is network even though the container
 * then exited with an error. Nothing recognisable is `unknown`, never a
 * guess.
 */
export function classifyFailure(e: FailureEvidence): ClassifiedFailure {
  const evidence = evidenceLine(e);
  const is = (failureClass: FailureClass): ClassifiedFailure => ({ failureClass, evidence });
  if (e.stage === 'deadline') return is('timeout');
  if (e.stage === 'start') {
    if (e.code === 'permission' || e.code === 'not_found' || e.code === 'invalid') return is('configuration');
    return NETWORK.test(e.message) ? is('network') : is('unknown');
  }
  if (TIMEOUT.test(e.message)) return is('timeout');
  if (MEMORY.test(e.message)) return is('out-of-memory');
  if ((e.reason && CONFIGURATION_REASONS.has(e.reason)) || CONFIGURATION.test(e.message))
    return is('configuration');
  if (NETWORK.test(e.message)) return is('network');
  if (e.executionReason === 'NON_ZERO_EXIT_CODE' || EXIT.test(e.message)) return is('exit-code');
  return is('unknown');
}
