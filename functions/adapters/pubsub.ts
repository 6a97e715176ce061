/** Publishes to Pub/Sub with the real client; SDK errors become our own codes. */
import type { PubSub } from '@google-cloud/pubsub';
import type { Publisher } from '../ports';
import { fromSdkError } from '../shared/errors';

export class PubsubPublisher implements Publisher {
  constructor(private readonly pubsub: PubSub) {}

  async publish(topic: string, data: Buffer, attributes: Record<string, string>): Promise<string> {
    try {
      return await this.pubsub.topic(topic).publishMessage({ data, attributes });
    } catch (err) {
      throw fromSdkError(err, `publish to ${topic}`);
    }
  }
}
