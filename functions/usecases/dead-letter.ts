/**
 * Dead letters: rejected messages, messages Pub/Sub gave up on, and job
 * runs that failed every attempt, all in Firestore `deadLetters`. The record
 * is written before Slack is told, so a Slack outage never loses one; a
 * replay republishes the original message once.
 */
import { createHash } from 'node:crypto';
import type { Clock, DeadLetterStore, Notifier, Publisher } from '../ports';
import type { PubsubMessage } from '../domain/messages';
import { topicOf } from '../domain/messages';
import type { DeadLetterRecord } from '../domain/records';
import { undeliverableMessage } from '../domain/jobs';
import * as slack from '../domain/slack';
import { GlidepathError } from '../shared/errors';
import type { Logger } from '../shared/log';

/** Marks Glidepath's own dead-letter messages (already recorded and announced by whoever published them). */
export const KIND_ATTRIBUTE = 'glidepathKind';
const REPLAY_ATTRIBUTE = 'replayOf';
const PUBSUB_DEAD_LETTER_PREFIX = 'CloudPubSubDeadLetter';

export interface DeadLetterDeps {
  store: Pick<DeadLetterStore, 'createDeadLetter'>;
  notifier: Notifier;
  clock: Clock;
  log: Logger;
}

const messageIdOf = (m: PubsubMessage): string | undefined => m.messageId ?? m.message_id;
const fallbackId = (m: PubsubMessage): string =>
  createHash('sha256')
    .update(m.data ?? '')
    .digest('hex')
    .slice(0, 24);

/** Records a rejected inbound message (acknowledged, never retried) and tells Slack the first time. */
export async function recordRejection(
  deps: DeadLetterDeps,
  topic: string,
  message: PubsubMessage,
  reason: string,
): Promise<void> {
  const messageId = messageIdOf(message);
  const created = await deps.store.createDeadLetter({
    id: `rejected-${messageId ?? fallbackId(message)}`,
    kind: 'rejected',
    source: topic,
    reason,
    ...(message.data !== undefined ? { data: message.data } : {}),
    attributes: message.attributes ?? {},
    ...(messageId ? { messageId } : {}),
    createdAt: deps.clock.now().toISOString(),
    replayed: false,
  });
  if (created) await deps.notifier.notify(slack.messageRejected(topic, reason, messageId));
}

/**
 * A message on `glidepath-dead-letters`. Pub/Sub's own dead letters carry
 * the source subscription and delivery count as attributes; Glidepath's
 * job-failed messages carry `glidepathKind` and are already recorded.
 */
export async function handleDeadLetter(
  deps: DeadLetterDeps,
  message: PubsubMessage,
): Promise<{ outcome: 'recorded' | 'duplicate' | 'ignored'; id?: string }> {
  const attributes = message.attributes ?? {};
  const messageId = messageIdOf(message);
  const log = deps.log.child({ messageId });
  if (attributes[KIND_ATTRIBUTE]) {
    log.info('dead letter already recorded by its publisher', {
      outcome: 'ignored',
      reason: `${KIND_ATTRIBUTE}=${attributes[KIND_ATTRIBUTE]}`,
      deadLetterId: attributes.deadLetterId,
    });
    return { outcome: 'ignored' };
  }
  const subscription = attributes[`${PUBSUB_DEAD_LETTER_PREFIX}SourceSubscription`];
  const count = Number(attributes[`${PUBSUB_DEAD_LETTER_PREFIX}SourceDeliveryCount`]);
  const deliveryCount = Number.isInteger(count) ? count : undefined;
  const record: DeadLetterRecord = {
    id: `undeliverable-${messageId ?? fallbackId(message)}`,
    kind: 'undeliverable',
    source: topicOf(subscription) ?? 'unknown',
    ...(subscription ? { subscription } : {}),
    reason: `not acknowledged after ${deliveryCount ?? 'the maximum number of'} deliveries${subscription ? ` on subscription ${subscription}` : ''}`,
    ...(message.data !== undefined ? { data: message.data } : {}),
    attributes,
    ...(messageId ? { messageId } : {}),
    ...(deliveryCount !== undefined ? { deliveryCount } : {}),
    createdAt: deps.clock.now().toISOString(),
    replayed: false,
  };
  const created = await deps.store.createDeadLetter(record);
  if (!created) {
    log.info('dead letter already recorded', { outcome: 'duplicate', deadLetterId: record.id });
    return { outcome: 'duplicate', id: record.id };
  }
  // The record is safe in Firestore; a Slack failure is logged by the notifier and must not make Pub/Sub redeliver.
  const told = await deps.notifier.notify(undeliverableMessage(record));
  log.warn('message dead-lettered', {
    outcome: 'recorded',
    deadLetterId: record.id,
    source: record.source,
    subscription,
    deliveryCount,
    slack: told,
  });
  return { outcome: 'recorded', id: record.id };
}

interface ReplayDeps {
  store: Pick<DeadLetterStore, 'getDeadLetter' | 'claimReplay' | 'recordReplay' | 'releaseReplay'>;
  publisher: Publisher;
  clock: Clock;
}

type ReplayResult =
  { kind: 'replayed'; topic: string; messageId: string } | { kind: 'refused'; reason: string };

/** The original attributes, without Pub/Sub's dead-letter bookkeeping, plus `replayOf`. */
function replayAttributes(record: DeadLetterRecord): Record<string, string> {
  const kept = Object.entries(record.attributes).filter(
    ([k]) => !k.startsWith(PUBSUB_DEAD_LETTER_PREFIX) && k !== REPLAY_ATTRIBUTE,
  );
  return { ...Object.fromEntries(kept), [REPLAY_ATTRIBUTE]: record.id };
}

/**
 * Republishes a dead letter's original payload and attributes to its source
 * topic. The record is marked replayed in a transaction first, so a second
 * replay (or a concurrent one) is refused; a failed publish gives it back.
 */
export async function replayDeadLetter(deps: ReplayDeps, id: string, by: string): Promise<ReplayResult> {
  const record = await deps.store.getDeadLetter(id);
  if (!record) throw new GlidepathError('not_found', `dead letter ${id} not found`);
  if (!topicOf(record.source))
    return {
      kind: 'refused',
      reason: `dead letter ${id}: its source ${JSON.stringify(record.source)} is not a Glidepath topic, so there is nowhere to replay it`,
    };
  const claim = await deps.store.claimReplay(id, by, deps.clock.now());
  if (claim.kind === 'refused') return claim;
  let messageId: string;
  try {
    messageId = await deps.publisher.publish(
      record.source,
      Buffer.from(record.data ?? '', 'base64'),
      replayAttributes(record),
    );
  } catch (err) {
    await deps.store.releaseReplay(id);
    throw err;
  }
  await deps.store.recordReplay(id, messageId);
  return { kind: 'replayed', topic: record.source, messageId };
}
