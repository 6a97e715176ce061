/**
 * The Cloud Run emulator's done-at-once operation (OperationStore.completed in
 * emulators/cloudrun/operations.ts), which Create/Update/Delete of jobs and
 * services and their validateOnly forms answer with: a google.longrunning
 * Operation in the resource's location, done, whose metadata and response are
 * both the resource packed as its own message type.
 */
import { OperationStore } from '../../../emulators/cloudrun/operations';
import { packAny } from '../../../emulators/cloudrun/protos';

const JOB_TYPE = 'google.cloud.run.v2.Job';
const job = { name: 'projects/p/locations/us-central1/jobs/nightly', generation: '2' };

test('is done at once, in the resource location, with the resource as metadata and response', () => {
  const op = new OperationStore().completed('p', 'us-central1', JOB_TYPE, () => job);
  expect(op).toEqual({
    name: expect.stringMatching(/^projects\/p\/locations\/us-central1\/operations\/[0-9a-f-]{36}$/),
    done: true,
    metadata: packAny(JOB_TYPE, job),
    response: packAny(JOB_TYPE, job),
  });
  expect(op.error).toBeUndefined();
});
