/**
 * Cloud Function `sweeper` (HTTP), called by Cloud Scheduler with its OIDC
 * identity: finds stuck rollouts and restores the safe state, then re-sends
 * queued Slack notices (functions/usecases/sweep.ts), then ends job runs
 * and job image rollouts whose workflow died (functions/usecases/job-sweep.ts;
 * a rollout's changed templates are restored), and re-sends gate
 * decisions whose Workflows callback could not be sent (functions/usecases/gates.ts). Answers the report.
 */
import * as functions from '@google-cloud/functions-framework';
import type { Request, Response } from '@google-cloud/functions-framework';
import { checkCaller } from '../shared/caller';
import { fromSdkError } from '../shared/errors';
import { sweep } from '../usecases/sweep';
import { rolloutDeps } from '../actions/rollout';
import { jobActionDeps } from '../actions/jobs';
import { jobRolloutDeps } from '../actions/job-rollout';
import { sweepJobRollouts, sweepJobRuns } from '../usecases/job-sweep';
import { resendGateCallbacks } from '../usecases/gates';
import { runtime } from './runtime';

async function sweeper(req: Request, res: Response): Promise<void> {
  const rt = runtime();
  const caller = checkCaller(req.header('authorization'), {
    serviceAccount: rt.config.GLIDEPATH_SCHEDULER_SA,
    localSecret: rt.config.GLIDEPATH_LOCAL_OIDC_SECRET,
  });
  if (!caller.ok) {
    rt.log.warn('sweeper call refused', { reason: caller.reason });
    res.status(caller.status).json({ error: caller.reason });
    return;
  }
  const log = rt.log.child({ component: 'sweeper' });
  const settings = {
    heartbeatGraceSeconds: rt.config.GLIDEPATH_SWEEP_HEARTBEAT_GRACE_SECONDS,
    launchGraceSeconds: rt.config.GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS,
  };
  try {
    const report = await sweep({ ...rolloutDeps({ rt, log }), outbox: rt.outbox, settings });
    const gateCallbacks = await resendGateCallbacks({
      gates: rt.gates,
      callbacks: rt.gateCallbacks(),
      clock: rt.clock,
      log,
    });
    const jobRuns = await sweepJobRuns({
      ...jobActionDeps({ rt, log }),
      store: rt.jobStore,
      launcher: rt.launcher,
      settings,
    });
    const jobRollouts = await sweepJobRollouts({
      ...jobRolloutDeps({ rt, log }),
      launcher: rt.launcher,
      settings,
    });
    log.info('sweep finished', {
      checked: report.checked,
      recovered: report.recovered.length,
      errors: report.errors.length,
      jobRunsChecked: jobRuns.checked,
      jobRunsEnded: jobRuns.recovered.length,
      jobRunErrors: jobRuns.errors.length,
      jobRolloutsChecked: jobRollouts.checked,
      jobRolloutsEnded: jobRollouts.recovered.length,
      jobRolloutErrors: jobRollouts.errors.length,
      outboxDelivered: report.outbox.delivered,
      outboxPending: report.outbox.pending,
      gateCallbacksSent: gateCallbacks.sent,
      gateCallbacksPending: gateCallbacks.pending,
    });
    const errors = report.errors.length + jobRuns.errors.length + jobRollouts.errors.length;
    res.status(errors ? 503 : 200).json({ ...report, gateCallbacks, jobRuns, jobRollouts });
  } catch (err) {
    const e = fromSdkError(err, 'sweep');
    log.error('sweep failed', { error: e.message });
    res.status(503).json({ error: e.message });
  }
}

functions.http('sweeper', sweeper);
