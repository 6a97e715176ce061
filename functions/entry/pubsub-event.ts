import type { CloudEvent } from '@google-cloud/functions-framework';
import { MAX_PAYLOAD_BYTES, MessageId, PubsubMessage, topicOf } from '../domain/messages';
import { boundReason, boundedJson, describeIssues, show } from '../domain/validation';

/** The CloudEvent data of a Pub/Sub message (Eventarc, or a raw push converted by the functions-framework). */
export interface PubsubEventData {
  message?: unknown;
  subscription?: string;
}

type Unwrapped =
  | { ok: true; topic: string | undefined; message: PubsubMessage }
  | {
      ok: false;
      topic: string | undefined;
      reason: string;
      /**
       * The unreadable event data, base64-encoded as a message payload, so a
       * record of it keeps it: all of it up to MAX_PAYLOAD_BYTES, the first
       * MAX_PAYLOAD_BYTES beyond that (a Firestore document holds 1 MiB).
       */
      message: PubsubMessage;
    };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Pulls the message and its topic out of the CloudEvent. The topic comes
 * from the event source (`//pubsub.googleapis.com/projects/P/topics/T`) or,
 * failing that, from the subscription's name. Never throws, whatever the
 * event holds: an unreadable envelope comes back as `ok: false` with a
 * bounded reason and payload.
 */
export function unwrapPubsubEvent(event: CloudEvent<PubsubEventData>): Unwrapped {
  // The functions-framework converts a raw push only when its message has data; a message with
  // attributes alone (which Pub/Sub allows) arrives as the push body itself, `{message, subscription}`.
  const raw: unknown = event;
  const data: unknown =
    event?.data ??
    (isRecord(raw) && isRecord(raw.message)
      ? { message: raw.message, subscription: raw.subscription }
      : undefined);
  const source = typeof event?.source === 'string' ? event.source : '';
  const subscription = isRecord(data) ? data.subscription : undefined;
  const topic =
    topicOf(/\/topics\/([^/]+)$/.exec(source)?.[1]) ??
    (typeof subscription === 'string' ? topicOf(subscription) : undefined);
  const message = isRecord(data) ? data.message : undefined;
  const parsed = PubsubMessage.safeParse(message, { reportInput: true });
  // The CloudEvent id is the message id on Pub/Sub; only a well-formed one may name a record.
  const eventId = [event?.id, isRecord(message) ? message.messageId : undefined].find(
    (id): id is string => MessageId.safeParse(id).success,
  );
  if (!parsed.success) {
    const json = boundedJson(data ?? null, MAX_PAYLOAD_BYTES);
    const bytes = Buffer.from(json.text, 'utf8');
    const kept = bytes.subarray(0, MAX_PAYLOAD_BYTES);
    const cut = json.truncated || kept.length < bytes.length;
    return {
      ok: false,
      topic,
      reason: boundReason(
        `message: expected a Pub/Sub message with base64 data, got ${show(message)} (${describeIssues(parsed.error, 'message').join('; ')})${
          cut ? `; the record keeps only the first ${MAX_PAYLOAD_BYTES} bytes of the event` : ''
        }`,
      ),
      message: {
        ...(eventId ? { messageId: eventId } : {}),
        data: kept.toString('base64'),
      },
    };
  }
  const unwrapped = parsed.data;
  if (!unwrapped.messageId && !unwrapped.message_id && eventId) unwrapped.messageId = eventId;
  return { ok: true, topic, message: unwrapped };
}
