/**
 * The Workflows Executions API (google.cloud.workflows.executions.v1) over
 * gRPC, from the .proto files shipped in @google-cloud/workflows, so the real
 * ExecutionsClient works unchanged. Workflows come from `<name>.workflows.yaml`
 * (or .yml/.json) files in a folder, read when an execution is created.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createLogger, type Logger } from '../../functions/shared/log';
import { CallbackServer } from './callbacks';
import { type Program, compileWorkflow } from './definition';
import {
  DEFAULT_SERVICE_ACCOUNT,
  type EngineOptions,
  type RunResult,
  type StepStats,
  executeProgram,
} from './engine';
import { WorkflowDefinitionError } from './errors';
import { executionLabelsProblem } from './labels';
import type { Clock } from './runtime';

export interface WorkflowsEmulatorOptions {
  /** Folder of `<name>.workflows.yaml` files; default: the repo's `workflows/`. */
  workflowsDir?: string;
  port?: number;
  /** Per-workflow user env vars (Terraform's user_env_vars), read with sys.get_env. */
  env?: Record<string, Record<string, string>>;
  serviceAccount?: string;
  oidcSecret?: string;
  /** Identities granted workflows.callbacks.send (they may call callback URLs); any valid token when absent. */
  callbackSenders?: string[];
  clock?: Clock;
  sleepScale?: number;
  logger?: Logger;
}

/**
 * A stable 12-digit stand-in for the project number, which the local cloud
 * does not have: the same project id always gets the same number.
 */
function projectNumber(project: string): string {
  const digest = createHash('sha256').update(project).digest();
  return String(100_000_000_000 + (digest.readUInt32BE(0) % 900_000_000_000));
}

type State = 'ACTIVE' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

interface ExecutionRecord {
  name: string;
  parent: string;
  state: State;
  argument: string;
  labels: Record<string, string>;
  revisionId: string;
  startMs: number;
  endMs?: number;
  outcome?: RunResult;
  stats: StepStats;
  controller: AbortController;
  done: Promise<void>;
}

export interface WorkflowsEmulator {
  /** `127.0.0.1:port`, for localClientOptions. */
  host: string;
  callbackBaseUrl: string;
  /** Step counts of an execution (billing), live while it runs. */
  stats(executionName: string): StepStats | undefined;
  /** Callback URLs created by an execution (given by id, the last segment of its name). */
  callbackUrls(executionId: string): string[];
  /** Resolves when the execution has finished (for tests and tools). */
  settled(executionName: string): Promise<void>;
  stop(): Promise<void>;
}

const PROTO_ROOTS = [
  join(require.resolve('@google-cloud/workflows/package.json'), '..', 'build', 'protos'),
  // google-gax does not export package.json; its main lives in build/src.
  join(require.resolve('google-gax'), '..', '..', 'protos'),
];
const PARENT = /^projects\/([^/]+)\/locations\/([^/]+)\/workflows\/([^/]+)$/;
const WORKFLOW_FILE = /^(.+)\.workflows\.(ya?ml|json)$/;
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

function loadService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync('google/cloud/workflows/executions/v1/executions.proto', {
    includeDirs: PROTO_ROOTS,
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    google: {
      cloud: { workflows: { executions: { v1: { Executions: { service: grpc.ServiceDefinition } } } } };
    };
  };
  return pkg.google.cloud.workflows.executions.v1.Executions.service;
}

class GrpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const timestamp = (ms: number): { seconds: string; nanos: number } => ({
  seconds: String(Math.floor(ms / 1000)),
  nanos: (ms % 1000) * 1e6,
});

export async function startWorkflowsEmulator(
  options: WorkflowsEmulatorOptions = {},
): Promise<WorkflowsEmulator & { engine: EngineOptions }> {
  const dir = options.workflowsDir ?? join(__dirname, '..', '..', 'workflows');
  const logger = options.logger ?? createLogger({ component: 'workflows-emulator' });
  const executions = new Map<string, ExecutionRecord>();
  const compiled = new Map<string, { program: Program; revisionId: string }>();
  const callbacks = new CallbackServer({
    ...(options.oidcSecret ? { secret: options.oidcSecret } : {}),
    ...(options.callbackSenders ? { senders: options.callbackSenders } : {}),
  });
  const callbackBaseUrl = await callbacks.listen();
  const engine: EngineOptions = {
    clock: options.clock,
    sleepScale: options.sleepScale,
    serviceAccount: options.serviceAccount,
    oidcSecret: options.oidcSecret,
    callbacks,
    logger,
  };

  const loadWorkflow = (workflow: string): { program: Program; revisionId: string } => {
    if (!existsSync(dir))
      throw new GrpcError(grpc.status.NOT_FOUND, `workflows folder ${dir} does not exist`);
    const file = readdirSync(dir).find((f) => WORKFLOW_FILE.exec(f)?.[1] === workflow);
    if (!file)
      throw new GrpcError(
        grpc.status.NOT_FOUND,
        `workflow "${workflow}" not found: no ${workflow}.workflows.yaml in ${dir}`,
      );
    const source = readFileSync(join(dir, file), 'utf8');
    const hash = createHash('sha256').update(source).digest('hex');
    const cached = compiled.get(hash);
    if (cached) return cached;
    try {
      const entry = { program: compileWorkflow(source), revisionId: `000001-${hash.slice(0, 3)}` };
      compiled.set(hash, entry);
      return entry;
    } catch (err) {
      if (err instanceof WorkflowDefinitionError)
        throw new GrpcError(grpc.status.FAILED_PRECONDITION, `${file}: ${err.message}`);
      throw err;
    }
  };

  const toProto = (r: ExecutionRecord, full: boolean): Record<string, unknown> => {
    const end = r.endMs ?? Date.now();
    const out: Record<string, unknown> = {
      name: r.name,
      startTime: timestamp(r.startMs),
      endTime: r.endMs === undefined ? null : timestamp(r.endMs),
      duration: {
        seconds: String(Math.floor((end - r.startMs) / 1000)),
        nanos: ((end - r.startMs) % 1000) * 1e6,
      },
      state: r.state,
      workflowRevisionId: r.revisionId,
    };
    // executions.proto, ExecutionView: BASIC returns only name, start_time, end_time, duration,
    // state and workflow_revision_id; everything else needs FULL.
    if (full) {
      out.labels = r.labels;
      out.callLogLevel = 'CALL_LOG_LEVEL_UNSPECIFIED';
      out.argument = r.argument;
      if (r.outcome?.state === 'SUCCEEDED') out.result = r.outcome.resultJson;
      if (r.outcome?.state === 'FAILED')
        out.error = { payload: r.outcome.error.payload, context: r.outcome.error.context };
    }
    return out;
  };

  const find = (name: string): ExecutionRecord => {
    const r = executions.get(name);
    if (!r) throw new GrpcError(grpc.status.NOT_FOUND, `execution ${name} not found`);
    return r;
  };

  const create = (
    parent: string,
    execution: { argument?: string; labels?: Record<string, string> },
  ): ExecutionRecord => {
    const m = PARENT.exec(parent);
    if (!m)
      throw new GrpcError(
        grpc.status.INVALID_ARGUMENT,
        `parent "${parent}": expected projects/P/locations/L/workflows/W`,
      );
    const [, project, location, workflow] = m;
    const labelsProblem = executionLabelsProblem(execution.labels ?? {});
    if (labelsProblem) throw new GrpcError(grpc.status.INVALID_ARGUMENT, labelsProblem);
    const { program, revisionId } = loadWorkflow(workflow);
    let argument: unknown = null;
    if (execution.argument) {
      try {
        argument = JSON.parse(execution.argument);
      } catch {
        throw new GrpcError(
          grpc.status.INVALID_ARGUMENT,
          `execution.argument must be a JSON string, got ${execution.argument.slice(0, 100)}`,
        );
      }
    }
    const id = randomUUID();
    const name = `${parent}/executions/${id}`;
    const controller = new AbortController();
    const stats: StepStats = { steps: 0, internalSteps: 0, externalSteps: 0 };
    const record: ExecutionRecord = {
      name,
      parent,
      state: 'ACTIVE',
      argument: execution.argument ?? '',
      labels: execution.labels ?? {},
      revisionId,
      startMs: Date.now(),
      stats,
      controller,
      done: Promise.resolve(),
    };
    const env = {
      ...(options.env?.[workflow] ?? {}),
      GOOGLE_CLOUD_PROJECT_ID: project,
      GOOGLE_CLOUD_LOCATION: location,
      GOOGLE_CLOUD_WORKFLOW_ID: workflow,
      GOOGLE_CLOUD_WORKFLOW_REVISION_ID: revisionId,
      GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID: id,
      GOOGLE_CLOUD_PROJECT_NUMBER: projectNumber(project),
      GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME: engine.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT,
    };
    record.done = executeProgram(program, argument, {
      ...engine,
      env,
      executionId: id,
      signal: controller.signal,
      stats,
    }).then((outcome) => {
      // A cancel that raced with the end keeps CANCELLED, as on GCP.
      if (record.state === 'ACTIVE') record.state = outcome.state;
      record.outcome = outcome;
      record.endMs ??= Date.now();
      logger.info('workflow execution finished', {
        execution: name,
        state: record.state,
        steps: stats.steps,
      });
    });
    executions.set(name, record);
    logger.info('workflow execution started', { execution: name, workflow });
    return record;
  };

  type Call<Req> = grpc.ServerUnaryCall<Req, unknown>;
  const unary =
    <Req>(fn: (req: Req) => Record<string, unknown>) =>
    (call: Call<Req>, cb: grpc.sendUnaryData<unknown>): void => {
      try {
        cb(null, fn(call.request));
      } catch (err) {
        if (err instanceof GrpcError) cb({ code: err.code, details: err.message });
        else cb({ code: grpc.status.INTERNAL, details: String((err as Error).message ?? err) });
      }
    };

  const server = new grpc.Server();
  server.addService(loadService(), {
    createExecution: unary(
      (req: { parent: string; execution?: { argument?: string; labels?: Record<string, string> } }) =>
        toProto(create(req.parent, req.execution ?? {}), true),
    ),
    getExecution: unary((req: { name: string; view?: string }) =>
      toProto(find(req.name), req.view !== 'BASIC'),
    ),
    listExecutions: unary(
      (req: {
        parent: string;
        pageSize?: number;
        pageToken?: string;
        view?: string;
        filter?: string;
        orderBy?: string;
      }) => {
        if (req.filter || req.orderBy)
          throw new GrpcError(
            grpc.status.UNIMPLEMENTED,
            'the emulator does not implement filter or order_by on ListExecutions',
          );
        const size = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
        const offset = req.pageToken ? Number(Buffer.from(req.pageToken, 'base64url').toString()) : 0;
        if (!Number.isInteger(offset) || offset < 0)
          throw new GrpcError(grpc.status.INVALID_ARGUMENT, `invalid page_token "${req.pageToken}"`);
        // Newest first, as on GCP.
        const all = [...executions.values()].filter((r) => r.parent === req.parent).reverse();
        const page = all.slice(offset, offset + size);
        return {
          executions: page.map((r) => toProto(r, req.view === 'FULL')),
          nextPageToken:
            offset + size < all.length ? Buffer.from(String(offset + size)).toString('base64url') : '',
        };
      },
    ),
    cancelExecution: unary((req: { name: string }) => {
      const r = find(req.name);
      if (r.state !== 'ACTIVE')
        throw new GrpcError(grpc.status.FAILED_PRECONDITION, `execution ${req.name} is already ${r.state}`);
      r.state = 'CANCELLED';
      r.endMs = Date.now();
      r.controller.abort();
      return toProto(r, true);
    }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );

  return {
    host: `127.0.0.1:${port}`,
    callbackBaseUrl,
    engine,
    stats: (name) => executions.get(name)?.stats,
    settled: (name) => find(name).done,
    callbackUrls: (id) => callbacks.urlsFor(id),
    stop: async () => {
      for (const r of executions.values()) r.controller.abort();
      await Promise.all([...executions.values()].map((r) => r.done));
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await callbacks.close();
    },
  };
}
