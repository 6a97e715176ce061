import type { CloudEvent } from '@google-cloud/functions-framework';
import { PubsubMessage, topicOf } from '../domain/messages';

/** The CloudEvent data of a Pub/Sub message (Eventarc, or a raw push converted by the functions-framework). */
export interface PubsubEventData {
  message?: unknown;
  subscription?: string;
}

export type Unwrapped =
  | { ok: true; topic: string | undefined; message: PubsubMessage }
  | {
      ok: false;
      topic: string | undefined;
      reason: string;
      /** The unreadable event data, base64-encoded as a message payload, so a record of it keeps it all. */
      message: PubsubMessage;
    };

/**
 * Pulls the message and its topic out of the CloudEvent. The topic comes
 * from the event source (`//pubsub.googleapis.com/projects/P/topics/T`) or,
 * failing that, from the subscription's name.
 */
export function unwrapPubsubEvent(event: CloudEvent<PubsubEventData>): Unwrapped {
  const topic =
    topicOf(/\/topics\/([^/]+)$/.exec(event.source ?? '')?.[1]) ?? topicOf(event.data?.subscription);
  const parsed = PubsubMessage.safeParse(event.data?.message);
  if (!parsed.success) {
    return {
      ok: false,
      topic,
      reason: `message: expected a Pub/Sub message with base64 data, got ${JSON.stringify(event.data?.message)?.slice(0, 80)}`,
      message: {
        messageId: event.id,
        data: Buffer.from(JSON.stringify(event.data ?? null)).toString('base64'),
      },
    };
  }
  const message = parsed.data;
  if (!message.messageId && !message.message_id && event.id) message.messageId = event.id;
  return { ok: true, topic, message };
}
