/**
 * google.longrunning.Operations for the Cloud Run emulator. An operation's
 * state is computed from the resource it tracks each time it is read, so
 * there is no second copy of the truth to keep in sync.
 */
import { randomUUID } from 'node:crypto';
import { grpcService, packAny, RpcError, Status } from './protos';
import type { Json } from './resources';
import type { FaultInjector } from '../faults';

export type OperationOutcome =
  { done: false } | { done: true; response: Json } | { done: true; error: { code: number; message: string } };

interface OperationRecord {
  name: string;
  /** The message type of both metadata and response, e.g. google.cloud.run.v2.Service. */
  type: string;
  metadata: () => Json;
  poll: () => OperationOutcome;
}

export class OperationStore {
  private readonly operations = new Map<string, OperationRecord>();
  private readonly waiters = new Set<() => void>();
  private stopped = false;

  constructor(private readonly faults?: FaultInjector) {}

  create(
    project: string,
    location: string,
    type: string,
    metadata: () => Json,
    poll: () => OperationOutcome,
  ): Json {
    const name = `projects/${project}/locations/${location}/operations/${randomUUID()}`;
    // A stalled operation reports not-done until the stall passes, whatever its resource says.
    const stallMs = this.faults?.fire('run.operation', name)?.delayMs ?? 0;
    if (stallMs > 0) {
      const until = Date.now() + stallMs;
      const inner = poll;
      poll = () => (Date.now() < until ? { done: false } : inner());
      setTimeout(() => this.changed(), stallMs).unref();
    }
    this.operations.set(name, { name, type, metadata, poll });
    return this.toProto(this.operations.get(name)!);
  }

  /**
   * An operation that is done at once, its metadata and response both the
   * resource as it is when the operation is read (an update may replace it).
   */
  completed(project: string, location: string, type: string, resource: () => Json): Json {
    return this.create(project, location, type, resource, () => ({ done: true, response: resource() }));
  }

  /** Wakes WaitOperation callers; the emulator calls it on every state change. */
  changed(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private get(name: unknown): OperationRecord {
    const op = typeof name === 'string' ? this.operations.get(name) : undefined;
    if (!op) throw new RpcError(Status.NOT_FOUND, `Operation ${JSON.stringify(name ?? '')} not found.`);
    return op;
  }

  private toProto(op: OperationRecord): Json {
    const outcome = op.poll();
    const proto: Json = { name: op.name, metadata: packAny(op.type, op.metadata()), done: outcome.done };
    if (outcome.done && 'response' in outcome) proto.response = packAny(op.type, outcome.response);
    if (outcome.done && 'error' in outcome)
      proto.error = { code: outcome.error.code, message: outcome.error.message, details: [] };
    return proto;
  }

  private async wait(op: OperationRecord, timeoutMs: number): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stopped && !op.poll().done && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
        this.waiters.add(done);
      });
    }
    return this.toProto(op);
  }

  /** Releases WaitOperation callers, e.g. when the emulator stops. */
  releaseWaiters(): void {
    this.stopped = true;
    this.changed();
  }

  grpc(): ReturnType<typeof grpcService> {
    return grpcService('google.longrunning.Operations', {
      GetOperation: (req) => this.toProto(this.get(req.name)),
      ListOperations: (req) => {
        const prefix = `${String(req.name ?? '')}/operations/`;
        const operations = [...this.operations.values()]
          .filter((o) => o.name.startsWith(prefix))
          .map((o) => this.toProto(o));
        return { operations, nextPageToken: '' };
      },
      DeleteOperation: (req) => {
        this.get(req.name);
        this.operations.delete(req.name as string);
        return {};
      },
      WaitOperation: (req) => {
        const t = req.timeout as { seconds?: string; nanos?: number } | undefined;
        const timeoutMs = t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : 60_000;
        return this.wait(this.get(req.name), timeoutMs);
      },
    });
  }
}
