/**
 * When the demo may report a job run. The run turns FAILED before `finishRun` stores its dead
 * letter, publishes it and tells Slack (functions/usecases/jobs.ts), so a run read as FAILED can
 * still lack all three: the demo waits for each part it reports.
 */
import type { JobRunRecord } from '../../functions/domain/jobs';

export interface ReportedParts {
  /** Whether `deadLetters/<id>` exists. */
  deadLetterStored(id: string): Promise<boolean>;
  /** Whether a Slack message names the dead letter. */
  slackTold(id: string): boolean;
}

export async function jobRunReported(run: JobRunRecord | undefined, parts: ReportedParts): Promise<boolean> {
  if (run?.status === 'SUCCEEDED') return true;
  if (run?.status !== 'FAILED' || !run.deadLetterId) return false;
  return parts.slackTold(run.deadLetterId) && (await parts.deadLetterStored(run.deadLetterId));
}
