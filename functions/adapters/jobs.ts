/**
 * JobRunner on Cloud Run Admin API v2 (`JobsClient`, `ExecutionsClient`):
 * starts an execution with optional overrides and reads its state.
 */
import { ExecutionsClient, JobsClient, protos } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import type { JobExecutionState, JobRunner } from '../ports';
import { fromSdkError, GlidepathError } from '../shared/errors';

type IExecution = protos.google.cloud.run.v2.IExecution;
const ConditionState = protos.google.cloud.run.v2.Condition.State;
const ExecutionReason = protos.google.cloud.run.v2.Condition.ExecutionReason;
const CommonReason = protos.google.cloud.run.v2.Condition.CommonReason;

export interface JobRunnerOptions {
  /** Client options, e.g. `localClientOptions(host)` for the emulator; `{}` for Google. */
  clientOptions?: Record<string, unknown>;
}

function enumName(values: Record<string | number, string | number>, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return values[value] as string | undefined;
  return undefined;
}

function toIso(t: protos.google.protobuf.ITimestamp | null | undefined): string | undefined {
  if (!t) return undefined;
  return new Date(Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/** RUNNING until completionTime is set; then the Completed condition decides. */
export function toExecutionState(e: IExecution): JobExecutionState {
  const completed = (e.conditions ?? []).find((c) => c.type === 'Completed');
  const completionTime = toIso(e.completionTime);
  let state: JobExecutionState['state'] = 'RUNNING';
  if (completionTime) {
    if (enumName(ExecutionReason, completed?.executionReason) === 'CANCELLED' || (e.cancelledCount ?? 0) > 0)
      state = 'CANCELLED';
    else if (
      enumName(ConditionState, completed?.state) === 'CONDITION_SUCCEEDED' &&
      (e.failedCount ?? 0) === 0
    )
      state = 'SUCCEEDED';
    else state = 'FAILED';
  }
  const startTime = toIso(e.startTime);
  const reason = enumName(CommonReason, completed?.reason);
  const executionReason = enumName(ExecutionReason, completed?.executionReason);
  return {
    name: e.name ?? '',
    state,
    succeededCount: e.succeededCount ?? 0,
    failedCount: e.failedCount ?? 0,
    ...(startTime ? { startTime } : {}),
    ...(completionTime ? { completionTime } : {}),
    ...(state === 'FAILED' || state === 'CANCELLED'
      ? {
          error: completed?.message || `execution ${state.toLowerCase()}`,
          ...(reason && reason !== 'COMMON_REASON_UNDEFINED' ? { reason } : {}),
          ...(executionReason && executionReason !== 'EXECUTION_REASON_UNDEFINED' ? { executionReason } : {}),
        }
      : {}),
  };
}

export interface CloudRunJobRunner extends JobRunner {
  close(): Promise<void>;
}

export function createCloudRunJobRunner(options: JobRunnerOptions = {}): CloudRunJobRunner {
  const clientOptions = (options.clientOptions ?? {}) as ClientOptions;
  const jobs = new JobsClient(clientOptions);
  const executions = new ExecutionsClient(clientOptions);
  return {
    async run(job, overrides) {
      const name = `projects/${job.project}/locations/${job.region}/jobs/${job.job}`;
      const containerOverride: protos.google.cloud.run.v2.RunJobRequest.Overrides.IContainerOverride = {
        ...(overrides?.args ? { args: overrides.args } : {}),
        ...(overrides?.env
          ? { env: Object.entries(overrides.env).map(([k, value]) => ({ name: k, value })) }
          : {}),
      };
      try {
        const [operation] = await jobs.runJob({
          name,
          ...(overrides?.args || overrides?.env
            ? { overrides: { containerOverrides: [containerOverride] } }
            : {}),
        });
        // The operation's metadata is the Execution just created; the run is not awaited here.
        const execution = operation.metadata as IExecution | null;
        if (!execution?.name)
          throw new GlidepathError('unavailable', `run job ${name}: the operation carries no execution name`);
        return execution.name;
      } catch (err) {
        throw fromSdkError(err, `run job ${name}`);
      }
    },

    async getExecution(executionName) {
      try {
        const [execution] = await executions.getExecution({ name: executionName });
        return toExecutionState(execution);
      } catch (err) {
        throw fromSdkError(err, `get execution ${executionName}`);
      }
    },

    async cancel(executionName) {
      try {
        // The operation ends when the execution is cancelled; its state is read again by the caller.
        await executions.cancelExecution({ name: executionName });
      } catch (err) {
        const e = fromSdkError(err, `cancel execution ${executionName}`);
        // Cloud Run refuses to cancel an execution that has already finished: nothing left to stop.
        if (e.code === 'invalid') return;
        throw e;
      }
    },

    async findExecution(job, marker) {
      const parent = `projects/${job.project}/locations/${job.region}/jobs/${job.job}`;
      try {
        // Newest first: the execution sought was started minutes ago at most.
        const [recent] = await executions.listExecutions({ parent, pageSize: 50 }, { autoPaginate: false });
        const found = recent.find((e) =>
          (e.template?.containers ?? []).some((c) =>
            (c.env ?? []).some((v) => v.name === marker.name && v.value === marker.value),
          ),
        );
        return found?.name ?? undefined;
      } catch (err) {
        throw fromSdkError(err, `list executions of ${parent}`);
      }
    },

    async close() {
      await Promise.all([jobs.close(), executions.close()]);
    },
  };
}
