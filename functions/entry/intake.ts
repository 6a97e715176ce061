/**
 * Cloud Function `intake`: Pub/Sub CloudEvents from the `gcr`,
 * `cloud-builds` and `glidepath-deploy-requests` topics.
 * decode → validate → use case; throwing means "redeliver".
 */
import * as functions from '@google-cloud/functions-framework';
import { handleIntake } from '../usecases/intake';
import { recordRejection } from '../usecases/dead-letter';
import { unwrapPubsubEvent, type PubsubEventData } from './pubsub-event';
import { runtime } from './runtime';

async function intake(event: functions.CloudEvent<PubsubEventData>): Promise<void> {
  const rt = runtime();
  const deps = {
    policy: rt.policy,
    store: rt.store,
    deadLetters: rt.deadLetters,
    launcher: rt.launcher,
    notifier: rt.notifier,
    clock: rt.clock,
    log: rt.log,
    dedupTtlSeconds: rt.config.GLIDEPATH_DEDUP_TTL_SECONDS,
    jobRollouts: rt.jobRollouts,
    metrics: rt.metrics(),
    timeScale: rt.config.GLIDEPATH_TIME_SCALE,
  };
  const unwrapped = unwrapPubsubEvent(event);
  if (!unwrapped.ok) {
    // Rejected for what is wrong with the envelope itself, with the raw event kept as its payload.
    await recordRejection(
      { ...deps, store: rt.deadLetters },
      unwrapped.topic ?? 'unknown',
      unwrapped.message,
      unwrapped.reason,
    );
    rt.log.warn('intake message rejected', {
      messageId: event.id,
      outcome: 'rejected',
      reason: unwrapped.reason,
    });
    return;
  }
  await handleIntake(deps, unwrapped.topic, unwrapped.message);
}

functions.cloudEvent('intake', intake);
