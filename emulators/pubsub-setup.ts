import type { PubSub } from '@google-cloud/pubsub';

/** Creates the topic if it does not exist yet. */
export async function ensureTopic(pubsub: PubSub, name: string): Promise<void> {
  const [exists] = await pubsub.topic(name).exists();
  if (!exists)
    await pubsub.createTopic(name).catch((e: { code?: number }) => {
      if (e.code !== 6) throw e; // ALREADY_EXISTS: created concurrently
    });
}

interface PushSubscriptionOptions {
  topic: string;
  name: string;
  endpoint: string;
  deadLetterTopic?: string;
  maxDeliveryAttempts?: number;
  /** Seconds; Pub/Sub's minimum is 10. */
  ackDeadlineSeconds?: number;
  minimumBackoffSeconds?: number;
}

/** A push subscription like the one Terraform creates, with its dead-letter and retry policies. */
export async function ensurePushSubscription(pubsub: PubSub, o: PushSubscriptionOptions): Promise<void> {
  await ensureTopic(pubsub, o.topic);
  if (o.deadLetterTopic) await ensureTopic(pubsub, o.deadLetterTopic);
  const [exists] = await pubsub.subscription(o.name).exists();
  if (exists) await pubsub.subscription(o.name).delete();
  await pubsub.topic(o.topic).createSubscription(o.name, {
    pushConfig: { pushEndpoint: o.endpoint },
    ackDeadlineSeconds: o.ackDeadlineSeconds ?? 10,
    retryPolicy: {
      minimumBackoff: { seconds: o.minimumBackoffSeconds ?? 1 },
      maximumBackoff: { seconds: 10 },
    },
    ...(o.deadLetterTopic
      ? {
          deadLetterPolicy: {
            deadLetterTopic: pubsub.topic(o.deadLetterTopic).name,
            maxDeliveryAttempts: o.maxDeliveryAttempts ?? 5,
          },
        }
      : {}),
  });
}
