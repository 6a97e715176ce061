/**
 * The safety invariants of design brief §6, as pure checks over what a
 * chaos run observed: the real traffic (from the Cloud Run emulator), the
 * Firestore records, the messages published and the Slack posts. Each check
 * returns violations that say what broke, where, and what was expected.
 */
import { isTerminal, type RolloutRecord } from '../../functions/domain/records';
import type { JobRunRecord } from '../../functions/domain/jobs';
import type { FailureClass } from '../../functions/domain/job-failures';
import type { JobRolloutRecord } from '../../functions/domain/job-rollout';

export interface Violation {
  invariant:
    | 'final-traffic'
    | 'one-candidate'
    | 'record-matches-traffic'
    | 'message-accounting'
    | 'failure-noticed'
    | 'settled'
    | 'job-accounting'
    | 'failure-class'
    | 'sweeper-ends-dead-runs'
    | 'sweeper-ends-dead-job-rollouts'
    | 'job-template-restored'
    | 'one-verification'
    | 'gate-consistent';
  subject: string;
  detail: string;
}

/** Serving revisions only (percent > 0), as a sorted `rev=percent` string for messages. */
function splitText(traffic: Record<string, number>): string {
  return (
    Object.entries(traffic)
      .filter(([, p]) => p > 0)
      .sort()
      .map(([r, p]) => `${r}=${p}`)
      .join(', ') || '(none)'
  );
}

function serving(traffic: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(traffic).filter(([, p]) => p > 0));
}

export interface RegionFinal {
  service: string;
  region: string;
  /** The real traffic at the end, from the Cloud Run emulator. */
  traffic: Record<string, number>;
  /** The revision serving 100% before the scenario began. */
  initialRevision: string;
  /** The scenario's rollouts of this service, oldest first. */
  rollouts: RolloutRecord[];
}

const ANALYSED = (r: RolloutRecord['regions'][string]): boolean =>
  r.steps.length > 0 && r.steps.every((s) => s.verdict === 'PASS');

/**
 * Every region ends at 100% on one revision: the stable revision its last
 * rollout recorded (or the initial one if no rollout touched it), or a
 * candidate that was promoted after every step PASSed. Never split, never an
 * unanalysed candidate; and the last record there matches the real traffic.
 */
export function checkFinalTraffic(final: RegionFinal): Violation[] {
  const subject = `${final.service}/${final.region}`;
  const out: Violation[] = [];
  const live = serving(final.traffic);
  const revisions = Object.keys(live);
  if (revisions.length !== 1 || live[revisions[0]] !== 100)
    return [
      {
        invariant: 'final-traffic',
        subject,
        detail: `expected 100% on one revision, got ${splitText(final.traffic)}`,
      },
    ];
  const [revision] = revisions;
  const touching = final.rollouts.filter((r) => r.regions[final.region]?.candidateRevision);
  const last = touching.at(-1);
  const lastRegion = last?.regions[final.region];
  const allowed = new Set<string>([final.initialRevision]);
  for (const r of touching)
    if (r.regions[final.region].stableRevision) allowed.add(r.regions[final.region].stableRevision!);

  const candidate = touching.find((r) => r.regions[final.region].candidateRevision === revision);
  if (candidate) {
    const region = candidate.regions[final.region];
    if (region.status !== 'PROMOTED')
      out.push({
        invariant: 'final-traffic',
        subject,
        detail: `serving candidate ${revision} of rollout ${candidate.id}, whose region is ${region.status}, not PROMOTED`,
      });
    else if (!ANALYSED(region) && region.stableRevision)
      out.push({
        invariant: 'final-traffic',
        subject,
        detail: `candidate ${revision} promoted without a PASS at every step (verdicts: ${region.steps.map((s) => s.verdict ?? 'none').join(', ')})`,
      });
  } else if (!allowed.has(revision)) {
    out.push({
      invariant: 'final-traffic',
      subject,
      detail: `serving ${revision}, which is neither a recorded stable revision (${[...allowed].join(', ')}) nor a promoted candidate`,
    });
  }
  if (lastRegion) {
    const recorded = serving(lastRegion.traffic);
    if (splitText(recorded) !== splitText(live))
      out.push({
        invariant: 'record-matches-traffic',
        subject,
        detail: `rollout ${last!.id} recorded ${splitText(recorded)} (${lastRegion.status}) but Cloud Run serves ${splitText(live)}`,
      });
  }
  return out;
}

/** A routing change seen by the Cloud Run emulator. */
export interface RouteChange {
  service: string;
  region: string;
  weights: Array<{ revision: string; percent: number }>;
}

/**
 * At most one candidate per service and region at any time: with a single
 * stable revision before, no routing ever serves more than two revisions.
 */
export function checkOneCandidate(history: RouteChange[]): Violation[] {
  const out: Violation[] = [];
  for (const change of history) {
    const live = change.weights.filter((w) => w.percent > 0);
    if (live.length > 2)
      out.push({
        invariant: 'one-candidate',
        subject: `${change.service}/${change.region}`,
        detail: `${live.length} revisions served at once: ${live.map((w) => `${w.revision}=${w.percent}`).join(', ')}`,
      });
  }
  return out;
}

/** A published message and what must have come of it. */
export interface PublishedMessage {
  messageId: string;
  topic: string;
  /** For valid images: the (service, digest) that must start exactly one rollout. */
  expect: { rollout: { service: string; digest: string } } | { rejected: true };
}

interface MessageOutcomes {
  /** Rollout ids per `service@digest`. */
  rolloutsByImage: Record<string, string[]>;
  /** Dead-letter records per message id: rejected or undeliverable. */
  deadLettersByMessage: Record<string, number>;
}

/** No message lost or doubled: one rollout per image, one record per rejected message. */
export function checkMessages(published: PublishedMessage[], outcomes: MessageOutcomes): Violation[] {
  const out: Violation[] = [];
  const images = new Map<string, string[]>();
  for (const m of published) {
    if ('rejected' in m.expect) {
      const n = outcomes.deadLettersByMessage[m.messageId] ?? 0;
      if (n !== 1)
        out.push({
          invariant: 'message-accounting',
          subject: `message ${m.messageId} on ${m.topic}`,
          detail: `expected exactly one dead-letter record of the rejected message, found ${n}`,
        });
      continue;
    }
    const key = `${m.expect.rollout.service}@${m.expect.rollout.digest}`;
    images.set(key, [...(images.get(key) ?? []), m.messageId]);
  }
  for (const [key, ids] of images) {
    const rollouts = outcomes.rolloutsByImage[key] ?? [];
    const deadLettered = ids.some((id) => (outcomes.deadLettersByMessage[id] ?? 0) > 0);
    if (rollouts.length > 1 || (rollouts.length === 0 && !deadLettered))
      out.push({
        invariant: 'message-accounting',
        subject: key,
        detail: `${ids.length} message(s) (${ids.join(', ')}) must start exactly one rollout; started ${rollouts.length}${deadLettered ? ' (one was dead-lettered)' : ''}`,
      });
  }
  return out;
}

const FAILED = new Set(['ROLLED_BACK', 'FAILED', 'ABORTED']);

/** Every failure has a reason and a Slack notice. */
export function checkFailuresNoticed(rollouts: RolloutRecord[], slackTexts: string[]): Violation[] {
  const out: Violation[] = [];
  for (const r of rollouts) {
    if (!FAILED.has(r.status)) continue;
    if (!r.outcomeReason?.trim())
      out.push({ invariant: 'failure-noticed', subject: r.id, detail: `${r.status} without a reason` });
    if (!slackTexts.some((t) => t.includes(`Rollout ${r.id} `)))
      out.push({
        invariant: 'failure-noticed',
        subject: r.id,
        detail: `${r.status} (${r.outcomeReason ?? 'no reason'}) but Slack never heard of it`,
      });
    for (const [region, rec] of Object.entries(r.regions))
      if (rec.status === 'ROLLED_BACK' && !rec.reason)
        out.push({
          invariant: 'failure-noticed',
          subject: `${r.id}/${region}`,
          detail: 'rolled back without a reason',
        });
  }
  return out;
}

/** What an approval scenario expects of one rollout's gates, beyond what any gate must satisfy. */
export interface GateExpectation {
  rolloutId: string;
  /** Gates answered only after they expired or the rollout ended: the click must have changed nothing. */
  undecided: string[];
}

const GATE_ENDS: Record<string, string> = { REJECTED: 'REJECTED', EXPIRED: 'EXPIRED' };

/**
 * Approval gates leave one consistent record and thread (issue 16): a
 * decision is recorded at most once and told exactly once; a rejected or
 * expired gate ends its rollout so (unless something else ended it first)
 * and leaves no region of its stage promoted, so no candidate traffic (the
 * final-traffic check then holds the region to its stable revision); an
 * approved gate never ends its rollout REJECTED or EXPIRED; a click after the
 * gate expired or the rollout ended changed nothing.
 */
export function checkGates(
  rollouts: RolloutRecord[],
  slackTexts: string[],
  expectations: GateExpectation[] = [],
): Violation[] {
  const out: Violation[] = [];
  for (const r of rollouts) {
    const stages = (r.plan as { stages?: Array<{ name: string; waves: Array<{ regions: string[] }> }> })
      .stages;
    for (const gate of Object.values(r.gates ?? {})) {
      const subject = `${r.id}/${gate.name}`;
      const told = slackTexts.filter((t) =>
        new RegExp(`(approved|rejected) gate ${gate.name} of ${r.service} \\(rollout ${r.id}\\)`).test(t),
      ).length;
      if (told !== (gate.decidedBy ? 1 : 0))
        out.push({
          invariant: 'gate-consistent',
          subject,
          detail: `expected ${gate.decidedBy ? 'one decision post' : 'no decision post'} for a gate ${gate.status}, got ${told}`,
        });
      if (
        gate.status === 'WAITING' &&
        isTerminal(r.status) &&
        !['SUPERSEDED', 'ABORTED', 'FAILED'].includes(r.status)
      )
        out.push({ invariant: 'gate-consistent', subject, detail: `still WAITING on a rollout ${r.status}` });
      const end = GATE_ENDS[gate.status];
      if (end && r.status !== end && !['SUPERSEDED', 'ABORTED', 'FAILED'].includes(r.status))
        out.push({
          invariant: 'gate-consistent',
          subject,
          detail: `gate ${gate.status} but the rollout ended ${r.status}: expected ${end} (or stopped otherwise first)`,
        });
      if (gate.status === 'APPROVED' && (r.status === 'REJECTED' || r.status === 'EXPIRED'))
        out.push({
          invariant: 'gate-consistent',
          subject,
          detail: `gate APPROVED but the rollout ended ${r.status}`,
        });
      if (end) {
        const regions = stages?.find((st) => st.name === gate.stage)?.waves.flatMap((w) => w.regions) ?? [];
        for (const region of regions)
          if (r.regions[region]?.status === 'PROMOTED')
            out.push({
              invariant: 'gate-consistent',
              subject: `${subject}/${region}`,
              detail: `gate ${gate.status} but the region was promoted`,
            });
      }
    }
  }
  for (const e of expectations) {
    const r = rollouts.find((x) => x.id === e.rolloutId);
    for (const name of e.undecided) {
      const gate = r?.gates?.[name];
      if (gate?.decidedBy)
        out.push({
          invariant: 'gate-consistent',
          subject: `${e.rolloutId}/${name}`,
          detail: `a click after the gate expired or the rollout ended was recorded: ${gate.decision} by ${gate.decidedBy.id}`,
        });
    }
  }
  return out;
}

/** What a job run must come to, from the outcomes scripted for its executions. */
export interface JobExpectation {
  messageId: string;
  job: string;
  status: 'SUCCEEDED' | 'FAILED';
  attempts: number;
  /** The class each failed attempt must be recorded with, from the cause injected into it. */
  classes: FailureClass[];
  /** Its workflow execution was killed mid-run: the sweeper must have ended it. */
  killed?: boolean;
}

/**
 * One job run per trigger message, ending as scripted, with exactly one
 * Cloud Run execution per attempt; a failed run is dead-lettered and told.
 */
export function checkJobRun(
  expected: JobExpectation,
  runs: JobRunRecord[],
  executionsStarted: number,
  deadLettered: boolean,
  slackTexts: string[],
): Violation[] {
  const subject = `job ${expected.job} message ${expected.messageId}`;
  if (runs.length !== 1)
    return [{ invariant: 'job-accounting', subject, detail: `expected one job run, found ${runs.length}` }];
  const [run] = runs;
  const out: Violation[] = [];
  if (run.status !== expected.status || run.attempts.length !== expected.attempts)
    out.push({
      invariant: 'job-accounting',
      subject,
      detail: `expected ${expected.status} after ${expected.attempts} attempt(s), got ${run.status} after ${run.attempts.length}`,
    });
  if (expected.killed && !run.endReason?.startsWith('ended by the sweeper: '))
    out.push({
      invariant: 'sweeper-ends-dead-runs',
      subject,
      detail: `its job-run execution was killed but the run ended ${run.status} without the sweeper's reason`,
    });
  const recorded = run.attempts.filter((a) => a.result === 'FAILED').map((a) => a.failureClass);
  if (
    !expected.killed &&
    run.attempts.length === expected.attempts &&
    recorded.join() !== expected.classes.join()
  )
    out.push({
      invariant: 'failure-class',
      subject,
      detail: `expected failure classes [${expected.classes.join(', ')}], recorded [${recorded.join(', ')}]`,
    });
  if (executionsStarted !== run.attempts.length)
    out.push({
      invariant: 'job-accounting',
      subject,
      detail: `${run.attempts.length} attempt(s) recorded but ${executionsStarted} Cloud Run execution(s) started`,
    });
  if (run.status === 'FAILED') {
    if (!deadLettered)
      out.push({ invariant: 'job-accounting', subject, detail: 'failed run without a dead-letter record' });
    if (!slackTexts.some((t) => t.includes(run.job) && t.includes('failed')))
      out.push({ invariant: 'failure-noticed', subject, detail: 'failed run but Slack never heard of it' });
  }
  return out;
}

/** What a job image rollout must come to: its regions in wave order, and the one whose verification fails. */
export interface JobImageExpectation {
  job: string;
  rolloutId: string;
  image: string;
  regions: string[];
  failing?: { region: string; class: FailureClass };
  /** Its workflow execution was killed while the first region's verification ran: the sweeper must end it. */
  killed?: boolean;
}

/** What a job image rollout left: its record, and per region the job's template before and after, and its verifications. */
export interface JobImageObserved {
  records: JobRolloutRecord[];
  regions: Record<
    string,
    {
      /** The job's template (canonical JSON) before the push, and at the end. */
      before: string;
      after: string;
      afterImages: string[];
      /** Cloud Run executions carrying this rollout's verification marker for the region. */
      verifications: number;
    }
  >;
}

/**
 * A job image rollout (issue 17): one record per image; after a failure the
 * template is back as it was in every region (those the rollout touched are
 * restored, the later ones never written), after a success every region runs
 * the image; one verification execution per region the rollout reached and
 * none beyond; the failed verification's recorded class is the injected
 * cause's; a failure is told to Slack. A rollout whose execution was killed
 * during the first region's verification is ended by the sweeper, as a failure.
 */
export function checkJobImageRollout(
  expected: JobImageExpectation,
  observed: JobImageObserved,
  slackTexts: string[],
): Violation[] {
  const subject = `job ${expected.job} rollout ${expected.rolloutId}`;
  if (observed.records.length !== 1)
    return [
      {
        invariant: 'job-accounting',
        subject,
        detail: `expected one job rollout of ${expected.image}, found ${observed.records.length}`,
      },
    ];
  const [r] = observed.records;
  const out: Violation[] = [];
  const status = expected.failing || expected.killed ? 'FAILED' : 'SUCCEEDED';
  if (r.status !== status)
    out.push({
      invariant: 'job-accounting',
      subject,
      detail: `expected ${status}${expected.failing ? ` (verification fails in ${expected.failing.region})` : ''}${expected.killed ? ' (its execution was killed)' : ''}, got ${r.status} (${r.reason ?? 'no reason'})`,
    });
  if (expected.killed && !r.reason?.startsWith('ended by the sweeper: '))
    out.push({
      invariant: 'sweeper-ends-dead-job-rollouts',
      subject,
      detail: `its job-rollout execution was killed but the rollout is ${r.status} without the sweeper's reason (${r.reason ?? 'no reason'})`,
    });
  const reachedUpTo = expected.failing
    ? expected.regions.indexOf(expected.failing.region)
    : expected.killed
      ? 0
      : expected.regions.length - 1;
  for (const [i, region] of expected.regions.entries()) {
    const seen = observed.regions[region];
    const reached = i <= reachedUpTo;
    if (seen.verifications !== (reached ? 1 : 0))
      out.push({
        invariant: 'one-verification',
        subject: `${subject}/${region}`,
        // The record's own account, so that a failure here can be diagnosed from the report alone.
        detail: `expected ${reached ? 'one verification execution' : 'no verification (a later wave after the failure)'}, Cloud Run started ${seen.verifications} (region ${r.regions[region]?.status ?? 'not recorded'}; rollout ${r.status}: ${r.reason ?? 'no reason'})`,
      });
    if (r.status === 'FAILED' && seen.after !== seen.before)
      out.push({
        invariant: 'job-template-restored',
        subject: `${subject}/${region}`,
        detail: `the rollout failed but the job's template is not the one before it (${reached ? `region ${r.regions[region]?.status}` : 'never reached'}): runs ${seen.afterImages.join(', ')}`,
      });
    if (r.status === 'SUCCEEDED' && seen.afterImages.join() !== expected.image)
      out.push({
        invariant: 'job-accounting',
        subject: `${subject}/${region}`,
        detail: `the rollout succeeded but the job runs ${seen.afterImages.join(', ')}, not ${expected.image}`,
      });
  }
  if (expected.failing && r.status === 'FAILED') {
    const recorded = r.regions[expected.failing.region]?.failureClass;
    if (recorded !== expected.failing.class)
      out.push({
        invariant: 'failure-class',
        subject: `${subject}/${expected.failing.region}`,
        detail: `expected failure class ${expected.failing.class}, recorded ${recorded ?? 'none'} (${r.regions[expected.failing.region]?.error ?? 'no error'}; rollout: ${r.reason ?? 'no reason'})`,
      });
  }
  if (r.status === 'FAILED' && !slackTexts.some((t) => t.includes(`Job ${expected.job}: image`)))
    out.push({
      invariant: 'failure-noticed',
      subject,
      detail: 'failed job rollout but Slack never heard of it',
    });
  return out;
}
