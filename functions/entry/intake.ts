/**
 * Cloud Function `intake`: Pub/Sub CloudEvents from the `gcr`,
 * `cloud-builds` and `glidepath-deploy-requests` topics.
 * decode → validate → use case; throwing means "redeliver".
 */
import * as functions from '@google-cloud/functions-framework';
import { handleIntake } from '../usecases/intake';
import { unwrapPubsubEvent, type PubsubEventData } from './pubsub-event';
import { runtime } from './runtime';

export async function intake(event: functions.CloudEvent<PubsubEventData>): Promise<void> {
  const rt = runtime();
  const unwrapped = unwrapPubsubEvent(event);
  await handleIntake(
    {
      policy: rt.policy,
      store: rt.store,
      deadLetters: rt.jobStore,
      launcher: rt.launcher,
      notifier: rt.notifier,
      clock: rt.clock,
      log: rt.log,
      dedupTtlSeconds: rt.config.GLIDEPATH_DEDUP_TTL_SECONDS,
    },
    unwrapped.topic,
    // An unreadable envelope is judged (and rejected) with the raw event as its payload.
    unwrapped.message,
  );
}

functions.cloudEvent('intake', intake);
