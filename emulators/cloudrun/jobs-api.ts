/**
 * google.cloud.run.v2.Jobs and Executions on the emulator. Running a job
 * creates an execution whose tasks succeed or fail per the job image's
 * profile (`failRate`, `durationMs`, `failure`), or per a scripted sequence
 * of outcomes set through the programmatic API ("fail twice, then succeed").
 * Each way of failing ends the execution with Cloud Run's own Completed
 * condition (message and reason; the sources are cited in docs/jobs.md).
 */
import { randomUUID } from 'node:crypto';
import { grpcService, RpcError, Status } from './protos';
import { condition, notFound, parseName, timestamp, type Json } from './resources';
import type { OperationOutcome, OperationStore } from './operations';
import type { ImageProfile, JobFailure } from './profiles';
import type { EmulatorTimers } from './timers';

const JOB_TYPE = 'google.cloud.run.v2.Job';
const EXECUTION_TYPE = 'google.cloud.run.v2.Execution';
const CREATOR = 'emulator@glidepath.local';
const JOB_ID = /^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/;

/** `fail` fails the way the image's profile says; `hang` runs until cancelled. */
export type ExecutionOutcome = 'succeed' | 'fail' | 'hang' | JobFailure;

/** Failures at start: the image cannot be pulled, so no task runs. */
const START_FAILURES: ReadonlySet<JobFailure> = new Set(['image-missing', 'image-permission']);

/** The Completed condition of an execution whose task `task` failed with `failure`. */
function failedCondition(failure: JobFailure, task: string, image: string, project: string): Json {
  const failedTask = (message: string, extra: Json = {}) =>
    condition('Completed', 'CONDITION_FAILED', {
      message: `Task ${task} failed with message: ${message}`,
      severity: 'ERROR',
      ...extra,
    });
  switch (failure) {
    case 'exit-code':
      return failedTask('The container exited with an error.', { executionReason: 'NON_ZERO_EXIT_CODE' });
    case 'out-of-memory':
      return failedTask(
        'Memory limit of 512 MiB exceeded with 517 MiB used. Consider increasing the memory limit, see https://cloud.google.com/run/docs/configuring/memory-limits',
      );
    case 'timeout':
      return failedTask('The configured timeout was reached.');
    case 'network':
      // Cloud Run documents connection resets but not a condition text for them: the stricter reading (docs/jobs.md).
      return failedTask('The container exited with an error. Connection reset by peer', {
        executionReason: 'NON_ZERO_EXIT_CODE',
      });
    case 'image-missing':
      return condition('Completed', 'CONDITION_FAILED', {
        message: `Image '${image}' not found.`,
        severity: 'ERROR',
        reason: 'CONTAINER_MISSING',
      });
    case 'image-permission':
      return condition('Completed', 'CONDITION_FAILED', {
        message: `Google Cloud Run Service Agent service-${project}@serverless-robot-prod.iam.gserviceaccount.com must have permission to read the image, ${image}. Ensure that the provided container image URL is correct and that the above account has permission to access the image.`,
        severity: 'ERROR',
        reason: 'CONTAINER_PERMISSION_DENIED',
      });
  }
}

interface ExecutionRecord {
  resource: Json;
  timer?: NodeJS.Timeout;
}

interface JobRecord {
  project: string;
  location: string;
  id: string;
  resource: Json;
  executions: Map<string, ExecutionRecord>;
  scripted: ExecutionOutcome[];
}

interface JobsOptions {
  operations: OperationStore;
  profileFor: (image: string) => ImageProfile;
  random: () => number;
  timers: EmulatorTimers;
}

function etag(): string {
  return `"${randomUUID()}"`;
}

/** The Job fields job.proto marks OUTPUT_ONLY: an update ignores what a client sends in them. */
const JOB_OUTPUT_ONLY = new Set([
  'name',
  'uid',
  'generation',
  'createTime',
  'updateTime',
  'deleteTime',
  'expireTime',
  'creator',
  'lastModifier',
  'observedGeneration',
  'terminalCondition',
  'conditions',
  'executionCount',
  'latestCreatedExecution',
  'reconciling',
  'satisfiesPzs',
  'etag',
]);

export class JobsApi {
  private readonly jobs = new Map<string, JobRecord>();

  constructor(private readonly opts: JobsOptions) {}

  private find(name: unknown, field: string): JobRecord {
    const n = parseName(name, ['jobs'], field);
    const job = this.jobs.get(`projects/${n.project}/locations/${n.location}/jobs/${n.ids.jobs}`);
    if (!job) throw notFound('JOB', n.ids.jobs, n.location, n.project);
    return job;
  }

  /** Scripts the outcomes of the job's next executions, consumed in order; afterwards the profile decides again. */
  setOutcomes(jobName: string, outcomes: ExecutionOutcome[]): void {
    this.find(jobName, 'job').scripted = [...outcomes];
  }

  private createJob(req: Json): Json {
    const parent = parseName(`${req.parent ?? ''}/jobs/x`, ['jobs'], 'parent');
    const id: string = req.jobId ?? '';
    if (!JOB_ID.test(id))
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        `job_id: ${JSON.stringify(id)} is not valid; expected lowercase letters, digits and hyphens, starting with a letter, at most 49 characters`,
      );
    const name = `projects/${parent.project}/locations/${parent.location}/jobs/${id}`;
    if (this.jobs.has(name)) throw new RpcError(Status.ALREADY_EXISTS, `Resource '${id}' already exists.`);
    const input: Json = req.job ?? {};
    if (!input.template?.template?.containers?.[0]?.image)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'job.template.template.containers[0].image: must be specified',
      );
    const now = timestamp(Date.now());
    const resource: Json = {
      ...input,
      name,
      uid: randomUUID(),
      generation: 1,
      createTime: now,
      updateTime: now,
      creator: CREATOR,
      lastModifier: CREATOR,
      launchStage: input.launchStage || 'GA',
      template: { taskCount: 1, parallelism: 0, ...input.template },
      observedGeneration: 1,
      terminalCondition: condition('Ready', 'CONDITION_SUCCEEDED'),
      conditions: [],
      executionCount: 0,
      reconciling: false,
      etag: etag(),
    };
    if (req.validateOnly)
      return this.opts.operations.completed(parent.project, parent.location, JOB_TYPE, () => resource);
    const job: JobRecord = {
      project: parent.project,
      location: parent.location,
      id,
      resource,
      executions: new Map(),
      scripted: [],
    };
    this.jobs.set(name, job);
    return this.opts.operations.completed(job.project, job.location, JOB_TYPE, () => job.resource);
  }

  /**
   * UpdateJob (job.proto): the request carries the whole Job (there is no
   * update mask), so every field the client may set is replaced, and output-only
   * fields are ignored. A stale `etag` is refused with ABORTED, as for services
   * ("A system-generated fingerprint … May be used to detect modification
   * conflict during updates"). Each accepted change bumps `generation` and the
   * etag; executions started afterwards use the new template, running ones keep
   * the template they were started with. `client` is required, the stricter
   * reading of an optional field (docs/local-cloud.md).
   */
  private updateJob(req: Json): Json {
    const input: Json = req.job ?? {};
    if (!input.client)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'job.client: expected the name of the API client making the write (the emulator requires job.client on every UpdateJob)',
      );
    const n = parseName(input.name, ['jobs'], 'job.name');
    const name = `projects/${n.project}/locations/${n.location}/jobs/${n.ids.jobs}`;
    const job = this.jobs.get(name);
    if (!job) {
      if (req.allowMissing)
        return this.createJob({
          parent: `projects/${n.project}/locations/${n.location}`,
          jobId: n.ids.jobs,
          job: input,
          validateOnly: req.validateOnly,
        });
      throw notFound('JOB', n.ids.jobs, n.location, n.project);
    }
    if (input.etag && input.etag !== job.resource.etag)
      throw new RpcError(
        Status.ABORTED,
        `The etag ${input.etag} of job '${job.id}' is stale: the resource has been modified since it was read (current etag ${job.resource.etag}). Read it again and retry.`,
      );
    const containers: Json[] = input.template?.template?.containers ?? [];
    if (containers.length === 0 || containers.some((c) => !c.image))
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'job.template.template.containers[0].image: must be specified',
      );
    const next: Json = structuredClone(job.resource);
    for (const key of Object.keys(next)) if (!JOB_OUTPUT_ONLY.has(key)) delete next[key];
    for (const [key, value] of Object.entries(input))
      if (!JOB_OUTPUT_ONLY.has(key)) next[key] = structuredClone(value);
    next.template = { taskCount: 1, parallelism: 0, ...next.template };
    next.launchStage = next.launchStage || 'GA';
    if (req.validateOnly)
      return this.opts.operations.completed(job.project, job.location, JOB_TYPE, () => next);
    const generation = Number(job.resource.generation) + 1;
    const now = timestamp(Date.now());
    Object.assign(next, {
      generation,
      observedGeneration: generation,
      updateTime: now,
      lastModifier: CREATOR,
      etag: etag(),
    });
    job.resource = next;
    this.opts.operations.changed();
    return this.opts.operations.completed(job.project, job.location, JOB_TYPE, () => job.resource);
  }

  private deleteJob(req: Json): Json {
    const job = this.find(req.name, 'name');
    this.jobs.delete(job.resource.name);
    for (const e of job.executions.values()) if (e.timer) this.opts.timers.clearTimeout(e.timer);
    job.resource.deleteTime = timestamp(Date.now());
    return this.opts.operations.completed(job.project, job.location, JOB_TYPE, () => job.resource);
  }

  /** The task template with the run's container overrides applied; the execution records it. */
  private static applyOverrides(taskTemplate: Json, overrides: Json | undefined): Json {
    const template = structuredClone(taskTemplate);
    for (const o of (overrides?.containerOverrides ?? []) as Json[]) {
      const containers: Json[] = template.containers;
      const container = o.name ? containers.find((c) => c.name === o.name) : containers[0];
      if (!container)
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `overrides.container_overrides.name: no container named ${JSON.stringify(o.name)}`,
        );
      if (o.clearArgs) container.args = [];
      if (o.args?.length) container.args = o.args;
      if (o.env?.length) {
        const env: Json[] = (container.env ?? []).filter(
          (e: Json) => !o.env.some((x: Json) => x.name === e.name),
        );
        container.env = [...env, ...o.env];
      }
    }
    return template;
  }

  private runJob(req: Json): Json {
    const job = this.find(req.name, 'name');
    if (req.etag && req.etag !== job.resource.etag)
      throw new RpcError(
        Status.ABORTED,
        `The etag ${req.etag} of job '${job.id}' is stale (current etag ${job.resource.etag}).`,
      );
    const overrides: Json | undefined = req.overrides;
    const template = JobsApi.applyOverrides(job.resource.template.template, overrides);
    const taskCount: number = overrides?.taskCount || job.resource.template.taskCount || 1;
    const suffix = Array.from(
      { length: 5 },
      () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(this.opts.random() * 36)],
    ).join('');
    const id = `${job.id}-${suffix}`;
    const now = Date.now();
    const resource: Json = {
      name: `${job.resource.name}/executions/${id}`,
      uid: randomUUID(),
      creator: CREATOR,
      generation: 1,
      labels: { 'run.googleapis.com/jobUid': job.resource.uid },
      createTime: timestamp(now),
      startTime: timestamp(now),
      updateTime: timestamp(now),
      launchStage: job.resource.launchStage,
      job: job.id,
      parallelism: job.resource.template.parallelism || taskCount,
      taskCount,
      template,
      reconciling: true,
      conditions: [
        condition('ResourcesAvailable', 'CONDITION_SUCCEEDED'),
        condition('Started', 'CONDITION_SUCCEEDED'),
        condition('Completed', 'CONDITION_RECONCILING'),
      ],
      observedGeneration: 1,
      runningCount: taskCount,
      succeededCount: 0,
      failedCount: 0,
      cancelledCount: 0,
      retriedCount: 0,
      logUri: `https://console.cloud.google.com/logs/viewer?project=${job.project}&resource=cloud_run_job/job_name/${job.id}`,
      etag: etag(),
    };
    const execution: ExecutionRecord = { resource };
    job.executions.set(id, execution);
    job.resource.executionCount = Number(job.resource.executionCount) + 1;
    job.resource.latestCreatedExecution = {
      name: resource.name,
      createTime: resource.createTime,
      completionStatus: 'EXECUTION_RUNNING',
    };

    const image: string = template.containers[0].image;
    const profile = this.opts.profileFor(image).job;
    const scripted = job.scripted.shift();
    if (scripted === 'hang') {
      this.opts.operations.changed();
      return this.operationFor(job, execution);
    }
    let failed = 0;
    let failure: JobFailure = profile.failure;
    if (scripted) {
      failed = scripted === 'succeed' ? 0 : 1;
      if (scripted !== 'succeed' && scripted !== 'fail') failure = scripted;
    } else for (let t = 0; t < taskCount; t++) if (this.opts.random() < profile.failRate) failed++;
    const atStart = failed > 0 && START_FAILURES.has(failure);
    execution.timer = this.opts.timers.setTimeout(
      () => {
        execution.timer = undefined;
        this.complete(job, execution, taskCount - failed, failed, failure, image);
      },
      atStart ? 0 : profile.durationMs,
    );
    this.opts.operations.changed();
    return this.operationFor(job, execution);
  }

  private complete(
    job: JobRecord,
    execution: ExecutionRecord,
    succeeded: number,
    failed: number,
    failure: JobFailure,
    image: string,
  ): void {
    const r = execution.resource;
    const now = timestamp(Date.now());
    r.runningCount = 0;
    r.succeededCount = succeeded;
    r.failedCount = failed;
    r.completionTime = now;
    r.updateTime = now;
    r.reconciling = false;
    r.etag = etag();
    const completed =
      failed > 0
        ? failedCondition(failure, `${r.name.split('/').pop()}-task0`, image, job.project)
        : condition('Completed', 'CONDITION_SUCCEEDED', {
            message: `Execution completed successfully in ${Math.round((Date.now() - Number(r.startTime.seconds) * 1000) / 1000)}s.`,
          });
    r.conditions = [...r.conditions.filter((c: Json) => c.type !== 'Completed'), completed];
    if (job.resource.latestCreatedExecution?.name === r.name)
      job.resource.latestCreatedExecution = {
        ...job.resource.latestCreatedExecution,
        completionTime: now,
        completionStatus: failed > 0 ? 'EXECUTION_FAILED' : 'EXECUTION_SUCCEEDED',
      };
    this.opts.operations.changed();
  }

  private operationFor(job: JobRecord, execution: ExecutionRecord): Json {
    const poll = (): OperationOutcome => {
      const r = execution.resource;
      if (!r.completionTime) return { done: false };
      if (r.failedCount > 0 || r.cancelledCount > 0)
        return {
          done: true,
          error: {
            code: Status.FAILED_PRECONDITION,
            message: `Execution ${r.name} did not complete successfully: ${r.failedCount} failed, ${r.cancelledCount} cancelled task(s).`,
          },
        };
      return { done: true, response: r };
    };
    return this.opts.operations.create(
      job.project,
      job.location,
      EXECUTION_TYPE,
      () => execution.resource,
      poll,
    );
  }

  private findExecution(name: unknown): { job: JobRecord; execution: ExecutionRecord } {
    const n = parseName(name, ['jobs', 'executions'], 'name');
    const job = this.jobs.get(`projects/${n.project}/locations/${n.location}/jobs/${n.ids.jobs}`);
    const execution = job?.executions.get(n.ids.executions);
    if (!job || !execution) throw notFound('EXECUTION', n.ids.executions, n.location, n.project);
    return { job, execution };
  }

  private cancelExecution(req: Json): Json {
    const { job, execution } = this.findExecution(req.name);
    const r = execution.resource;
    if (!r.completionTime) {
      if (execution.timer) this.opts.timers.clearTimeout(execution.timer);
      execution.timer = undefined;
      const now = timestamp(Date.now());
      r.cancelledCount = r.runningCount;
      r.runningCount = 0;
      r.completionTime = now;
      r.updateTime = now;
      r.reconciling = false;
      r.etag = etag();
      r.conditions = [
        ...r.conditions.filter((c: Json) => c.type !== 'Completed'),
        condition('Completed', 'CONDITION_FAILED', {
          message: 'The execution was cancelled.',
          executionReason: 'CANCELLED',
        }),
      ];
      if (job.resource.latestCreatedExecution?.name === r.name)
        job.resource.latestCreatedExecution = {
          ...job.resource.latestCreatedExecution,
          completionTime: now,
          completionStatus: 'EXECUTION_CANCELLED',
        };
      this.opts.operations.changed();
    }
    return this.opts.operations.completed(job.project, job.location, EXECUTION_TYPE, () => r);
  }

  jobsGrpc(): ReturnType<typeof grpcService> {
    return grpcService('google.cloud.run.v2.Jobs', {
      CreateJob: (req) => this.createJob(req),
      GetJob: (req) => this.find(req.name, 'name').resource,
      ListJobs: (req) => {
        const prefix = `${String(req.parent ?? '')}/jobs/`;
        return {
          jobs: [...this.jobs.values()]
            .filter((j) => j.resource.name.startsWith(prefix))
            .map((j) => j.resource),
          nextPageToken: '',
        };
      },
      UpdateJob: (req) => this.updateJob(req),
      DeleteJob: (req) => this.deleteJob(req),
      RunJob: (req) => this.runJob(req),
    });
  }

  executionsGrpc(): ReturnType<typeof grpcService> {
    return grpcService('google.cloud.run.v2.Executions', {
      GetExecution: (req) => this.findExecution(req.name).execution.resource,
      ListExecutions: (req) => {
        const job = this.find(req.parent, 'parent');
        return {
          executions: [...job.executions.values()].reverse().map((e) => e.resource),
          nextPageToken: '',
        };
      },
      CancelExecution: (req) => this.cancelExecution(req),
    });
  }

  stop(): void {
    for (const job of this.jobs.values())
      for (const e of job.executions.values()) if (e.timer) this.opts.timers.clearTimeout(e.timer);
    this.jobs.clear();
  }
}
