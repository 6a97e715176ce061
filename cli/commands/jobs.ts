/**
 * `glidepath jobs list | run NAME | history NAME | status NAME | rollback NAME`:
 * the policy's scheduled Cloud Run Jobs, their runs and their images. Reads Firestore and publishes to Pub/Sub
 * with the real clients: on the local cloud through FIRESTORE_EMULATOR_HOST
 * and PUBSUB_EMULATOR_HOST, on GCP with Application Default Credentials.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { FirestoreJobStore } from '../../functions/adapters/job-store';
import { FirestoreJobLocks, FirestoreJobRolloutStore } from '../../functions/adapters/job-rollout-store';
import { createCloudRunJobTemplates } from '../../functions/adapters/jobs';
import { jobWaves, type JobPolicy, type Policy } from '../../functions/domain/policy';
import type { JobRolloutRecord } from '../../functions/domain/job-rollout';
import { rollbackJob } from '../../functions/usecases/job-rollout';
import { systemClock, type JobLocks, type JobRolloutStore, type JobTemplates } from '../../functions/ports';
import { FirestoreDeadLetterStore } from '../../functions/adapters/dead-letter-store';
import { PubsubPublisher } from '../../functions/adapters/pubsub';
import type { DeadLetterStore, JobStore, Publisher } from '../../functions/ports';
import { TOPICS } from '../../functions/domain/messages';
import { formatDuration } from '../../functions/domain/duration';
import { refusedOverride, type JobRunRecord } from '../../functions/domain/jobs';
import { UsageError, parseEnvPairs, printJson, readPolicy } from '../io';
import {
  firestoreEmulatorOptions,
  localClientOptions,
  pubsubEmulatorOptions,
} from '../../functions/shared/endpoint';

export interface CloudOptions {
  project?: string;
  json?: boolean;
}

/** Adds --project and --json to a command. */
export function cloudOptions(cmd: Command): Command {
  return cmd
    .option('--project <id>', 'the Glidepath project (Firestore, Pub/Sub)', process.env.GLIDEPATH_PROJECT)
    .option('--json', 'print JSON instead of text');
}

/** --project, required by every command that reads or writes the project. */
export function requireProject(opts: CloudOptions): string {
  if (!opts.project) throw new UsageError('--project: expected a project id (or set GLIDEPATH_PROJECT)');
  return opts.project;
}

/** The project's Firestore (the emulator's on the local cloud); close it with terminate(). */
export function projectFirestore(opts: CloudOptions): Firestore {
  return new Firestore({
    projectId: requireProject(opts),
    ignoreUndefinedProperties: true,
    ...firestoreEmulatorOptions(),
  });
}

/** Runs `fn` with the job and dead-letter stores and a publisher on the project, and closes the clients after. */
export async function withCloud<T>(
  opts: CloudOptions,
  fn: (c: { jobs: JobStore; deadLetters: DeadLetterStore; publisher: Publisher }) => Promise<T>,
): Promise<T> {
  const firestore = projectFirestore(opts);
  const pubsub = new PubSub({
    projectId: requireProject(opts),
    ...pubsubEmulatorOptions(),
  });
  try {
    return await fn({
      jobs: new FirestoreJobStore(firestore),
      deadLetters: new FirestoreDeadLetterStore(firestore),
      publisher: new PubsubPublisher(pubsub),
    });
  } finally {
    await Promise.all([firestore.terminate(), pubsub.close()]);
  }
}

/**
 * Runs `fn` with the job rollouts, the job locks (Firestore) and the Cloud Run
 * Admin API's jobs (GLIDEPATH_RUN_ENDPOINT on the local cloud), and closes the clients after.
 */
async function withJobImages<T>(
  opts: CloudOptions,
  fn: (c: { rollouts: JobRolloutStore; locks: JobLocks; templates: JobTemplates }) => Promise<T>,
): Promise<T> {
  const firestore = projectFirestore(opts);
  const templates = createCloudRunJobTemplates({
    clientOptions: localClientOptions(process.env.GLIDEPATH_RUN_ENDPOINT),
  });
  try {
    return await fn({
      rollouts: new FirestoreJobRolloutStore(firestore),
      locks: new FirestoreJobLocks(firestore),
      templates,
    });
  } finally {
    await Promise.all([firestore.terminate(), templates.close()]);
  }
}

function policyJob(policy: Policy, name: string): JobPolicy {
  const job = policy.jobs.find((j) => j.name === name);
  if (!job)
    throw new UsageError(
      `job: expected one of the policy's jobs (${policy.jobs.map((j) => j.name).join(', ') || 'none'}), got ${JSON.stringify(name)}`,
    );
  return job;
}

function rolloutLine(r: JobRolloutRecord): string {
  const regions = r.waves
    .flat()
    .map((region) => `${region} ${r.regions[region]?.status ?? 'PENDING'}`)
    .join(', ');
  return `${r.createdAt}  ${r.id}  ${r.status}  ${r.tag ?? r.digest.slice(0, 19)}  (${regions})${r.reason ? `  ${r.reason}` : ''}`;
}

/** Who runs the command, recorded on manual triggers and replays. */
export function operator(): string {
  return process.env.GLIDEPATH_OPERATOR ?? userInfo().username;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function runLine(run: JobRunRecord): string {
  const took = run.finishedAt
    ? ` in ${formatDuration((Date.parse(run.finishedAt) - Date.parse(run.createdAt)) / 1000)}`
    : '';
  const attempts = run.attempts
    .map(
      (a) =>
        `#${a.number} ${a.result}${a.failureClass ? ` [${a.failureClass}]` : ''}${a.error ? ` (${a.error})` : ''}`,
    )
    .join(', ');
  return `${run.createdAt}  ${run.id}  ${run.status}${took}  [${run.trigger}]  ${attempts || 'no attempts yet'}`;
}

export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('scheduled Cloud Run Jobs: list, run now, history, image status and rollback');

  cloudOptions(jobs.command('list').description('the jobs of the policy with their last run'))
    .option('--config <file>', 'the policy file', 'glidepath.yaml')
    .action(async (opts: CloudOptions & { config: string }) => {
      const policy = readPolicy(opts.config);
      const rows = await withCloud(opts, async ({ jobs: runs }) =>
        Promise.all(
          policy.jobs.map(async (job) => ({ job, lastRun: (await runs.listRuns(job.name, 1))[0] })),
        ),
      );
      if (opts.json) return printJson(rows.map(({ job, lastRun }) => ({ ...job, lastRun: lastRun ?? null })));
      if (!rows.length) return void process.stdout.write('no jobs in the policy\n');
      for (const { job, lastRun } of rows) {
        process.stdout.write(
          `${job.name}  ${job.project}/${job.region}  '${job.schedule}' ${job.timeZone}  ` +
            `retry ${job.retry.maxAttempts}× from ${formatDuration(job.retry.initialBackoff)} ×${job.retry.multiplier} up to ${formatDuration(job.retry.maxBackoff)}\n` +
            `    last run: ${lastRun ? runLine(lastRun) : 'never'}\n`,
        );
      }
    });

  cloudOptions(
    jobs
      .command('status <name>')
      .description("the job's image in each region of its waves, and its last image rollout"),
  )
    .option('--config <file>', 'the policy file', 'glidepath.yaml')
    .action(async (name: string, opts: CloudOptions & { config: string }) => {
      const job = policyJob(readPolicy(opts.config), name);
      const status = await withJobImages(opts, async ({ rollouts, templates }) => ({
        job: job.name,
        regions: await Promise.all(
          jobWaves(job)
            .flat()
            .map(async (region) => {
              const current = await templates.getJob({ project: job.project, region, job: job.name });
              return { region, images: current?.images ?? null };
            }),
        ),
        lastRollout: (await rollouts.listForJob(job.name, 1))[0] ?? null,
      }));
      if (opts.json) return printJson(status);
      for (const r of status.regions)
        process.stdout.write(
          `${r.region}  ${r.images ? r.images.join(', ') : '(no such job in this region)'}\n`,
        );
      process.stdout.write(
        `last rollout: ${status.lastRollout ? rolloutLine(status.lastRollout) : 'never'}\n`,
      );
    });

  cloudOptions(
    jobs
      .command('rollback <name>')
      .description(
        'put back the template recorded before the latest image rollout that changed it, in every region of the waves or one',
      ),
  )
    .option('--config <file>', 'the policy file', 'glidepath.yaml')
    .option('--region <region>', 'only this region')
    .action(async (name: string, opts: CloudOptions & { config: string; region?: string }) => {
      const job = policyJob(readPolicy(opts.config), name);
      const all = jobWaves(job).flat();
      if (opts.region && !all.includes(opts.region))
        throw new UsageError(
          `--region: expected one of ${all.join(', ')}, got ${JSON.stringify(opts.region)}`,
        );
      const results = await withJobImages(opts, ({ rollouts, locks, templates }) =>
        rollbackJob(
          { store: rollouts, locks, templates, clock: systemClock },
          job,
          opts.region ? [opts.region] : all,
          operator(),
        ),
      );
      if (opts.json) printJson({ job: job.name, regions: results });
      else
        for (const r of results)
          process.stdout.write(
            `${r.region}  ${r.outcome}${r.image ? `  ${r.image}` : ''}${r.rolloutId ? `  (before ${r.rolloutId})` : ''}${r.detail ? `  ${r.detail}` : ''}\n`,
          );
      if (results.some((r) => r.outcome === 'busy')) process.exitCode = 1;
    });

  cloudOptions(
    jobs
      .command('run <name>')
      .description('run a job now: publishes a trigger message to glidepath-job-triggers'),
  )
    .option('--config <file>', 'the policy file', 'glidepath.yaml')
    .option('--arg <value>', 'container argument override (repeatable)', collect, [])
    .option('--args <values...>', 'container argument overrides, all that follow')
    .option('--env <KEY=VALUE>', 'container env override (repeatable)', collect, [])
    .action(
      async (
        name: string,
        opts: CloudOptions & { config: string; arg: string[]; args?: string[]; env: string[] },
      ) => {
        const policy = readPolicy(opts.config);
        const job = policy.jobs.find((j) => j.name === name);
        if (!job)
          throw new UsageError(
            `job: expected one of the policy's jobs (${policy.jobs.map((j) => j.name).join(', ') || 'none'}), got ${JSON.stringify(name)}`,
          );
        const env = opts.env.length ? parseEnvPairs(opts.env) : undefined;
        const args = [...opts.arg, ...(opts.args ?? [])];
        const overrides =
          args.length || env ? { ...(args.length ? { args } : {}), ...(env ? { env } : {}) } : undefined;
        // The job-trigger function would reject it: say so now, with the same reason.
        const refused = overrides && refusedOverride(job, overrides);
        if (refused) throw new UsageError(refused);
        const payload = { job: name, ...(overrides ? { overrides } : {}) };
        const messageId = await withCloud(opts, ({ publisher }) =>
          publisher.publish(TOPICS.jobTriggers, Buffer.from(JSON.stringify(payload)), {
            requestedBy: operator(),
          }),
        );
        const runId = `${name}-m${messageId}`;
        if (opts.json) return printJson({ job: name, messageId, runId });
        process.stdout.write(
          `published trigger ${messageId} for ${name}; its run will be ${runId} (glidepath jobs history ${name})\n`,
        );
      },
    );

  cloudOptions(
    jobs.command('history <name>').description('the runs of a job, newest first, with every attempt'),
  )
    .option('--limit <n>', 'how many runs', '10')
    .action(async (name: string, opts: CloudOptions & { limit: string }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UsageError(`--limit: expected a positive integer, got ${opts.limit}`);
      const runs = await withCloud(opts, ({ jobs: runs }) => runs.listRuns(name, limit));
      if (opts.json) return printJson(runs);
      if (!runs.length) return void process.stdout.write(`no runs of ${name}\n`);
      for (const run of runs) process.stdout.write(runLine(run) + '\n');
    });
}
