/**
 * Cloud Function `jobTrigger`: Pub/Sub CloudEvents from
 * `glidepath-job-triggers` (Cloud Scheduler, `glidepath jobs run`, replays).
 * decode → decide → job run → `job-run` workflow; throwing means "redeliver".
 */
import * as functions from '@google-cloud/functions-framework';
import { TOPICS } from '../domain/messages';
import { handleJobTrigger } from '../usecases/jobs';
import { recordRejection } from '../usecases/dead-letter';
import { unwrapPubsubEvent, type PubsubEventData } from './pubsub-event';
import { runtime } from './runtime';

async function jobTrigger(event: functions.CloudEvent<PubsubEventData>): Promise<void> {
  const rt = runtime();
  const deps = {
    policy: rt.policy,
    store: rt.jobStore,
    deadLetters: rt.deadLetters,
    launcher: rt.launcher,
    notifier: rt.notifier,
    clock: rt.clock,
    log: rt.log.child({ function: 'job-trigger' }),
  };
  const unwrapped = unwrapPubsubEvent(event);
  if (!unwrapped.ok) {
    await recordRejection(
      { ...deps, store: rt.deadLetters },
      TOPICS.jobTriggers,
      unwrapped.message,
      unwrapped.reason,
    );
    deps.log.warn('job trigger rejected', {
      messageId: event.id,
      outcome: 'rejected',
      reason: unwrapped.reason,
    });
    return;
  }
  await handleJobTrigger(deps, unwrapped.message);
}

functions.cloudEvent('jobTrigger', jobTrigger);
