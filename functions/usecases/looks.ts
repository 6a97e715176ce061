/**
 * Keeps what the judge saw at a look (functions/domain/looks.ts) for the
 * rollout's report. Called by the analyze use case once it has the metrics
 * and the verdict; a failure to keep it is logged and never fails the look:
 * the verdict itself is already in the rollout's record, and a report with a
 * missing look is better than a rollout held up by one.
 */
import { lookRecord } from '../domain/looks';
import type { LookStore } from '../ports';
import type { Logger } from '../shared/log';

export async function recordLook(
  deps: { looks: LookStore; log: Logger },
  rolloutId: string,
  input: Parameters<typeof lookRecord>[0],
): Promise<void> {
  const look = lookRecord(input);
  try {
    await deps.looks.record(rolloutId, look);
  } catch (err) {
    deps.log.warn('look not recorded: the report will miss it', {
      rolloutId,
      region: look.region,
      step: look.step,
      verdict: look.verdict,
      error: (err as Error).message,
    });
  }
}
