/**
 * What a rollout's report shows, from what Firestore keeps: the rollout
 * record, its events, the judge's looks (functions/domain/looks.ts) and the
 * service's DORA figures. No Monitoring access: an old rollout can still be
 * shown. Pure and synchronous; charts.ts turns it into Vega-Lite specs.
 */
import type { DoraFigures } from '../domain/dora';
import type { LookRecord, LookSeries } from '../domain/looks';
import { readPlan, type RolloutPlan } from '../domain/plan';
import type { RegionRecord, RolloutRecord } from '../domain/records';

/** A rollout event as stored in rollouts/{id}/events. */
export interface ReportEvent {
  at: string;
  type: string;
  message: string;
  region?: string;
  step?: number;
}

export interface ReportInput {
  rollout: RolloutRecord;
  events: ReportEvent[];
  looks: LookRecord[];
  dora: DoraFigures;
  /** The end of the time axis of a rollout still running. */
  now: Date;
}

/** One minute of one revision; times are epoch milliseconds. */
interface MinutePoint {
  t: number;
  revision: 'canary' | 'stable';
  requests: number;
  errors: number;
  /** 5xx share of the minute's requests; null when it had none. */
  errorRate: number | null;
  latencyMs: number | null;
}

interface Band {
  start: number;
  end: number;
  kind: 'bake' | 'extension';
  step: number;
  percent: number;
}

interface LookMark {
  t: number;
  step: number;
  percent: number;
  verdict: LookRecord['verdict'];
  reasons: string[];
}

interface Outcome {
  t: number;
  kind: 'promotion' | 'rollback' | 'failure';
  text: string;
}

export interface RegionReport {
  region: string;
  status: RegionRecord['status'];
  reason?: string;
  candidate?: string;
  stable?: string | null;
  /** The candidate's share of traffic (%), changing at each point (step-after). */
  traffic: Array<{ t: number; percent: number }>;
  minutes: MinutePoint[];
  /** The latest look's percentile and limits; absent when the judge never looked. */
  percentile?: number;
  limits?: LookRecord['limits'];
  bands: Band[];
  looks: LookMark[];
  outcome?: Outcome;
  /** Deployment to outcome (or to now), seconds. */
  seconds?: number;
}

export interface ReportModel {
  id: string;
  service: string;
  image: string;
  status: RolloutRecord['status'];
  outcomeReason?: string;
  trigger: string;
  startedBy: string;
  commit?: string;
  logUrl?: string;
  createdAt: string;
  endedAt?: string;
  seconds: number;
  /** The shared time axis of every chart, epoch ms. */
  domain: [number, number];
  regions: RegionReport[];
  dora: DoraFigures;
  generatedAt: string;
}

const ms = (iso: string) => Date.parse(iso);

function trigger(r: RolloutRecord): { trigger: string; startedBy: string } {
  if (r.source === 'manual')
    return {
      trigger: `manual redeploy: ${r.reason ?? 'no reason given'}`,
      startedBy: r.requestedBy ?? 'unknown',
    };
  if (r.source === 'cloud-builds')
    return { trigger: `Cloud Build ${r.buildId ?? ''}`.trim(), startedBy: 'Cloud Build (a build finished)' };
  return {
    trigger: `image push${r.tag ? ` of tag ${r.tag}` : ''}`,
    startedBy: 'Artifact Registry (an image push)',
  };
}

/** Per revision and minute, the value from the latest look that saw it (a later look may see late data). */
function minutes(looks: LookRecord[]): MinutePoint[] {
  const byKey = new Map<string, MinutePoint>();
  const add = (revision: MinutePoint['revision'], s: LookSeries | undefined) => {
    s?.t.forEach((sec, i) => {
      const requests = s.requests[i];
      const errors = s.errors[i];
      byKey.set(`${revision}@${sec}`, {
        t: sec * 1000,
        revision,
        requests,
        errors,
        errorRate: requests > 0 ? errors / requests : null,
        latencyMs: s.latencyMs[i],
      });
    });
  };
  for (const look of looks) {
    add('canary', look.canary);
    add('stable', look.stable);
  }
  return [...byKey.values()].sort((a, b) => a.t - b.t || a.revision.localeCompare(b.revision));
}

function outcomeOf(region: string, record: RegionRecord, events: ReportEvent[]): Outcome | undefined {
  const last = (type: string) => events.filter((e) => e.region === region && e.type === type).at(-1);
  const at = (e: ReportEvent | undefined) => (e ? ms(e.at) : record.updatedAt ? ms(record.updatedAt) : NaN);
  let outcome: Outcome | undefined;
  if (record.status === 'PROMOTED')
    outcome = { t: at(last('promoted')), kind: 'promotion', text: 'promoted: candidate at 100%' };
  if (record.status === 'ROLLED_BACK')
    outcome = { t: at(last('rolled_back')), kind: 'rollback', text: `rolled back: ${record.reason ?? ''}` };
  if (record.status === 'FAILED')
    outcome = { t: at(last('deploy_failed')), kind: 'failure', text: `failed: ${record.reason ?? ''}` };
  return outcome && Number.isFinite(outcome.t) ? outcome : undefined;
}

function regionReport(
  region: string,
  record: RegionRecord,
  plan: RolloutPlan | undefined,
  input: ReportInput,
  end: number,
): RegionReport {
  const events = input.events.filter((e) => e.region === region);
  const looks = input.looks.filter((l) => l.region === region);
  const outcome = outcomeOf(region, record, input.events);
  const deployed = events.find((e) => e.type === 'deployed');
  const starts = record.steps.map((s) => (s.startedAt ? ms(s.startedAt) : NaN));
  const traffic: RegionReport['traffic'] = [];
  if (deployed) traffic.push({ t: ms(deployed.at), percent: 0 });
  record.steps.forEach((s, i) => {
    if (Number.isFinite(starts[i])) traffic.push({ t: starts[i], percent: s.percent });
  });
  if (outcome) traffic.push({ t: outcome.t, percent: outcome.kind === 'promotion' ? 100 : 0 });

  const lastLook = looks.at(-1);
  const bands: Band[] = [];
  record.steps.forEach((s, i) => {
    const start = starts[i];
    if (!Number.isFinite(start)) return;
    const stepEnd = [starts[i + 1], outcome?.t, end].find((t) => t !== undefined && Number.isFinite(t))!;
    const bakeEnd = start + (plan?.steps[i]?.bakeSeconds ?? 0) * 1000;
    bands.push({ start, end: Math.min(bakeEnd, stepEnd), kind: 'bake', step: i, percent: s.percent });
    const extended = s.extensions > 0 || looks.some((l) => l.step === i && l.verdict === 'INCONCLUSIVE');
    if (extended && stepEnd > bakeEnd)
      bands.push({ start: bakeEnd, end: stepEnd, kind: 'extension', step: i, percent: s.percent });
  });
  const first = deployed ? ms(deployed.at) : starts.find(Number.isFinite);
  return {
    region,
    status: record.status,
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.candidateRevision ? { candidate: record.candidateRevision } : {}),
    ...(record.stableRevision !== undefined ? { stable: record.stableRevision } : {}),
    traffic,
    minutes: minutes(looks),
    ...(lastLook ? { percentile: lastLook.percentile, limits: lastLook.limits } : {}),
    bands,
    looks: looks.map((l) => ({
      t: ms(l.at),
      step: l.step,
      percent: l.percent,
      verdict: l.verdict,
      reasons: l.reasons,
    })),
    ...(outcome ? { outcome } : {}),
    ...(first !== undefined ? { seconds: Math.round(((outcome?.t ?? end) - first) / 1000) } : {}),
  };
}

export function reportModel(input: ReportInput): ReportModel {
  const { rollout: r } = input;
  // A corrupt plan still gets its report, without the plan's order and bake times.
  const stored = readPlan(r);
  const plan = 'plan' in stored ? stored.plan : undefined;
  const start = ms(r.createdAt);
  const end = r.endedAt ? ms(r.endedAt) : input.now.getTime();
  // Regions in the plan's wave order, then any other the record holds.
  const order = [...(plan?.waves ?? []).flatMap((w) => w.regions), ...Object.keys(r.regions)];
  const names = [...new Set(order)].filter((n) => r.regions[n]);
  return {
    id: r.id,
    service: r.service,
    image: r.image,
    status: r.status,
    ...(r.outcomeReason ? { outcomeReason: r.outcomeReason } : {}),
    ...trigger(r),
    ...(r.commit ? { commit: r.commit } : {}),
    ...(r.logUrl ? { logUrl: r.logUrl } : {}),
    createdAt: r.createdAt,
    ...(r.endedAt ? { endedAt: r.endedAt } : {}),
    seconds: Math.round((end - start) / 1000),
    // Wide enough for every minute seen (a short rollout sits inside one Monitoring minute).
    domain: [
      Math.min(start, ...input.looks.flatMap((l) => l.canary.t.map((sec) => sec * 1000))),
      Math.max(
        end,
        start + 1000,
        ...input.looks.flatMap((l) => l.canary.t.map((sec) => sec * 1000 + 60_000)),
      ),
    ],
    regions: names.map((n) => regionReport(n, r.regions[n], plan, input, end)),
    dora: input.dora,
    generatedAt: input.now.toISOString(),
  };
}
