/**
 * Job image rollouts (docs/jobs.md, "Image rollouts"): a pushed image of a
 * job's repository becomes one `job-rollout` workflow execution that, region
 * by region, records the job's template, updates its image, runs the
 * verification, and on any failure restores every template it changed.
 * Every action is idempotent by (rollout id, region), so the workflow may
 * retry any of them.
 */
import type {
  Clock,
  JobLocks,
  JobRef,
  JobRolloutStore,
  JobRunner,
  JobTemplates,
  Notifier,
  WorkflowLauncher,
} from '../ports';
import type { JobImageRequest } from '../domain/intake';
import { labelValue } from '../domain/labels';
import {
  VERIFY_MARKER,
  jobRolloutArgument,
  jobRolloutFinishedMessage,
  jobRolloutLockSeconds,
  newJobRollout,
  withImage,
  type JobRegionRecord,
  type JobRolloutRecord,
} from '../domain/job-rollout';
import { classifyFailure, type FailureEvidence } from '../domain/job-failures';
import { boundReason } from '../domain/validation';
import { GlidepathError, fromSdkError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { jobRegion } from '../domain/store-rules';
import { startClaimedExecution } from './launch';

/** How long one UpdateJob may take before the action gives up (the workflow retries it). */
const UPDATE_TIMEOUT_MS = 60_000;

export interface JobRolloutDeps {
  store: JobRolloutStore;
  locks: JobLocks;
  templates: JobTemplates;
  jobs: JobRunner;
  notifier: Notifier;
  clock: Clock;
  log: Logger;
}

export interface JobRolloutAdmission {
  id: string;
  job: string;
  status: JobRolloutRecord['status'];
  admission: 'started' | 'duplicate' | 'resumed';
}

/** The lock holder name of a job rollout (runs hold `run:<id>`). */
const rolloutHolder = (id: string): string => `rollout:${id}`;

/**
 * Records the rollout (once per job and digest) and starts its workflow. A
 * delivery that crashed between the two leaves it PENDING: a redelivery starts it.
 */
export async function admitJobRollout(
  deps: Pick<JobRolloutDeps, 'clock' | 'log'> & {
    store: Pick<JobRolloutStore, 'create' | 'claimLaunch' | 'releaseLaunch' | 'recordExecution'>;
    launcher: WorkflowLauncher;
  },
  request: JobImageRequest,
  messageId: string | undefined,
): Promise<JobRolloutAdmission> {
  const record = newJobRollout(
    request.job,
    { ...request, ...(messageId ? { messageId } : {}) },
    deps.clock.now(),
  );
  const created = await deps.store.create(record);
  const r = created.rollout;
  let admission: JobRolloutAdmission['admission'] = 'duplicate';
  if (created.kind === 'created') admission = 'started';
  else if (
    r.status === 'PENDING' &&
    !r.executionName &&
    (await deps.store.claimLaunch(r.id, deps.clock.now()))
  )
    admission = 'resumed';
  if (admission !== 'duplicate') {
    // The current policy's run lifetime (a resumed record may predate `lockWaitSeconds`).
    const executionName = await startClaimedExecution(deps, r.id, () =>
      deps.launcher.start('job-rollout', jobRolloutArgument(r, record.lockWaitSeconds), {
        job_rollout_id: labelValue(r.id),
        job: labelValue(r.job),
      }),
    );
    deps.log.info('job rollout started', { jobRolloutId: r.id, job: r.job, image: r.image, executionName });
  }
  return { id: r.id, job: r.job, status: admission === 'duplicate' ? r.status : 'RUNNING', admission };
}

async function active(deps: JobRolloutDeps, id: string): Promise<JobRolloutRecord | { stop: string }> {
  const r = await deps.store.get(id);
  if (!r) throw new GlidepathError('not_found', `job rollout ${id} not found`);
  if (r.status === 'SUCCEEDED' || r.status === 'FAILED')
    return { stop: `job rollout ${id} is already ${r.status}` };
  return r;
}

const refOf = (r: JobRolloutRecord, region: string): JobRef => ({ project: r.project, region, job: r.job });

/** Takes the job's lock for the rollout; a run of the job holding it makes the rollout wait. */
export async function beginJobRollout(
  deps: JobRolloutDeps,
  id: string,
): Promise<{ locked: boolean; heldBy?: string } | { stop: string }> {
  const r = await active(deps, id);
  if ('stop' in r) return r;
  const now = deps.clock.now();
  const until = new Date(now.getTime() + jobRolloutLockSeconds(r) * 1000);
  const lock = await deps.locks.acquire(r.job, rolloutHolder(id), until, now);
  if ('heldBy' in lock) {
    deps.log.info('job rollout waits for the job', { jobRolloutId: id, job: r.job, heldBy: lock.heldBy });
    return { locked: false, heldBy: lock.heldBy };
  }
  return { locked: true };
}

/** What the workflow needs to know about one region. */
interface RegionView {
  region: string;
  status: JobRegionRecord['status'];
  done: boolean;
  succeeded: boolean;
  error?: string;
}

function regionView(region: string, rec: JobRegionRecord): RegionView {
  return {
    region,
    status: rec.status,
    done: rec.status !== 'PENDING' && rec.status !== 'UPDATED',
    succeeded: rec.status === 'VERIFIED',
    ...(rec.error ? { error: rec.error } : {}),
  };
}

async function failRegion(
  deps: JobRolloutDeps,
  r: JobRolloutRecord,
  region: string,
  error: string,
  evidence?: FailureEvidence,
): Promise<RegionView> {
  const classified = evidence ? classifyFailure(evidence) : undefined;
  const stored = await deps.store.updateRegion(
    r.id,
    region,
    { status: 'FAILED', error, ...(classified ? { failureClass: classified.failureClass } : {}) },
    deps.clock.now(),
  );
  deps.log.warn('job rollout region failed', { jobRolloutId: r.id, job: r.job, region, error });
  return regionView(region, stored.regions[region]);
}

/**
 * Records the region's current template (once: a retried call keeps the
 * first record), then updates the job's image with the etag just read.
 */
export async function updateJobRegion(
  deps: JobRolloutDeps,
  id: string,
  region: string,
): Promise<RegionView | { stop: string }> {
  const r = await active(deps, id);
  if ('stop' in r) return r;
  const rec = jobRegion(r, region);
  if (rec.status !== 'PENDING') return regionView(region, rec);
  const ref = refOf(r, region);
  const current = await deps.templates.getJob(ref);
  if (!current)
    return failRegion(deps, r, region, `job ${r.job} does not exist in ${region} (project ${r.project})`);
  if (rec.previousTemplate === undefined)
    await deps.store.updateRegion(
      id,
      region,
      { previousTemplate: current.template, previousImage: current.images.join(', ') },
      deps.clock.now(),
    );
  const next = withImage(current.template, r.repository, r.image);
  if ('error' in next) return failRegion(deps, r, region, next.error);
  if (next.template !== current.template) {
    try {
      await deps.templates.updateTemplate(ref, {
        etag: current.etag,
        template: next.template,
        timeoutMs: UPDATE_TIMEOUT_MS,
      });
    } catch (err) {
      const e = fromSdkError(err);
      if (e.transient) throw e;
      return failRegion(deps, r, region, e.message);
    }
  }
  const stored = await deps.store.updateRegion(id, region, { status: 'UPDATED' }, deps.clock.now());
  deps.log.info('job image updated', { jobRolloutId: id, job: r.job, region, image: r.image });
  return regionView(region, stored.regions[region]);
}

/**
 * Drives the region's verification: the first call starts the execution
 * (with the verify args and env, and a marker that lets a retried call find
 * it), later calls read it. `timedOut`: the workflow has polled for the
 * whole verify timeout, so a still-running execution is cancelled and fails
 * the region. Without `verify` the updated region counts as verified.
 */
export async function verifyJobRegion(
  deps: JobRolloutDeps,
  id: string,
  region: string,
  timedOut: boolean,
): Promise<RegionView | { stop: string }> {
  const r = await active(deps, id);
  if ('stop' in r) return r;
  const rec = jobRegion(r, region);
  if (rec.status !== 'UPDATED') {
    if (rec.status === 'PENDING')
      throw new GlidepathError(
        'invalid',
        `region: expected ${region} updated before its verification (job rollout ${id})`,
      );
    return regionView(region, rec);
  }
  const now = deps.clock.now();
  const verified = async () =>
    regionView(
      region,
      (await deps.store.updateRegion(id, region, { status: 'VERIFIED' }, now)).regions[region],
    );
  if (!r.verify) return verified();
  if (!rec.verifyExecution) return startVerification(deps, r, r.verify, region);
  const execution = await deps.jobs.getExecution(rec.verifyExecution);
  if (execution.state === 'SUCCEEDED') return verified();
  if (execution.state === 'FAILED' || execution.state === 'CANCELLED') {
    const error = execution.error ?? `execution ${execution.state.toLowerCase()}`;
    return failRegion(deps, r, region, `verification failed: ${error}`, {
      stage: 'execution',
      message: error,
      ...(execution.reason ? { reason: execution.reason } : {}),
      ...(execution.executionReason ? { executionReason: execution.executionReason } : {}),
    });
  }
  if (!timedOut) return regionView(region, rec);
  await deps.jobs.cancel(rec.verifyExecution);
  const error = `verification timed out: still running after ${r.verify.timeoutSeconds}s; execution cancelled`;
  return failRegion(deps, r, region, error, { stage: 'deadline', message: error });
}

/**
 * Starts the region's verification execution, once: under the region's
 * claim, so two calls at the same moment never both start one. The
 * execution carries a marker in its env, so a call whose predecessor died
 * after Cloud Run started it finds it rather than starting a second.
 */
async function startVerification(
  deps: JobRolloutDeps,
  r: JobRolloutRecord,
  verify: NonNullable<JobRolloutRecord['verify']>,
  region: string,
): Promise<RegionView> {
  const now = deps.clock.now();
  const ref = refOf(r, region);
  const marker = { name: VERIFY_MARKER, value: `${r.id}/${region}` };
  const recorded = async (executionName: string) => {
    const stored = await deps.store.updateRegion(
      r.id,
      region,
      { verifyExecution: executionName, verifyStartedAt: now.toISOString() },
      now,
    );
    deps.log.info('job verification started', { jobRolloutId: r.id, job: r.job, region, executionName });
    return regionView(region, stored.regions[region]);
  };
  let claim;
  try {
    claim = await deps.store.claimVerify(r.id, region, now);
  } catch (err) {
    // Another call holds the claim: it may have died after starting the execution.
    if (!(err instanceof GlidepathError) || err.code !== 'conflict') throw err;
    const started = await deps.jobs.findExecution(ref, marker);
    if (!started) throw err;
    return recorded(started);
  }
  if (claim.kind === 'taken') return regionView(region, jobRegion(claim.rollout, region));
  let executionName: string;
  try {
    executionName =
      (await deps.jobs.findExecution(ref, marker)) ??
      (await deps.jobs.run(ref, {
        ...(verify.args ? { args: verify.args } : {}),
        env: { ...verify.env, [marker.name]: marker.value },
      }));
  } catch (err) {
    const e = fromSdkError(err);
    if (e.transient) {
      await deps.store.releaseVerify(r.id, region, deps.clock.now());
      throw e;
    }
    return failRegion(deps, r, region, `verification could not start: ${e.message}`, {
      stage: 'start',
      code: e.code,
      message: e.message,
    });
  }
  return recorded(executionName);
}

/** The regions whose template the rollout changed (or may have: recorded, then the answer was lost). */
function touched(r: JobRolloutRecord): string[] {
  return r.waves
    .flat()
    .filter(
      (region) =>
        r.regions[region]?.previousTemplate !== undefined && r.regions[region].status !== 'RESTORED',
    );
}

/**
 * Puts the recorded template back in one region (with the etag just read),
 * unless it is already there. A transient error throws (the caller retries).
 */
async function restoreRegion(
  deps: JobRolloutDeps,
  r: JobRolloutRecord,
  region: string,
): Promise<JobRegionRecord> {
  const rec = jobRegion(r, region);
  const ref = refOf(r, region);
  if (rec.verifyExecution && rec.status === 'UPDATED') await deps.jobs.cancel(rec.verifyExecution);
  try {
    const current = await deps.templates.getJob(ref);
    if (!current) throw new GlidepathError('not_found', `job ${r.job} no longer exists in ${region}`);
    if (current.template !== rec.previousTemplate)
      await deps.templates.updateTemplate(ref, {
        etag: current.etag,
        template: rec.previousTemplate!,
        timeoutMs: UPDATE_TIMEOUT_MS,
      });
  } catch (err) {
    const e = fromSdkError(err);
    if (e.transient) throw e;
    deps.log.error('job template restore failed', {
      jobRolloutId: r.id,
      job: r.job,
      region,
      error: e.message,
    });
    return (
      await deps.store.updateRegion(
        r.id,
        region,
        { status: 'RESTORE_FAILED', error: e.message },
        deps.clock.now(),
      )
    ).regions[region];
  }
  deps.log.info('job template restored', {
    jobRolloutId: r.id,
    job: r.job,
    region,
    image: rec.previousImage,
  });
  return (await deps.store.updateRegion(r.id, region, { status: 'RESTORED' }, deps.clock.now())).regions[
    region
  ];
}

/** Why a failed rollout failed: the caller's reason, else its failed region's error. */
function failureReason(r: JobRolloutRecord, reason: string | undefined): string {
  if (reason) return boundReason(reason);
  const region = r.waves.flat().find((x) => r.regions[x]?.status === 'FAILED');
  const rec = region ? r.regions[region] : undefined;
  return rec
    ? `${region}${rec.failureClass ? ` [${rec.failureClass}]` : ''}: ${rec.error ?? 'failed'}`
    : 'failed';
}

/**
 * Ends the rollout. FAILED first restores the recorded template in every
 * region the rollout changed (verified ones too: the job keeps one image
 * everywhere); regions it never reached stay untouched. Then the record,
 * the job's lock, and Slack (once).
 */
export async function finishJobRollout(
  deps: JobRolloutDeps,
  id: string,
  result: 'SUCCEEDED' | 'FAILED',
  reason?: string,
): Promise<{ status: JobRolloutRecord['status']; restored: string[] }> {
  let r = await deps.store.get(id);
  if (!r) throw new GlidepathError('not_found', `job rollout ${id} not found`);
  const restored: string[] = [];
  const why = result === 'FAILED' ? failureReason(r, reason) : undefined;
  if (result === 'FAILED' && r.status !== 'SUCCEEDED')
    for (const region of touched(r)) {
      const rec = await restoreRegion(deps, r, region);
      r = { ...r, regions: { ...r.regions, [region]: rec } };
      if (rec.status === 'RESTORED') restored.push(region);
    }
  const finished = await deps.store.finish(id, result, why, deps.clock.now());
  await deps.locks.release(finished.rollout.job, rolloutHolder(id));
  if (finished.changed) {
    await deps.notifier.notify(jobRolloutFinishedMessage(finished.rollout));
    deps.log.log(result === 'SUCCEEDED' ? 'INFO' : 'ERROR', 'job rollout finished', {
      jobRolloutId: id,
      job: finished.rollout.job,
      outcome: result,
      reason: finished.rollout.reason,
      restored,
    });
  }
  return { status: finished.rollout.status, restored };
}

/** What `glidepath jobs rollback` did in one region. */
interface RegionRollback {
  region: string;
  outcome: 'restored' | 'unchanged' | 'nothing recorded' | 'busy';
  image?: string;
  rolloutId?: string;
  detail?: string;
}

/**
 * Puts back, in each region, the template recorded before the job's latest
 * image rollout that changed it (`glidepath jobs rollback`), under the job's
 * lock so no run or rollout is under way; a region already holding that
 * template is left alone.
 */
export async function rollbackJob(
  deps: Pick<JobRolloutDeps, 'store' | 'locks' | 'templates' | 'clock'>,
  job: { name: string; project: string },
  regions: string[],
  by: string,
): Promise<RegionRollback[]> {
  const now = deps.clock.now();
  const holder = `rollback:${by}`;
  const lock = await deps.locks.acquire(job.name, holder, new Date(now.getTime() + 10 * 60_000), now);
  if ('heldBy' in lock)
    return regions.map((region) => ({
      region,
      outcome: 'busy',
      detail: `the job is held by ${lock.heldBy}`,
    }));
  try {
    const rollouts = await deps.store.listForJob(job.name, 20);
    const results: RegionRollback[] = [];
    for (const region of regions) {
      const source = rollouts.find((r) => r.regions[region]?.previousTemplate !== undefined);
      const previous = source?.regions[region];
      if (!source || !previous?.previousTemplate) {
        results.push({
          region,
          outcome: 'nothing recorded',
          detail: 'no image rollout of the job changed it',
        });
        continue;
      }
      const ref = { project: job.project, region, job: job.name };
      const current = await deps.templates.getJob(ref);
      if (!current) throw new GlidepathError('not_found', `job ${job.name} does not exist in ${region}`);
      const base = {
        region,
        rolloutId: source.id,
        ...(previous.previousImage ? { image: previous.previousImage } : {}),
      };
      if (current.template === previous.previousTemplate) {
        results.push({ ...base, outcome: 'unchanged' });
        continue;
      }
      await deps.templates.updateTemplate(ref, {
        etag: current.etag,
        template: previous.previousTemplate,
        timeoutMs: UPDATE_TIMEOUT_MS,
      });
      results.push({ ...base, outcome: 'restored' });
    }
    return results;
  } finally {
    await deps.locks.release(job.name, holder);
  }
}
