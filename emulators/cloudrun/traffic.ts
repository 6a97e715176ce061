/**
 * Pure rules of Cloud Run traffic: validation of `Service.traffic` as the
 * Admin API v2 applies it, revision naming, and resolution of the spec into
 * routing weights and tag targets. No I/O here.
 */
import { RpcError, Status } from './protos';

export const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
export const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

export interface TrafficTargetSpec {
  type?: string;
  revision?: string;
  percent?: number;
  tag?: string;
}

const MAX_TAG_AND_SERVICE = 46;

// A tag becomes part of a host name in real Cloud Run, so it is a DNS label.
const TAG = /^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$/;

function invalid(message: string): never {
  throw new RpcError(Status.INVALID_ARGUMENT, message);
}

/**
 * Throws INVALID_ARGUMENT for traffic the real API rejects when called. A
 * target naming a missing revision is not one of them: the update is
 * accepted and its operation fails (see `missingRevision`).
 */
export function validateTraffic(traffic: TrafficTargetSpec[], serviceId: string): void {
  let sum = 0;
  const tags = new Set<string>();
  traffic.forEach((t, i) => {
    const field = `service.traffic[${i}]`;
    if (t.type !== LATEST && t.type !== REVISION)
      invalid(
        `${field}.type: ${JSON.stringify(t.type ?? 'TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED')} is not allowed; expected ${LATEST} or ${REVISION}`,
      );
    if (t.type === REVISION && !t.revision)
      invalid(`${field}.revision: must be set when type is ${REVISION}`);
    if (t.type === LATEST && t.revision)
      invalid(`${field}.revision: must be empty when type is ${LATEST}, got ${JSON.stringify(t.revision)}`);
    const percent = t.percent ?? 0;
    if (!Number.isInteger(percent) || percent < 0 || percent > 100)
      invalid(`${field}.percent: ${percent} is out of range; expected an integer from 0 to 100`);
    sum += percent;
    if (t.tag) {
      if (!TAG.test(t.tag))
        invalid(
          `${field}.tag: ${JSON.stringify(t.tag)} is not a valid tag; expected lowercase letters, digits and hyphens, starting with a letter, at most 46 characters`,
        );
      // The tag URL's host starts with `TAG---SERVICE-`, one DNS label. Cloud Run's text, as quoted
      // in public reports of the error (see docs/local-cloud.md).
      if (t.tag.length + serviceId.length > MAX_TAG_AND_SERVICE)
        invalid(
          `${field}.tag: traffic tag '${t.tag}' and service name '${serviceId}' together are too long. Combined traffic tag and service name cannot exceed ${MAX_TAG_AND_SERVICE} characters.`,
        );
      if (tags.has(t.tag)) invalid(`${field}.tag: Multiple definitions for ${JSON.stringify(t.tag)}`);
      tags.add(t.tag);
    }
  });
  // Knative's wording, which Cloud Run returns for a bad split.
  if (traffic.length > 0 && sum !== 100) invalid(`service.traffic: Traffic targets sum to ${sum}, want 100`);
}

/**
 * The first revision target that names none of `revisions`, with Cloud Run's
 * message: the operation fails with 13, "Revision '…' does not exist or is
 * deleted. Update all traffic to route to currently available revisions."
 * (quoted in terraform-google-modules/terraform-docs-samples#269).
 */
export function missingRevision(
  traffic: TrafficTargetSpec[],
  revisions: ReadonlySet<string>,
): string | undefined {
  const missing = traffic.find((t) => t.type === REVISION && !revisions.has(t.revision!));
  return missing
    ? `Revision '${missing.revision}' does not exist or is deleted. Update all traffic to route to currently available revisions.`
    : undefined;
}

/** Validates an explicitly named revision (`template.revision`) of service `serviceId`. */
export function validateRevisionName(name: string, serviceId: string): void {
  const prefix = `${serviceId}-`;
  if (!name.startsWith(prefix) || name.length === prefix.length)
    invalid(`service.template.revision: ${JSON.stringify(name)} must have prefix ${JSON.stringify(prefix)}`);
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
    invalid(
      `service.template.revision: ${JSON.stringify(name)} is not valid; expected lowercase letters, digits and hyphens, at most 63 characters`,
    );
}

/** `<service>-<generation, 5 digits>-<3 letters>`, as Cloud Run names revisions. */
export function generatedRevisionName(serviceId: string, generation: number, random: () => number): string {
  const letters = Array.from({ length: 3 }, () => String.fromCharCode(97 + Math.floor(random() * 26))).join(
    '',
  );
  return `${serviceId}-${String(generation).padStart(5, '0')}-${letters}`;
}

export interface Routes {
  /** Revisions with a positive share, in spec order. */
  weights: { revision: string; percent: number }[];
  /** Tag -> revision, including 0% targets. */
  tags: Map<string, string>;
}

/** Resolves LATEST to `latestReady` and merges targets of the same revision. */
export function resolveRoutes(traffic: TrafficTargetSpec[], latestReady: string | undefined): Routes {
  const byRevision = new Map<string, number>();
  const tags = new Map<string, string>();
  for (const t of traffic) {
    const revision = t.type === LATEST ? latestReady : t.revision;
    if (!revision) continue;
    if ((t.percent ?? 0) > 0) byRevision.set(revision, (byRevision.get(revision) ?? 0) + (t.percent ?? 0));
    if (t.tag) tags.set(t.tag, revision);
  }
  return { weights: [...byRevision].map(([revision, percent]) => ({ revision, percent })), tags };
}
