/**
 * The pure half of intake: one Pub/Sub message and the policy in, one of
 * three outcomes out (design brief §3). No I/O happens here, so the CLI's
 * `glidepath plan` dry run and the deployed function decide identically.
 */
import type { JobPolicy, Policy } from './policy';
import type { RolloutRequest } from './plan';
import { isArtifactTag, parseImageRef, sameRepository, type ImageRef } from './image';
import { boundReason, show } from './validation';
import {
  CloudBuildEvent,
  DeployRequest,
  GcrEvent,
  TOPICS,
  decodeMessage,
  type PubsubMessage,
} from './messages';

/** A pushed image of a job's repository: a job image rollout (docs/jobs.md). */
export interface JobImageRequest {
  job: JobPolicy;
  repository: string;
  digest: string;
  tag?: string;
  source: 'gcr' | 'cloud-builds';
}

export type IntakeDecision =
  | { outcome: 'rollout'; reason: string; requests: RolloutRequest[]; jobRequests: JobImageRequest[] }
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'rejected'; reason: string };

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const rejected = (reason: string): IntakeDecision => ({ outcome: 'rejected', reason });
const ignored = (reason: string): IntakeDecision => ({ outcome: 'ignored', reason });

/** Decides one message. Never throws; every reason is bounded (MAX_REASON_CHARS), whatever the message holds. */
export function decideIntake(
  policy: Policy,
  topic: string | undefined,
  message: PubsubMessage,
): IntakeDecision {
  const decision = decide(policy, topic, message);
  return { ...decision, reason: boundReason(decision.reason) };
}

function decide(policy: Policy, topic: string | undefined, message: PubsubMessage): IntakeDecision {
  switch (topic) {
    case TOPICS.gcr:
      return decideGcr(policy, message);
    case TOPICS.cloudBuilds:
      return decideCloudBuild(policy, message);
    case TOPICS.deployRequests:
      return decideManual(policy, message);
    default:
      return rejected(
        `topic: expected one of ${TOPICS.gcr}, ${TOPICS.cloudBuilds}, ${TOPICS.deployRequests}, got ${show(topic ?? null)}`,
      );
  }
}

/** A pushed image, reduced to what matching needs. */
interface Pushed {
  ref: ImageRef & { digest: string };
  tag?: string;
}

/** Automatic triggers: match by repository, then apply the service's tag filters. */
function matchAutomatic(
  policy: Policy,
  pushed: Pushed[],
  source: 'gcr' | 'cloud-builds',
  extra: Partial<RolloutRequest> = {},
): IntakeDecision {
  const requests: RolloutRequest[] = [];
  const jobRequests: JobImageRequest[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const image of pushed) {
    if (image.tag !== undefined && isArtifactTag(image.tag)) {
      skipped.push(
        `tag ${show(image.tag, 140)} names a signature, attestation or SBOM of another image, not an image Cloud Run can run`,
      );
      continue;
    }
    const services = policy.services.filter((s) => sameRepository(image.ref.repository, s.image));
    const jobs = policy.jobs.filter((j) => j.image && sameRepository(image.ref.repository, j.image));
    if (services.length === 0 && jobs.length === 0) {
      skipped.push(`no service or job in the policy uses repository ${image.ref.repository}`);
      continue;
    }
    for (const job of jobs) {
      const tagProblem = tagFilterProblem({ ...job, kind: 'job' }, image.tag);
      if (tagProblem) {
        skipped.push(tagProblem);
        continue;
      }
      const key = `job ${job.name} ${image.ref.digest}`;
      if (seen.has(key)) continue;
      seen.add(key);
      jobRequests.push({
        job,
        repository: image.ref.repository,
        digest: image.ref.digest,
        ...(image.tag ? { tag: image.tag } : {}),
        source,
      });
    }
    for (const service of services) {
      const tagProblem = tagFilterProblem(service, image.tag);
      if (tagProblem) {
        skipped.push(tagProblem);
        continue;
      }
      const key = `${service.name} ${image.ref.digest}`;
      if (seen.has(key)) continue;
      seen.add(key);
      requests.push({
        service,
        repository: image.ref.repository,
        digest: image.ref.digest,
        ...(image.tag ? { tag: image.tag } : {}),
        source,
        ...extra,
      });
    }
  }
  if (requests.length === 0 && jobRequests.length === 0)
    return ignored(skipped.join('; ') || 'no images in the message');
  return {
    outcome: 'rollout',
    reason: [
      ...requests.map((r) => `${r.service.name} ← ${r.repository}@${r.digest.slice(0, 19)}`),
      ...jobRequests.map((r) => `job ${r.job.name} ← ${r.repository}@${r.digest.slice(0, 19)}`),
    ].join(', '),
    requests,
    jobRequests,
  };
}

function tagFilterProblem(
  target: { name: string; tags?: string[]; kind?: 'job' },
  tag: string | undefined,
): string | undefined {
  const what = `${target.kind ?? 'service'} ${target.name}`;
  if (!target.tags?.length) return undefined;
  if (!tag)
    return `${what} rolls out only tags matching ${target.tags.join(' | ')}, and this push has no tag`;
  if (target.tags.some((pattern) => new RegExp(pattern).test(tag))) return undefined;
  return `tag ${show(tag, 140)} matches none of ${what}'s tag filters ${target.tags.join(' | ')}`;
}

function decideGcr(policy: Policy, message: PubsubMessage): IntakeDecision {
  const decoded = decodeMessage(GcrEvent, message.data, 'Artifact Registry (gcr) event');
  if (!decoded.ok) return rejected(decoded.reason);
  const event = decoded.value;
  if (event.action === 'DELETE')
    return ignored(`DELETE of ${event.tag ?? event.digest ?? 'an image'} is not a deployment`);
  const byTag = event.tag ? parseImageRef(event.tag) : undefined;
  if (byTag && !byTag.ok) return rejected(`tag: ${byTag.error}`);
  if (!event.digest) {
    if (byTag)
      return ignored(`INSERT of ${show(event.tag, 200)} carries no digest to pin: nothing to deploy`);
    return rejected('digest: expected "REPOSITORY@sha256:…" on an INSERT, got nothing');
  }
  const byDigest = parseImageRef(event.digest);
  if (!byDigest.ok) return rejected(`digest: ${byDigest.error}`);
  if (!byDigest.ref.digest)
    return rejected(`digest: expected "REPOSITORY@sha256:…", got ${show(event.digest, 200)}`);
  if (!byTag)
    // Artifact Registry publishes one for every manifest stored by digest alone: each platform's
    // image of a multi-platform push, build attestations, referrers. The message cannot tell them
    // apart, and the tagged INSERT of the same push names the image to run (docs/intake.md).
    return ignored(
      `INSERT of ${show(event.digest, 200)} has no tag: untagged manifests (platform images of a multi-platform push, attestations) never roll out`,
    );
  if (byTag.ref.repository !== byDigest.ref.repository)
    return rejected(
      `tag: expected the same repository as digest (${byDigest.ref.repository}), got ${show(event.tag, 200)}`,
    );
  return matchAutomatic(
    policy,
    [
      {
        ref: { ...byDigest.ref, digest: byDigest.ref.digest },
        ...(byTag.ref.tag ? { tag: byTag.ref.tag } : {}),
      },
    ],
    'gcr',
  );
}

/**
 * Each image of a build is judged on its own: a malformed entry is named in the reason and never
 * hides the good ones; it makes the message rejected only when nothing else rolls out.
 */
function decideCloudBuild(policy: Policy, message: PubsubMessage): IntakeDecision {
  const decoded = decodeMessage(CloudBuildEvent, message.data, 'Cloud Build event');
  if (!decoded.ok) return rejected(decoded.reason);
  const build = decoded.value;
  if (build.status !== 'SUCCESS')
    return ignored(`build ${build.id} has status ${build.status}; only SUCCESS builds roll out`);
  const pushed: Pushed[] = [];
  const malformed: string[] = [];
  const unpinned: string[] = [];
  for (const [i, image] of (build.results?.images ?? []).entries()) {
    const named = parseImageRef(image.name);
    if (!named.ok) {
      malformed.push(`results.images[${i}].name: ${named.error}`);
      continue;
    }
    if (!image.digest) {
      unpinned.push(`results.images[${i}] ${show(image.name, 200)} carries no digest to pin`);
      continue;
    }
    if (!DIGEST.test(image.digest)) {
      malformed.push(`results.images[${i}].digest: expected sha256:<64 hex>, got ${show(image.digest)}`);
      continue;
    }
    pushed.push({
      ref: { repository: named.ref.repository, digest: image.digest },
      ...(named.ref.tag ? { tag: named.ref.tag } : {}),
    });
  }
  if (pushed.length === 0 && malformed.length === 0)
    return ignored([`build ${build.id} pushed no images with a digest`, ...unpinned].join('; '));
  const sub = build.substitutions ?? {};
  const commit = sub.COMMIT_SHA || sub.SHORT_SHA || undefined;
  const decision = matchAutomatic(policy, pushed, 'cloud-builds', {
    buildId: build.id,
    ...(commit ? { commit } : {}),
    ...(build.logUrl ? { logUrl: build.logUrl } : {}),
  });
  const notes = [...malformed, ...unpinned];
  if (decision.outcome === 'rollout')
    return notes.length
      ? { ...decision, reason: `${decision.reason}; skipped ${notes.join('; ')}` }
      : decision;
  const reasons = [...malformed, ...(pushed.length ? [decision.reason] : []), ...unpinned];
  return malformed.length ? rejected(reasons.join('; ')) : ignored(reasons.join('; '));
}

function decideManual(policy: Policy, message: PubsubMessage): IntakeDecision {
  const decoded = decodeMessage(DeployRequest, message.data, 'deploy request');
  if (!decoded.ok) return rejected(decoded.reason);
  const req = decoded.value;
  const service = policy.services.find((s) => s.name === req.service);
  const job = policy.jobs.find((j) => j.name === req.service);
  // A job has no manual redeploy (docs/jobs.md, "Image rollouts"): say what to do instead.
  if (!service && job)
    return rejected(
      `service: ${show(req.service)} is a job, and a deploy request redeploys a service; a job's image rolls out when it is pushed to ${job.image ?? 'its repository (jobs[].image, not set)'}, and \`glidepath jobs rollback ${job.name}\` restores its template from before its last image rollout`,
    );
  if (!service)
    return rejected(
      `service: expected one of ${policy.services.map((s) => s.name).join(', ') || '(none configured)'}, got ${show(req.service)}`,
    );
  const image = parseImageRef(req.image);
  if (!image.ok) return rejected(`image: ${image.error}`);
  if (!sameRepository(image.ref.repository, service.image))
    return rejected(
      `security violation: image ${show(req.image, 200)} is outside service ${service.name}'s repository ${service.image}`,
    );
  if (!image.ref.digest)
    return rejected(
      `image: expected an immutable reference "${service.image}@sha256:…", got ${show(req.image, 200)}`,
    );
  const allRegions = service.waves.flat();
  const unknown = (req.regions ?? []).filter((r) => !allRegions.includes(r));
  if (unknown.length)
    return rejected(`regions: expected a subset of ${allRegions.join(', ')}, got ${show(unknown, 200)}`);
  return {
    outcome: 'rollout',
    reason: `manual redeploy of ${service.name} by ${req.requestedBy}: ${req.reason}`,
    requests: [
      {
        service,
        repository: image.ref.repository,
        digest: image.ref.digest,
        ...(image.ref.tag ? { tag: image.ref.tag } : {}),
        source: 'manual',
        reason: req.reason,
        requestedBy: req.requestedBy,
        ...(req.regions ? { regions: [...new Set(req.regions)] } : {}),
      },
    ],
    jobRequests: [],
  };
}
