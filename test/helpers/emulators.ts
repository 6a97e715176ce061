import { createHash } from 'node:crypto';

/** True when the Google emulators are running for this test run. */
function emulatorsAvailable(): boolean {
  return Boolean(process.env.PUBSUB_EMULATOR_HOST && process.env.FIRESTORE_EMULATOR_HOST);
}

/**
 * `describe`, or a skip that says why when the emulators are missing. Never a
 * skip under CI=true, whatever else is set: there the suite runs, and fails
 * if the emulators are not there.
 */
export const describeWithEmulators: jest.Describe =
  process.env.CI === 'true' || emulatorsAvailable()
    ? describe
    : (Object.assign(
        (name: string, fn: () => void) => describe.skip(`${name} (emulators missing)`, fn),
        describe,
      ) as jest.Describe);

/**
 * A Firestore/Pub/Sub project id of this test file's own, so that files
 * running in parallel on the shared emulators never see each other's data.
 */
export function testProjectId(file: string, salt = ''): string {
  return `test-${createHash('sha1')
    .update(file + salt)
    .digest('hex')
    .slice(0, 10)}`;
}

/**
 * The ack deadline of the suites' push subscriptions: Pub/Sub's own minimum (pubsub.proto,
 * Subscription.ack_deadline_seconds: "The minimum custom deadline you can specify is 10 seconds").
 * Google's emulator takes less, but at 2 s a handler slowed down by a loaded machine was
 * redelivered: a real redelivery, which then read as a failed "exactly one delivery" check or as
 * the outcome of a duplicate. Subscriptions using it set a minimum backoff of 0.
 */
export const ACK_DEADLINE_SECONDS = 10;

/** A push unanswered for the ack deadline, or refused (redelivered at once: minimum backoff 0), shows up by then. */
const REDELIVERY_WINDOW_MS = ACK_DEADLINE_SECONDS * 1000 + 3000;

/**
 * "Nothing more happened": watches `deliveries` through the whole redelivery
 * window and fails at the first sign of a second delivery, on a subscription
 * with ACK_DEADLINE_SECONDS and a minimum backoff of 0.
 */
export async function expectNoRedelivery(what: string, deliveries: () => number): Promise<void> {
  const windowMs = REDELIVERY_WINDOW_MS;
  const start = Date.now();
  while (Date.now() - start < windowMs) {
    const n = deliveries();
    if (n !== 1) throw new Error(`${what}: expected exactly one delivery in ${windowMs} ms, saw ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const n = deliveries();
  if (n !== 1) throw new Error(`${what}: expected exactly one delivery in ${windowMs} ms, saw ${n}`);
}
