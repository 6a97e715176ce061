/**
 * Pure traffic plans for one service in one region. Each takes the
 * service's current traffic and returns the complete new list, so the
 * adapter can re-apply it to a fresh snapshot after an etag conflict.
 *
 * Invariants: percentages sum to 100; the user's tags are always kept (at
 * 0% if their revision no longer serves); `gp-` tags are Glidepath's own.
 */
import type { ServiceSnapshot, TrafficTarget } from '../ports';
import { GLIDEPATH_TAG_PREFIX } from './tags';

/** A revision and its share, with LATEST resolved to the revision it meant. */
export interface Share {
  revision: string;
  percent: number;
}

const isGlidepathTag = (tag: string | undefined): boolean => Boolean(tag?.startsWith(GLIDEPATH_TAG_PREFIX));

/** The current traffic with LATEST resolved to the latest ready revision. */
function resolvedTargets(snapshot: ServiceSnapshot): Array<TrafficTarget & { revision: string }> {
  const out: Array<TrafficTarget & { revision: string }> = [];
  for (const t of snapshot.traffic) {
    const revision = t.type === 'LATEST' ? snapshot.latestReadyRevision : t.revision;
    if (revision) out.push({ ...t, type: 'REVISION', revision });
  }
  return out;
}

/** Who serves, and how much: the split a rollback must restore. */
export function servingSplit(snapshot: ServiceSnapshot): Share[] {
  const byRevision = new Map<string, number>();
  for (const t of resolvedTargets(snapshot)) {
    if (t.percent > 0) byRevision.set(t.revision, (byRevision.get(t.revision) ?? 0) + t.percent);
  }
  return [...byRevision].map(([revision, percent]) => ({ revision, percent }));
}

/** The stable revision: the one serving the most traffic, if any serves. */
export function stableRevision(split: Share[]): string | undefined {
  return [...split].sort((a, b) => b.percent - a.percent)[0]?.revision;
}

/** The user's tags (not Glidepath's), with the revisions they point at. */
function userTags(snapshot: ServiceSnapshot): Array<{ revision: string; tag: string }> {
  return resolvedTargets(snapshot)
    .filter((t) => t.tag && !isGlidepathTag(t.tag))
    .map((t) => ({ revision: t.revision, tag: t.tag! }));
}

/** Builds targets from shares plus tags; each tag rides on its revision's share when there is one. */
export function composeTraffic(
  shares: Share[],
  tags: Array<{ revision: string; tag: string }>,
): TrafficTarget[] {
  const total = shares.reduce((n, s) => n + s.percent, 0);
  if (total !== 100) throw new Error(`traffic must sum to 100, got ${total} (${JSON.stringify(shares)})`);
  const targets: TrafficTarget[] = [];
  const pending = [...tags];
  for (const s of shares.filter((x) => x.percent > 0)) {
    const i = pending.findIndex((t) => t.revision === s.revision);
    const tag = i >= 0 ? pending.splice(i, 1)[0].tag : undefined;
    targets.push({ type: 'REVISION', revision: s.revision, percent: s.percent, ...(tag ? { tag } : {}) });
  }
  for (const t of pending) targets.push({ type: 'REVISION', revision: t.revision, percent: 0, tag: t.tag });
  return targets;
}

/** Deploy: pin today's split to explicit revisions and add the candidate at 0% under its tag. */
export function withCandidateAtZero(
  snapshot: ServiceSnapshot,
  candidate: string,
  tag: string,
): TrafficTarget[] {
  const split = servingSplit(snapshot);
  return composeTraffic(split, [...userTags(snapshot), { revision: candidate, tag }]);
}

/** Shift: the candidate takes `percent`, the stable the rest; other revisions stop serving. */
export function shifted(
  snapshot: ServiceSnapshot,
  stable: string,
  candidate: string,
  tag: string,
  percent: number,
): TrafficTarget[] {
  const shares =
    percent >= 100
      ? [{ revision: candidate, percent: 100 }]
      : [
          { revision: stable, percent: 100 - percent },
          { revision: candidate, percent },
        ];
  return composeTraffic(shares, [...userTags(snapshot), { revision: candidate, tag }]);
}

/**
 * Promote: the candidate serves everything and keeps its tag. When it is the
 * latest revision (ready and created), the traffic goes to LATEST, as
 * Cloud Run leaves a service after a plain deploy: a later manual
 * `gcloud run deploy` then takes the traffic. When a newer revision exists,
 * LATEST would hand the traffic to a revision nobody judged, so the candidate
 * stays pinned by name. Tags stay pinned to their revisions either way.
 */
export function promoted(snapshot: ServiceSnapshot, candidate: string, tag: string): TrafficTarget[] {
  const tags = [...userTags(snapshot), { revision: candidate, tag }];
  const isLatest = snapshot.latestReadyRevision === candidate && snapshot.latestCreatedRevision === candidate;
  if (!isLatest) return composeTraffic([{ revision: candidate, percent: 100 }], tags);
  return [
    { type: 'LATEST', percent: 100 },
    ...tags.map((t): TrafficTarget => ({ type: 'REVISION', revision: t.revision, percent: 0, tag: t.tag })),
  ];
}

/** Rollback: exactly the recorded split, the user's tags kept, the candidate's tag gone. */
export function restored(snapshot: ServiceSnapshot, recorded: Share[]): TrafficTarget[] {
  return composeTraffic(recorded, userTags(snapshot));
}

/** Percent per revision actually configured, for records and invariant checks. */
export function trafficMap(targets: TrafficTarget[], latestReady?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of targets) {
    const r = t.type === 'LATEST' ? latestReady : t.revision;
    if (r && t.percent > 0) out[r] = (out[r] ?? 0) + t.percent;
  }
  return out;
}
