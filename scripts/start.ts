/**
 * `npm start`: the Glidepath demo on the local cloud.
 *
 *   1. shop:v2, a good image, is promoted everywhere, wave by wave;
 *   2. shop:v3-bad (5% 5xx) is rolled back in the canary region, and the
 *      other regions are never touched;
 *   3. search:v2 is superseded mid-rollout by search:v3, which then rolls out;
 *   4. checkout:v2 goes to staging (0% → smoke → 100%), waits for a lead's
 *      approval (a signed Slack click on Approve, a few seconds later), then
 *      runs the production canary;
 *   5. the nightly-report job fails twice and then succeeds (retries with
 *      backoff); broken-export exhausts its retries into the dead-letter queue;
 *   6. the ledger job's image v2-bad fails its verification in us-central1
 *      (out of memory) and is rolled back there; the later wave
 *      (europe-west1, asia-southeast1) is never touched.
 *
 * It shows each rollout's regions live and the Slack messages as they
 * arrive, then a summary. `npm start -- --keep` leaves the local cloud up.
 */
import { join } from 'node:path';
import { digestOf, simulate, type SimulatedRollout } from '../emulators/simulate';
import { startLocalCloud } from '../emulators/local-cloud';
import { EmulatorsMissingError } from '../emulators/google';
import { JobsClient } from '@google-cloud/run';
import type { RolloutRecord } from '../functions/domain/records';
import { JobRunRecord } from '../functions/domain/jobs';
import { localClientOptions } from '../functions/shared/endpoint';
import { waitFor } from '../emulators/util';
import type { LocalCloud } from '../emulators/local-cloud';
import { jobRunReported, type ReportedParts } from './demo/settled';

const SPEED = 60;
const keep = process.argv.includes('--keep');
const demo = join(__dirname, 'demo');
const SHOP = 'us-docker.pkg.dev/demo-project/apps/shop';
const SEARCH = 'us-docker.pkg.dev/demo-project/apps/search';
const CHECKOUT = 'us-docker.pkg.dev/demo-project/apps/checkout';
const LEDGER = 'us-docker.pkg.dev/demo-project/jobs/ledger';
/** How long the demo's lead takes to click Approve once the approval message is up. */
const APPROVAL_PAUSE_MS = 3000;

/** Where the demo's rollout reports go (the complete action writes one per finished rollout). */
const REPORTS = join(process.cwd(), 'glidepath-reports');

const out = (s: string) => process.stdout.write(s + '\n');

function regionLine(r: RolloutRecord): string {
  return Object.entries(r.regions)
    .map(([region, reg]) => {
      const last = reg.steps.at(-1);
      const step = last
        ? ` step ${last.index + 1} ${last.percent}%${last.verdict ? ` ${last.verdict}` : ''}`
        : '';
      return `${region}: ${reg.status}${step}`;
    })
    .join(' | ');
}

function printSummary(title: string, rollouts: SimulatedRollout[]): void {
  out(`\n── ${title}`);
  for (const r of rollouts) {
    out(
      `  ${r.service} ${r.image.split('@')[1]?.slice(7, 19)}  ${r.status}  ${r.seconds}s  ${r.billableSteps ?? '?'} workflow steps${r.reason ? `  (${r.reason})` : ''}`,
    );
    if (r.report) out(`      report: ${r.report}`);
    for (const [region, reg] of Object.entries(r.regions)) {
      out(
        `      ${region.padEnd(16)} ${reg.status.padEnd(12)} ${Object.entries(reg.traffic)
          .map(([rev, p]) => `${rev} ${p}%`)
          .join(', ')}`,
      );
    }
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  out(
    'Glidepath demo: starting the local cloud (Pub/Sub + Firestore emulators, Cloud Run, Monitoring, Workflows, Slack sink)…',
  );
  const cloud = await startLocalCloud({
    projectId: 'glidepath-demo',
    policyFile: join(demo, 'policy.yaml'),
    speed: SPEED,
    cloudRun: { profilesPath: join(demo, 'profiles.json'), readyDelayMs: 300, simulateLatency: false },
    printSlack: (text) => out(`\n💬 Slack #deploys\n${text}`),
    // Cloud Scheduler calls the sweeper every 5 minutes; at the demo's speed, every 5 s.
    sweepEveryMs: 300_000 / SPEED,
    reportDir: REPORTS,
  });
  for (const [name, url] of Object.entries(cloud.endpoints())) out(`  ${name.padEnd(44)} ${url}`);
  let lastLine = '';
  const onProgress = (rollouts: RolloutRecord[]) => {
    for (const r of rollouts) {
      const line = `  ⟳ ${r.service} ${r.status}  ${regionLine(r)}`;
      if (line !== lastLine) out(line);
      lastLine = line;
    }
  };
  const common = {
    policyFile: join(demo, 'policy.yaml'),
    profilesFile: join(demo, 'profiles.json'),
    cloud,
    onProgress,
    ratePerSecond: 80,
  };
  try {
    out(`\n▶ 1/6 shop: setup with v1, then roll out v2 (healthy) at ${SPEED}× speed`);
    const good = await simulate({ ...common, pushes: [`${SHOP}:v1`, `${SHOP}:v2`] });
    printSummary('good image', good.rollouts);

    out('\n▶ 2/6 shop: roll out v3-bad (5% 5xx)');
    const bad = await simulate({ ...common, pushes: [`${SHOP}:v3-bad`] });
    printSummary('bad image', bad.rollouts);

    out('\n▶ 3/6 search: v2 rolling out, then v3 pushed during its first step (supersede)');
    const superseded = await simulate({
      ...common,
      pushes: [`${SEARCH}:v1`, `${SEARCH}:v2`, `${SEARCH}:v3`],
      overlap: true,
    });
    printSummary('supersede', superseded.rollouts);

    out(
      `\n▶ 4/6 checkout: staging (0% → smoke → 100%), then a lead approves in Slack after ${APPROVAL_PAUSE_MS / 1000} s, then the production canary`,
    );
    const staged = await simulate({
      ...common,
      pushes: [`${CHECKOUT}:v1`, `${CHECKOUT}:v2`],
      answerGates: 'approve',
      answerAfterMs: APPROVAL_PAUSE_MS,
    });
    printSummary('stages', staged.rollouts);
    for (const stage of staged.rollouts.at(-1)?.stages ?? [])
      out(
        `    ${stage.name.padEnd(11)} ${stage.outcome}${stage.gate ? `  (gate ${stage.gate.status}${stage.gate.decidedBy ? ` by ${stage.gate.decidedBy}` : ''})` : ''}`,
      );

    out('\n▶ 5/6 jobs: nightly-report fails twice then succeeds; broken-export fails every attempt');
    const jobs = await runJobs(cloud);
    for (const j of jobs)
      out(
        `  ${j.job.padEnd(16)} ${j.status.padEnd(10)} attempts: ${j.attempts.map((a) => `${a.result}${a.backoffSeconds ? ` (then wait ${a.backoffSeconds}s)` : ''}`).join(' → ')}${j.deadLetterId ? `  → dead letter ${j.deadLetterId}` : ''}`,
      );

    out(
      '\n▶ 6/6 ledger job: setup with v1, then image v2-bad fails its verification in us-central1 (out of memory)',
    );
    const jobImage = await simulate({ ...common, pushes: [`${LEDGER}:v1`, `${LEDGER}:v2-bad`] });
    const [ledger] = jobImage.jobRollouts;
    for (const r of jobImage.jobRollouts) {
      out(
        `  ${r.job} ${r.image.split('@')[1]?.slice(7, 19)}  ${r.status}  ${r.seconds}s  (${r.reason ?? ''})`,
      );
      for (const [region, reg] of Object.entries(r.regions))
        out(
          `      ${region.padEnd(16)} ${reg.status.padEnd(10)} runs …@${reg.image.split('@')[1]?.slice(7, 19)}`,
        );
    }
    // Rolled back where it was verified; the later wave never written; every region runs v1 again.
    const v1 = `${LEDGER}@${digestOf(`${LEDGER}:v1`)}`;
    const jobImageOk =
      ledger?.status === 'FAILED' &&
      ledger.regions['us-central1']?.status === 'RESTORED' &&
      ledger.regions['us-central1'].failureClass === 'out-of-memory' &&
      ['europe-west1', 'asia-southeast1'].every((r) => ledger.regions[r]?.status === 'PENDING') &&
      Object.values(ledger.regions).every((r) => r.image === v1);

    const all = [...good.rollouts, ...bad.rollouts, ...superseded.rollouts, ...staged.rollouts.slice(-1)];
    const expected = ['PROMOTED', 'ROLLED_BACK', 'SUPERSEDED', 'PROMOTED', 'PROMOTED'];
    const jobsOk =
      jobs[0]?.status === 'SUCCEEDED' &&
      jobs[0].attempts.length === 3 &&
      jobs[1]?.status === 'FAILED' &&
      Boolean(jobs[1].deadLetterId);
    // The bad image must be rolled back on evidence (FAIL), with the figures in Slack, not for lack of data.
    // Either test may be the first to be significant: the increase over the stable revision
    // ("5xx 5.8% vs stable 0.0%") or the absolute ceiling ("5xx 5.8% (stable 0.0%) over the 2.0% ceiling").
    const failedOnEvidence =
      /step \d+ FAIL: /.test(bad.rollouts[0]?.reason ?? '') &&
      cloud.slack.posts.some(
        (p) =>
          /rolled back/.test(p.text) &&
          /5xx [\d.]+% (vs stable|\(stable [\d.]+%\) over the)/.test(JSON.stringify(p)),
      );
    const ok =
      jobsOk &&
      jobImageOk &&
      failedOnEvidence &&
      all.length === expected.length &&
      all.every((r, i) => r.status === expected[i]);
    out(
      `\n${ok ? '✅' : '❌'} demo ${ok ? 'finished' : 'did not go as expected'} in ${Math.round((Date.now() - started) / 1000)} s: ${all.map((r) => `${r.service} ${r.status}`).join(', ')}${failedOnEvidence ? '' : ' (the bad image was not rolled back on FAIL with its figures in Slack)'}${jobImageOk ? ', ledger v2-bad rolled back in us-central1 only' : ' (ledger v2-bad was not rolled back in us-central1 alone)'}`,
    );
    out(
      `   ${cloud.slack.posts.length} Slack messages: ${cloud.slack.posts.map((p) => p.text.split(' ')[0]).join(' ')}`,
    );
    if (keep) {
      out('\nThe local cloud keeps running (Ctrl-C to stop). Try, in another terminal:');
      for (const [k, v] of Object.entries(cloud.env)) out(`  export ${k}=${v}`);
      out(
        `  npx glidepath status shop\n  npx glidepath redeploy --service shop --image ${SHOP}@<digest> --reason "try it"`,
      );
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    process.exitCode = ok ? 0 : 1;
  } finally {
    await cloud.stop();
  }
}

/** Creates the two demo jobs, scripts their outcomes, triggers them as Cloud Scheduler would, and waits. */
async function runJobs(cloud: LocalCloud): Promise<JobRunRecord[]> {
  const client = new JobsClient(localClientOptions(cloud.cloudRun.grpcHost));
  const parent = 'projects/demo-project/locations/us-central1';
  const script: Record<string, Array<'fail' | 'succeed'>> = {
    'nightly-report': ['fail', 'fail', 'succeed'],
    'broken-export': ['fail', 'fail', 'fail'],
  };
  try {
    for (const [job, outcomes] of Object.entries(script)) {
      const [op] = await client.createJob({
        parent,
        jobId: job,
        job: {
          template: {
            template: { containers: [{ image: `us-docker.pkg.dev/demo-project/jobs/${job}:v1` }] },
          },
        },
      });
      await op.promise();
      cloud.cloudRun.setJobOutcomes(`${parent}/jobs/${job}`, outcomes);
    }
  } finally {
    await client.close();
  }
  // As Cloud Scheduler publishes them: the job's name in the payload and in the `job` attribute.
  await Promise.all(
    Object.keys(script).map((job) =>
      cloud.pubsub.topic('glidepath-job-triggers').publishMessage({ json: { job }, attributes: { job } }),
    ),
  );
  const parts: ReportedParts = {
    deadLetterStored: async (id) => (await cloud.firestore.collection('deadLetters').doc(id).get()).exists,
    slackTold: (id) => cloud.slack.posts.some((p) => JSON.stringify(p).includes(id)),
  };
  return waitFor(
    async () => {
      const runs = await Promise.all(
        Object.keys(script).map(async (job) => {
          const q = await cloud.firestore.collection('jobRuns').where('job', '==', job).get();
          return q.docs.map((d) => JobRunRecord.parse(d.data()))[0];
        }),
      );
      for (const run of runs) if (!(await jobRunReported(run, parts))) return undefined;
      return runs;
    },
    {
      timeoutMs: 120_000,
      what: 'the demo jobs to finish, with broken-export’s dead letter stored and told to Slack',
      intervalMs: 250,
    },
  );
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    if (err instanceof EmulatorsMissingError) process.stderr.write(`\n${err.message}\n`);
    else process.stderr.write(`\ndemo failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
