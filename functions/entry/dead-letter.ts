/**
 * Cloud Function `deadLetter`: Pub/Sub CloudEvents from
 * `glidepath-dead-letters`. Records each message in Firestore `deadLetters`
 * and tells Slack once; a Slack outage never loses the record.
 */
import * as functions from '@google-cloud/functions-framework';
import { FirestoreJobStore } from '../adapters/job-store';
import { handleDeadLetter } from '../usecases/dead-letter';
import { unwrapPubsubEvent, type PubsubEventData } from './pubsub-event';
import { runtime } from './runtime';

export async function deadLetter(event: functions.CloudEvent<PubsubEventData>): Promise<void> {
  const rt = runtime();
  const unwrapped = unwrapPubsubEvent(event);
  // A dead letter whose envelope is unreadable is still kept: the raw event goes in as the payload.
  const message = unwrapped.ok
    ? unwrapped.message
    : { messageId: event.id, data: Buffer.from(JSON.stringify(unwrapped.raw ?? null)).toString('base64') };
  await handleDeadLetter(
    {
      store: new FirestoreJobStore(rt.firestore),
      notifier: rt.notifier,
      clock: rt.clock,
      log: rt.log.child({ function: 'dead-letter' }),
    },
    message,
  );
}

functions.cloudEvent('deadLetter', deadLetter);
