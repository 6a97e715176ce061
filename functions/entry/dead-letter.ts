/**
 * Cloud Function `deadLetter`: Pub/Sub CloudEvents from
 * `glidepath-dead-letters`. Records each message in Firestore `deadLetters`
 * and tells Slack once; a Slack outage never loses the record.
 */
import * as functions from '@google-cloud/functions-framework';
import { handleDeadLetter } from '../usecases/dead-letter';
import { unwrapPubsubEvent, type PubsubEventData } from './pubsub-event';
import { runtime } from './runtime';

async function deadLetter(event: functions.CloudEvent<PubsubEventData>): Promise<void> {
  const rt = runtime();
  const unwrapped = unwrapPubsubEvent(event);
  // A dead letter whose envelope is unreadable is still kept, with the raw event as its payload.
  await handleDeadLetter(
    {
      store: rt.deadLetters,
      notifier: rt.notifier,
      clock: rt.clock,
      log: rt.log.child({ function: 'dead-letter' }),
    },
    unwrapped.message,
  );
}

functions.cloudEvent('deadLetter', deadLetter);
