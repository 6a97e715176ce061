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
 * "Nothing more happened": watches `deliveries` through the whole redelivery
 * window and fails at the first sign of a second delivery. The window must
 * cover the subscription's ack deadline (a push left unanswered is
 * redelivered after it) and its minimum backoff (a refused push, after that).
 */
export async function expectNoRedelivery(
  what: string,
  deliveries: () => number,
  windowMs: number,
): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < windowMs) {
    const n = deliveries();
    if (n !== 1) throw new Error(`${what}: expected exactly one delivery in ${windowMs} ms, saw ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const n = deliveries();
  if (n !== 1) throw new Error(`${what}: expected exactly one delivery in ${windowMs} ms, saw ${n}`);
}
