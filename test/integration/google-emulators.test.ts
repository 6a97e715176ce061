import { Firestore } from '@google-cloud/firestore';
import { PubSub, v1 } from '@google-cloud/pubsub';
import { localClientOptions } from '../../functions/shared/endpoint';
import { describeWithEmulators, testProjectId } from '../helpers/emulators';
import { resetFirestore } from '../../emulators/google';

describeWithEmulators('Google emulators', () => {
  const projectId = testProjectId(__filename);

  it('serves Firestore through the real client, and resets per project', async () => {
    const db = new Firestore({ projectId });
    await db.doc('probe/one').set({ ok: true });
    expect((await db.doc('probe/one').get()).data()).toEqual({ ok: true });
    await resetFirestore(process.env.FIRESTORE_EMULATOR_HOST!, projectId);
    expect((await db.doc('probe/one').get()).exists).toBe(false);
    await db.terminate();
  });

  it('serves Pub/Sub through the real client', async () => {
    const pubsub = new PubSub({ projectId });
    const [topic] = await pubsub.createTopic('probe');
    const [sub] = await topic.createSubscription('probe-sub');
    await topic.publishMessage({ json: { hello: 'world' } });
    const client = new v1.SubscriberClient({
      ...localClientOptions(process.env.PUBSUB_EMULATOR_HOST),
      projectId,
    });
    const [res] = await client.pull({ subscription: sub.name, maxMessages: 1 });
    expect(JSON.parse(Buffer.from(res.receivedMessages![0].message!.data as Uint8Array).toString())).toEqual({
      hello: 'world',
    });
    await client.close();
    await pubsub.close();
  });
});
