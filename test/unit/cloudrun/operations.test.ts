/**
 * awaitOperation tells an operation that finished with an error (final,
 * whatever its code) from an RPC error while polling (mapped as any RPC error).
 */
import { EventEmitter } from 'node:events';
import { awaitOperation } from '../../../functions/adapters/operations';
import { GlidepathError } from '../../../functions/shared/errors';

const INTERNAL = 13;
const UNAVAILABLE = 14;

/** A google-gax Operation as far as awaitOperation sees it. */
function operation(error: { code: number; message: string }, latestResponse: { done: boolean }) {
  const emitter = new EventEmitter();
  return Object.assign(emitter, {
    name: 'projects/p/locations/r/operations/op-1',
    latestResponse,
    promise: () => Promise.reject(Object.assign(new Error(error.message), error)),
  });
}

const outcome = (op: ReturnType<typeof operation>) =>
  awaitOperation(op, 1000, 'deploy revision r-1').then(
    () => {
      throw new Error('expected awaitOperation to reject');
    },
    (e: unknown) => e as GlidepathError,
  );

test('an operation that finished with code 13 is final: "failed", not transient', async () => {
  const err = await outcome(
    operation(
      { code: INTERNAL, message: "Revision 'r-1' is not ready and cannot serve traffic." },
      { done: true },
    ),
  );
  expect(err).toBeInstanceOf(GlidepathError);
  expect(err.code).toBe('failed');
  expect(err.transient).toBe(false);
  expect(err.message).toBe(
    "deploy revision r-1: operation projects/p/locations/r/operations/op-1 failed: Revision 'r-1' is not ready and cannot serve traffic.",
  );
});

test('an operation that finished with code 14 is final too: the code of a done operation does not matter', async () => {
  const err = await outcome(operation({ code: UNAVAILABLE, message: 'unavailable' }, { done: true }));
  expect(err.code).toBe('failed');
  expect(err.transient).toBe(false);
});

test('an RPC error with code 14 while the operation runs keeps its mapping: transient', async () => {
  const err = await outcome(operation({ code: UNAVAILABLE, message: 'unavailable' }, { done: false }));
  expect(err).toBeInstanceOf(GlidepathError);
  expect(err.code).toBe('unavailable');
  expect(err.transient).toBe(true);
});
