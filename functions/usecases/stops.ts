/**
 * The rollout-stops worker's use case: a stop recorded by a Slack click
 * (Abort / Roll back now, functions/usecases/interactions.ts) is settled here,
 * outside Slack's 3-second acknowledgement: the regions go back to their
 * recorded split, the end is posted, the queued rollout starts, and the
 * click's message is replaced with the result. Safe under redelivery: a
 * second delivery restores nothing twice and posts nothing twice.
 */
import type { DeadLetterStore, SlackResponder } from '../ports';
import { decodeMessage, RolloutStop, TOPICS, type PubsubMessage } from '../domain/messages';
import { decidedMessage, stoppedText } from '../domain/interactions';
import { recordRejection } from './dead-letter';
import { settleStop, type RolloutDeps } from './rollout';

interface RolloutStopDeps extends RolloutDeps {
  responder: SlackResponder;
  deadLetters: Pick<DeadLetterStore, 'createDeadLetter'>;
}

interface RolloutStopResult {
  outcome: 'settled' | 'unchanged' | 'rejected';
  reason: string;
}

/** Throws only what is worth a redelivery (a transient Cloud Run or Firestore error). */
export async function handleRolloutStop(
  deps: RolloutStopDeps,
  message: PubsubMessage,
): Promise<RolloutStopResult> {
  const messageId = message.messageId ?? message.message_id;
  const decoded = decodeMessage(RolloutStop, message.data, 'rollout stop');
  if (!decoded.ok) {
    await recordRejection({ ...deps, store: deps.deadLetters }, TOPICS.rolloutStops, message, decoded.reason);
    deps.log.warn('rollout stop rejected', { messageId, outcome: 'rejected', reason: decoded.reason });
    return { outcome: 'rejected', reason: decoded.reason };
  }
  const stop = decoded.value;
  const log = deps.log.child({ messageId, rolloutId: stop.rolloutId });
  const settled = await settleStop(deps, stop);
  if (settled.kind === 'unchanged') {
    log.info('rollout stop changed nothing', { outcome: 'unchanged', reason: settled.reason });
    return { outcome: 'unchanged', reason: settled.reason };
  }
  const result = stoppedText(stop, settled.restored.length);
  log.info('rollout stop settled', {
    outcome: 'settled',
    service: settled.rollout.service,
    restored: settled.restored,
    posted: settled.posted,
  });
  // Only the delivery that posted the end answers: a redelivery must not tell the channel twice.
  if (settled.posted && stop.responseUrl) {
    if (!(await deps.responder.respond(stop.responseUrl, decidedMessage(stop.original, result))))
      log.warn('rollout stop result not delivered to response_url', { outcome: 'settled' });
  }
  return { outcome: 'settled', reason: result };
}
