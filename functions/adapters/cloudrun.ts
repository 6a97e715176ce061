/**
 * TrafficRouter on Cloud Run Admin API v2, with the real `@google-cloud/run`
 * clients. Every write is a read-modify-write of the whole Service guarded by
 * its etag: fields Glidepath does not manage are sent back exactly as read,
 * and a conflicting concurrent update is retried a bounded number of times on
 * a fresh read, re-applying `plan`.
 */
import { RevisionsClient, ServicesClient, protos } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import type {
  Fence,
  RevisionState,
  ServiceRef,
  ServiceSnapshot,
  TrafficRouter,
  TrafficTarget,
} from '../ports';
import { sameRepository } from '../domain/image';
import { fromSdkError, GlidepathError } from '../shared/errors';
import { silentLogger, type Logger } from '../shared/log';
import { awaitOperation, LRO_CALL_OPTIONS } from './operations';

type IService = protos.google.cloud.run.v2.IService;
type ICondition = protos.google.cloud.run.v2.ICondition;
const { TrafficTargetAllocationType } = protos.google.cloud.run.v2;
const ConditionState = protos.google.cloud.run.v2.Condition.State;

/** Identifies Glidepath on every write (`Service.client`, `client_version` in service.proto). */
export const GLIDEPATH_CLIENT = { client: 'glidepath', clientVersion: '0.1.0' } as const;

const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;
const ABORTED = 10;

interface CloudRunRouterOptions {
  /** Client options, e.g. `localClientOptions(host)` for the emulator; `{}` for Google. */
  clientOptions?: Record<string, unknown>;
  /** Extra attempts after an etag conflict. Default 5. */
  maxConflictRetries?: number;
  logger?: Logger;
}

/** Enum values arrive as numbers from the client and as names from plain objects. */
function enumName(values: Record<string | number, string | number>, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return values[value] as string | undefined;
  return undefined;
}

const lastSegment = (name?: string | null): string | undefined => (name ? name.split('/').pop() : undefined);

function serviceName(ref: ServiceRef): string {
  return `projects/${ref.project}/locations/${ref.region}/services/${ref.service}`;
}

type IContainer = protos.google.cloud.run.v2.IContainer;

/**
 * The index of the container that takes a new image of `repository`: the
 * only one; else the ingress container, the one that declares `ports` (Cloud
 * Run requires exactly one in a multi-container template); else the only one
 * whose image is under `repository`. Anything else is ambiguous.
 */
export function ingressContainer(containers: IContainer[], repository: string): number {
  if (containers.length === 1) return 0;
  const indices = (keep: (c: IContainer) => boolean): number[] =>
    containers.flatMap((c, i) => (keep(c) ? [i] : []));
  const withPorts = indices((c) => (c.ports ?? []).length > 0);
  if (withPorts.length === 1) return withPorts[0];
  const underRepository = indices((c) => sameRepository(repositoryOf(c.image ?? ''), repository));
  if (withPorts.length === 0 && underRepository.length === 1) return underRepository[0];
  const names = containers.map((c, i) => c.name || `#${i}`).join(', ');
  throw new GlidepathError(
    'invalid',
    `cannot tell which container of the service takes the new image: ${containers.length} containers (${names}), ` +
      `${withPorts.length} declaring ports (expected exactly 1), ${underRepository.length} with an image under ${repository}; ` +
      `declare ports on the ingress container only`,
  );
}

/** `host/path` of an image reference, without tag or digest. */
function repositoryOf(image: string): string {
  const withoutDigest = image.split('@')[0];
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon >= 0 ? withoutDigest.slice(0, colon) : withoutDigest;
}

/** The image the service serves: its ingress container's (the one with ports), or its only container's. */
function servedImage(containers: IContainer[] | null | undefined): string {
  const list = containers ?? [];
  return (list.find((c) => (c.ports ?? []).length > 0) ?? list[0])?.image ?? '';
}

export function toSnapshot(ref: ServiceRef, svc: IService): ServiceSnapshot {
  const traffic: TrafficTarget[] = (svc.traffic ?? []).map((t) => {
    const type =
      enumName(TrafficTargetAllocationType, t.type) === 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST'
        ? 'LATEST'
        : 'REVISION';
    return {
      type,
      ...(type === 'REVISION' && t.revision ? { revision: t.revision } : {}),
      percent: t.percent ?? 0,
      ...(t.tag ? { tag: t.tag } : {}),
    };
  });
  const tagUrls: Record<string, string> = {};
  for (const s of svc.trafficStatuses ?? []) if (s.tag && s.uri) tagUrls[s.tag] = s.uri;
  return {
    ref,
    etag: svc.etag ?? '',
    generation: Number(svc.generation ?? 0),
    image: servedImage(svc.template?.containers),
    latestReadyRevision: lastSegment(svc.latestReadyRevision),
    latestCreatedRevision: lastSegment(svc.latestCreatedRevision),
    traffic,
    tagUrls,
    ...(svc.uri ? { url: svc.uri } : {}),
  };
}

function toApiTraffic(targets: TrafficTarget[]): protos.google.cloud.run.v2.ITrafficTarget[] {
  return targets.map((t) => ({
    type:
      t.type === 'LATEST'
        ? 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST'
        : 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION',
    ...(t.type === 'REVISION' ? { revision: t.revision } : {}),
    percent: t.percent,
    ...(t.tag ? { tag: t.tag } : {}),
  }));
}

function readiness(conditions: ICondition[] | null | undefined): Pick<RevisionState, 'ready' | 'reason'> {
  const ready = (conditions ?? []).find((c) => c.type === 'Ready');
  const state = enumName(ConditionState, ready?.state);
  if (state === 'CONDITION_SUCCEEDED') return { ready: 'true' };
  if (state === 'CONDITION_FAILED') {
    const reason =
      ready?.message ||
      enumName(protos.google.cloud.run.v2.Condition.RevisionReason, ready?.revisionReason) ||
      'failed';
    return { ready: 'false', reason };
  }
  return { ready: 'unknown' };
}

/** An etag mismatch: ABORTED, or FAILED_PRECONDITION that mentions the etag. */
function isConflict(err: unknown): boolean {
  const e = err as { code?: number; details?: string; message?: string };
  if (e?.code === ABORTED) return true;
  return e?.code === FAILED_PRECONDITION && /etag/i.test(`${e.details ?? ''} ${e.message ?? ''}`);
}

export interface CloudRunTrafficRouter extends TrafficRouter {
  close(): Promise<void>;
}

export function createCloudRunTrafficRouter(options: CloudRunRouterOptions = {}): CloudRunTrafficRouter {
  const clientOptions = (options.clientOptions ?? {}) as ClientOptions;
  const services = new ServicesClient(clientOptions);
  const revisions = new RevisionsClient(clientOptions);
  const maxRetries = options.maxConflictRetries ?? 5;
  const log = options.logger ?? silentLogger;

  async function read(ref: ServiceRef): Promise<IService | undefined> {
    try {
      const [svc] = await services.getService({ name: serviceName(ref) });
      return svc;
    } catch (err) {
      if ((err as { code?: number }).code === NOT_FOUND) return undefined;
      throw fromSdkError(err, `get service ${serviceName(ref)}`);
    }
  }

  /** Read, mutate, write with the etag; retry on conflict; wait for the operation. */
  async function update(
    ref: ServiceRef,
    what: string,
    mutate: (svc: IService) => IService,
    timeoutMs: number,
    fence: Fence | undefined,
  ): Promise<ServiceSnapshot> {
    for (let attempt = 0; ; attempt++) {
      const current = await read(ref);
      if (!current)
        throw new GlidepathError('not_found', `${what}: service ${serviceName(ref)} does not exist`);
      await fence?.();
      let operation;
      try {
        [operation] = await services.updateService(
          { service: { ...mutate(current), ...GLIDEPATH_CLIENT } },
          LRO_CALL_OPTIONS,
        );
      } catch (err) {
        if (isConflict(err) && attempt < maxRetries) {
          log.warn('etag conflict; re-reading the service and re-applying the plan', {
            service: ref.service,
            region: ref.region,
            attempt: attempt + 1,
          });
          await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
          continue;
        }
        throw fromSdkError(err, what);
      }
      const svc = await awaitOperation(operation, timeoutMs, what);
      return toSnapshot(ref, svc as IService);
    }
  }

  return {
    async getService(ref) {
      const svc = await read(ref);
      return svc ? toSnapshot(ref, svc) : undefined;
    },

    async getRevision(ref, revision) {
      const name = `${serviceName(ref)}/revisions/${revision}`;
      try {
        const [rev] = await revisions.getRevision({ name });
        return { name: revision, image: servedImage(rev.containers), ...readiness(rev.conditions) };
      } catch (err) {
        if ((err as { code?: number }).code === NOT_FOUND) return undefined;
        throw fromSdkError(err, `get revision ${name}`);
      }
    },

    deployRevision(ref, input) {
      const what = `deploy revision ${input.revisionName} of ${serviceName(ref)}`;
      return update(
        ref,
        what,
        (svc) => {
          const containers = svc.template?.containers ?? [];
          if (containers.length === 0)
            throw new GlidepathError('invalid', `${what}: the service template has no container`);
          let target: number;
          try {
            target = ingressContainer(containers, repositoryOf(input.image));
          } catch (err) {
            throw new GlidepathError('invalid', `${what}: ${(err as Error).message}`);
          }
          return {
            ...svc,
            template: {
              ...svc.template,
              revision: input.revisionName,
              containers: containers.map((c, i) => (i === target ? { ...c, image: input.image } : c)),
            },
            traffic: toApiTraffic(input.plan(toSnapshot(ref, svc))),
          };
        },
        input.timeoutMs,
        input.fence,
      );
    },

    setTraffic(ref, plan, opts) {
      return update(
        ref,
        `set traffic of ${serviceName(ref)}`,
        (svc) => ({ ...svc, traffic: toApiTraffic(plan(toSnapshot(ref, svc))) }),
        opts.timeoutMs,
        opts.fence,
      );
    },

    async close() {
      await Promise.all([services.close(), revisions.close()]);
    },
  };
}
