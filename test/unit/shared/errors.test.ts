/**
 * Error classes: only known transient causes are retried (Pub/Sub
 * redelivery, the workflow's retry policy); anything else is permanent and
 * fails with its message. One case per class, and the rollout workflow's own
 * retry predicate run on the real YAML against a stub actions endpoint.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { GlidepathError, fromSdkError, type ErrorCode } from '../../../functions/shared/errors';
import { ValidationError } from '../../../functions/domain/validation';
import { runWorkflow } from '../../../emulators/workflows';

const grpc = (code: number, details = 'boom') =>
  Object.assign(new Error(`${code} X: ${details}`), { code, details });
const network = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('fromSdkError classifies every cause', () => {
  const cases: Array<[string, unknown, ErrorCode, boolean]> = [
    // The four transient gRPC codes (google/rpc/code.proto).
    ['gRPC UNAVAILABLE', grpc(14), 'unavailable', true],
    ['gRPC RESOURCE_EXHAUSTED', grpc(8), 'unavailable', true],
    ['gRPC ABORTED', grpc(10), 'conflict', true],
    ['gRPC DEADLINE_EXCEEDED', grpc(4), 'deadline', true],
    // Every other gRPC code is permanent.
    ['gRPC CANCELLED', grpc(1), 'internal', false],
    ['gRPC UNKNOWN', grpc(2), 'internal', false],
    ['gRPC INVALID_ARGUMENT', grpc(3), 'invalid', false],
    ['gRPC NOT_FOUND', grpc(5), 'not_found', false],
    ['gRPC ALREADY_EXISTS', grpc(6), 'internal', false],
    ['gRPC PERMISSION_DENIED', grpc(7), 'permission', false],
    ['gRPC FAILED_PRECONDITION', grpc(9), 'invalid', false],
    ['gRPC OUT_OF_RANGE', grpc(11), 'invalid', false],
    ['gRPC UNIMPLEMENTED', grpc(12), 'internal', false],
    ['gRPC INTERNAL', grpc(13), 'internal', false],
    ['gRPC DATA_LOSS', grpc(15), 'internal', false],
    ['gRPC UNAUTHENTICATED', grpc(16), 'permission', false],
    // HTTP: 429 and 5xx are transient, the rest permanent.
    ['HTTP 429', Object.assign(new Error('too many'), { status: 429 }), 'unavailable', true],
    ['HTTP 500', Object.assign(new Error('oops'), { status: 500 }), 'unavailable', true],
    [
      'HTTP 503 (gaxios response)',
      Object.assign(new Error('down'), { response: { status: 503 } }),
      'unavailable',
      true,
    ],
    ['HTTP 400', Object.assign(new Error('bad'), { status: 400 }), 'invalid', false],
    ['HTTP 403', Object.assign(new Error('no'), { status: 403 }), 'permission', false],
    ['HTTP 404', Object.assign(new Error('gone'), { status: 404 }), 'not_found', false],
    ['HTTP 409', Object.assign(new Error('dup'), { status: 409 }), 'internal', false],
    // Network errors are transient.
    ['ECONNRESET', network('ECONNRESET'), 'unavailable', true],
    ['ECONNREFUSED', network('ECONNREFUSED'), 'unavailable', true],
    ['ETIMEDOUT', network('ETIMEDOUT'), 'unavailable', true],
    ['EAI_AGAIN', network('EAI_AGAIN'), 'unavailable', true],
    [
      'fetch failed (socket error as cause)',
      new TypeError('fetch failed', { cause: network('UND_ERR_SOCKET') }),
      'unavailable',
      true,
    ],
    [
      'AbortSignal.timeout',
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      'deadline',
      true,
    ],
    // @google-cloud/storage's ApiError: the HTTP status in `code` (found by the real client's test).
    ['Cloud Storage 403', Object.assign(new Error('forbidden'), { code: 403 }), 'permission', false],
    ['Cloud Storage 503', Object.assign(new Error('backend error'), { code: 503 }), 'unavailable', true],
    ['Cloud Storage 429', Object.assign(new Error('rate limited'), { code: 429 }), 'unavailable', true],
    // Our own domain errors, bugs and anything unknown are permanent.
    ['a domain error', new Error('traffic must sum to 100, got 90'), 'internal', false],
    [
      'a TypeError',
      new TypeError("Cannot read properties of undefined (reading 'steps')"),
      'internal',
      false,
    ],
    ['a RangeError', new RangeError('step 7 out of range'), 'internal', false],
    [
      'a corrupt record',
      new ValidationError('corrupt rollout r1', ['plan.steps: expected array, got undefined']),
      'invalid',
      false,
    ],
    ['ENOENT (not a network error)', network('ENOENT'), 'internal', false],
    ['a thrown string', 'nope', 'internal', false],
    ['undefined', undefined, 'internal', false],
  ];
  it.each(cases)('%s', (_name, err, code, transient) => {
    const e = fromSdkError(err, 'do it');
    expect(e).toBeInstanceOf(GlidepathError);
    expect(e.code).toBe(code);
    expect(e.transient).toBe(transient);
    expect(e.message).toMatch(/^do it: /);
  });

  it('keeps a GlidepathError as it is', () => {
    const ours = new GlidepathError(
      'conflict',
      'rollout r1 is being started by another delivery; retry later',
    );
    expect(fromSdkError(ours, 'claim')).toBe(ours);
    expect(ours.transient).toBe(true);
  });

  it('names the cause with the gRPC details, not the status prefix', () => {
    expect(fromSdkError(grpc(5, 'Service s not found'), 'get service s').message).toBe(
      'get service s: Service s not found',
    );
  });
});

describe("the rollout workflow's retry predicate (workflows/rollout.workflows.yaml)", () => {
  let server: Server;
  let url: string;
  let answer = { status: 200, body: {} as unknown };
  let calls = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** The real `action` and `transient` subworkflows, called once from a one-step main. */
  const source = (() => {
    const doc = YAML.parse(
      readFileSync(join(__dirname, '../../../workflows/rollout.workflows.yaml'), 'utf8'),
    );
    return YAML.stringify({
      main: {
        params: ['args'],
        steps: [
          {
            call_it: {
              call: 'action',
              args: { actions_url: '${args.url}', name: 'deploy', body: { rolloutId: 'r1' } },
              result: 'out',
            },
          },
          { done: { return: '${out}' } },
        ],
      },
      action: doc.action,
      transient: doc.transient,
    });
  })();

  async function callWith(status: number, body: unknown) {
    answer = { status, body };
    calls = 0;
    const result = await runWorkflow(source, { url }, { sleepScale: 1000 });
    return { result, calls };
  }

  it('does not retry a permanent failure (500: a domain error such as a bad traffic split)', async () => {
    const { result, calls } = await callWith(500, {
      error: 'traffic must sum to 100, got 90',
      code: 'internal',
    });
    expect(calls).toBe(1);
    expect(result.state).toBe('FAILED');
    expect(result.state === 'FAILED' && result.error.payload).toMatch(/traffic must sum to 100/);
  });

  it.each([400, 403, 404])('does not retry %i', async (status) => {
    const { result, calls } = await callWith(status, { error: 'no' });
    expect(calls).toBe(1);
    expect(result.state).toBe('FAILED');
  });

  it.each([429, 502, 503, 504])('retries %i five times', async (status) => {
    const { result, calls } = await callWith(status, { error: 'busy' });
    expect(calls).toBe(6);
    expect(result.state).toBe('FAILED');
  });
});
