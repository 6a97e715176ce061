/**
 * The launch-claim protocol of intake and the job trigger, written once: the
 * delivery that holds a record's launch claim (RolloutStore/JobStore
 * `claimLaunch`, rule in functions/domain/store-rules.ts) starts its workflow
 * execution and records it. A failed start gives the claim back and throws,
 * so Pub/Sub redelivers and the redelivery can start at once.
 */
import type { Clock } from '../ports';

interface LaunchClaimStore {
  releaseLaunch(id: string): Promise<void>;
  recordExecution(id: string, executionName: string, now: Date): Promise<void>;
}

/** Starts the execution of `id`, whose launch claim the caller holds; returns its name once recorded. */
export async function startClaimedExecution(
  deps: { store: LaunchClaimStore; clock: Clock },
  id: string,
  start: () => Promise<string>,
): Promise<string> {
  let executionName: string;
  try {
    executionName = await start();
  } catch (err) {
    await deps.store.releaseLaunch(id).catch(() => undefined); // the claim then simply expires
    throw err;
  }
  await deps.store.recordExecution(id, executionName, deps.clock.now());
  return executionName;
}
