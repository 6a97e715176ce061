/**
 * Cloud Function `rolloutStops`: Pub/Sub CloudEvents from
 * `glidepath-rollout-stops`, published by slack-interactions once it has
 * recorded an Abort / Roll back now. decode → validate (zod) → settle the
 * stop → answer the click's response_url; throwing means "redeliver"
 * (a bad message is recorded and acknowledged, never retried).
 */
import * as functions from '@google-cloud/functions-framework';
import { TOPICS } from '../domain/messages';
import { rolloutDeps } from '../actions/rollout';
import { recordRejection } from '../usecases/dead-letter';
import { handleRolloutStop } from '../usecases/stops';
import { unwrapPubsubEvent, type PubsubEventData } from './pubsub-event';
import { runtime } from './runtime';

async function rolloutStops(event: functions.CloudEvent<PubsubEventData>): Promise<void> {
  const rt = runtime();
  const log = rt.log.child({ function: 'rollout-stops' });
  const unwrapped = unwrapPubsubEvent(event);
  if (!unwrapped.ok) {
    await recordRejection(
      { store: rt.deadLetters, notifier: rt.notifier, clock: rt.clock, log },
      TOPICS.rolloutStops,
      unwrapped.message,
      unwrapped.reason,
    );
    log.warn('rollout stop rejected', { messageId: event.id, outcome: 'rejected', reason: unwrapped.reason });
    return;
  }
  await handleRolloutStop(
    { ...rolloutDeps({ rt, log }), responder: rt.responder, deadLetters: rt.deadLetters },
    unwrapped.message,
  );
}

functions.cloudEvent('rolloutStops', rolloutStops);
