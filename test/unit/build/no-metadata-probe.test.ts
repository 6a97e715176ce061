/**
 * Clients pointed at the local cloud never look for Google credentials (issue #13, item 13).
 * google-gax checks the universe domain before a client's first call; unless it is named,
 * google-auth looks for Application Default Credentials and probes the GCE metadata server,
 * which prints a MetadataLookupWarning per client on any machine that is not on GCE.
 */
import { ExecutionsClient } from '@google-cloud/workflows';
import { MetricServiceClient } from '@google-cloud/monitoring';
import { ServicesClient } from '@google-cloud/run';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { GoogleAuth as GaxGoogleAuth } from 'google-gax';
import {
  firestoreEmulatorOptions,
  localClientOptions,
  pubsubEmulatorOptions,
} from '../../../functions/shared/endpoint';

/** Nothing listens there: each call fails fast, after the client set itself up. */
const NOWHERE = '127.0.0.1:9';
const saved = { pubsub: process.env.PUBSUB_EMULATOR_HOST, firestore: process.env.FIRESTORE_EMULATOR_HOST };
let getClient: jest.SpyInstance;

beforeEach(() => {
  process.env.PUBSUB_EMULATOR_HOST = NOWHERE;
  process.env.FIRESTORE_EMULATOR_HOST = NOWHERE;
  getClient = jest.spyOn(GaxGoogleAuth.prototype, 'getClient');
});
afterEach(() => {
  getClient.mockRestore();
  for (const [key, value] of [
    ['PUBSUB_EMULATOR_HOST', saved.pubsub],
    ['FIRESTORE_EMULATOR_HOST', saved.firestore],
  ] as const)
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
});

/** Waits for the call to fail, or at most `ms`: by then the client has created its stub. */
const settle = (call: Promise<unknown>, ms = 1500) =>
  Promise.race([call.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, ms))]);

test('the Cloud Run, Monitoring and Workflows clients on localClientOptions', async () => {
  const options = localClientOptions(NOWHERE);
  const executions = new ExecutionsClient(options);
  const monitoring = new MetricServiceClient(options);
  const services = new ServicesClient(options);
  await settle(
    executions.getExecution({ name: 'projects/p/locations/l/workflows/w/executions/e' }, { timeout: 500 }),
  );
  await settle(monitoring.listTimeSeries({ name: 'projects/p' }, { timeout: 500, autoPaginate: false }));
  await settle(services.getService({ name: 'projects/p/locations/l/services/s' }, { timeout: 500 }));
  await Promise.all([executions.close(), monitoring.close(), services.close()]);
  expect(getClient).not.toHaveBeenCalled();
});

test('Firestore and Pub/Sub on their emulator variables', async () => {
  // Firestore's get has no timeout and retries against nothing for minutes; terminated under it,
  // it rejects later inside the client and fails whichever test file runs next in this worker.
  // So it talks to the run's real emulator when there is one, and is awaited to the end.
  if (saved.firestore) process.env.FIRESTORE_EMULATOR_HOST = saved.firestore;
  const firestore = new Firestore({ projectId: 'p', ...firestoreEmulatorOptions() });
  const pubsub = new PubSub({ projectId: 'p', ...pubsubEmulatorOptions() });
  const read = firestore.collection('c').doc('d').get();
  await (saved.firestore ? read : settle(read));
  await settle(pubsub.topic('t').getMetadata({ timeout: 500 }));
  await Promise.all([firestore.terminate(), pubsub.close()]);
  expect(getClient).not.toHaveBeenCalled();
});

test('the options say nothing where no emulator is set, so Google’s endpoints use real credentials', () => {
  delete process.env.PUBSUB_EMULATOR_HOST;
  delete process.env.FIRESTORE_EMULATOR_HOST;
  expect(localClientOptions(undefined)).toEqual({});
  expect(firestoreEmulatorOptions()).toEqual({});
  expect(pubsubEmulatorOptions()).toEqual({});
});
