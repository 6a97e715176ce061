/**
 * JobRunner on Cloud Run Admin API v2 (`JobsClient`, `ExecutionsClient`):
 * starts an execution with optional overrides and reads its state.
 */
import { ExecutionsClient, JobsClient, protos } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import type { JobExecutionState, JobRef, JobRunner, JobTemplates, JobTemplateSnapshot } from '../ports';
import { fromSdkError, GlidepathError } from '../shared/errors';
import { templateImages } from '../domain/job-rollout';
import { GLIDEPATH_CLIENT } from './cloudrun';
import { awaitOperation, LRO_CALL_OPTIONS } from './operations';

type IExecution = protos.google.cloud.run.v2.IExecution;
const ConditionState = protos.google.cloud.run.v2.Condition.State;
const ExecutionReason = protos.google.cloud.run.v2.Condition.ExecutionReason;
const CommonReason = protos.google.cloud.run.v2.Condition.CommonReason;

interface JobRunnerOptions {
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
function toExecutionState(e: IExecution): JobExecutionState {
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

function snapshot(job: protos.google.cloud.run.v2.IJob): JobTemplateSnapshot {
  const template = JSON.stringify(job.template ?? {});
  return { etag: job.etag ?? '', template, images: templateImages(template) };
}

export interface CloudRunJobTemplates extends JobTemplates {
  close(): Promise<void>;
}

/** JobTemplates on the Admin API v2: GetJob, and UpdateJob with the etag read (docs/jobs.md). */
export function createCloudRunJobTemplates(options: JobRunnerOptions = {}): CloudRunJobTemplates {
  const jobs = new JobsClient((options.clientOptions ?? {}) as ClientOptions);
  const nameOf = (ref: JobRef) => `projects/${ref.project}/locations/${ref.region}/jobs/${ref.job}`;
  return {
    async getJob(ref) {
      try {
        const [job] = await jobs.getJob({ name: nameOf(ref) });
        return snapshot(job);
      } catch (err) {
        const e = fromSdkError(err, `get job ${nameOf(ref)}`);
        if (e.code === 'not_found') return undefined;
        throw e;
      }
    },

    async updateTemplate(ref, input) {
      const name = nameOf(ref);
      let current: protos.google.cloud.run.v2.IJob;
      try {
        [current] = await jobs.getJob({ name });
      } catch (err) {
        throw fromSdkError(err, `get job ${name}`);
      }
      if (current.etag !== input.etag)
        throw new GlidepathError(
          'conflict',
          `update job ${name}: the job changed since it was read (etag ${input.etag}, now ${current.etag ?? 'none'})`,
        );
      // UpdateJob has no field mask: the whole Job is sent back, with the new template.
      const job: protos.google.cloud.run.v2.IJob = {
        ...current,
        template: JSON.parse(input.template) as protos.google.cloud.run.v2.IExecutionTemplate,
        ...GLIDEPATH_CLIENT,
      };
      try {
        const [operation] = await jobs.updateJob({ job }, LRO_CALL_OPTIONS);
        return snapshot(await awaitOperation(operation, input.timeoutMs, `update job ${name}`));
      } catch (err) {
        throw fromSdkError(err, `update job ${name}`);
      }
    },

    async close() {
      await jobs.close();
    },
  };
}
