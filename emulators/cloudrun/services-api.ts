/**
 * google.cloud.run.v2.Services and Revisions on the emulator: the resource
 * model (generation, etag, conditions, reconciling), revision creation with
 * realistic readiness delays, traffic validation, and the hand-off of Ready
 * revisions and routes to the HTTP front door.
 */
import { randomUUID } from 'node:crypto';
import { grpcService, RpcError, Status } from './protos';
import { canonical, condition, notFound, parseName, sameContent, timestamp, type Json } from './resources';
import {
  LATEST,
  generatedRevisionName,
  missingRevision,
  resolveRoutes,
  validateRevisionName,
  validateTraffic,
  type TrafficTargetSpec,
} from './traffic';
import type { OperationOutcome, OperationStore } from './operations';
import { checkInvoker, INVOKER_ROLE, type InvokerVerdict } from './invoker';
import type { FrontDoor } from './frontdoor';
import type { ImageProfile } from './profiles';
import type { RevisionLabels } from '../monitoring/store';
import type { EmulatorTimers } from './timers';

const SERVICE_TYPE = 'google.cloud.run.v2.Service';
const CREATOR = 'emulator@glidepath.local';
const SERVICE_ID = /^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$/;

// Fields of Service the server owns; values sent by clients are ignored, as the real API does.
const SERVICE_OUTPUT_ONLY = new Set([
  'name',
  'uid',
  'generation',
  'createTime',
  'updateTime',
  'deleteTime',
  'expireTime',
  'creator',
  'lastModifier',
  'observedGeneration',
  'terminalCondition',
  'conditions',
  'latestReadyRevision',
  'latestCreatedRevision',
  'trafficStatuses',
  'uri',
  'urls',
  'reconciling',
  'etag',
  'satisfiesPzs',
  'threatDetectionEnabled',
]);

type RevisionPhase = 'pending' | 'ready' | 'failed';

interface RevisionRecord {
  id: string;
  resource: Json;
  phase: RevisionPhase;
  labels: RevisionLabels;
  image: string;
  timer?: NodeJS.Timeout;
}

interface ServiceRecord {
  project: string;
  location: string;
  id: string;
  resource: Json;
  revisions: Map<string, RevisionRecord>;
  /** The revision the latest generation waits for, if it created one. */
  awaiting?: RevisionRecord;
  /** Generation whose reconciliation failed, with the reason. */
  failure?: { generation: number; message: string };
  timer?: NodeJS.Timeout;
  etagCounter: number;
  /** The IAM policy (SetIamPolicy), and the members of its roles/run.invoker bindings. */
  iam: { bindings: Json[]; version: number; invokers: Set<string> };
}

interface ServicesOptions {
  operations: OperationStore;
  frontDoor: FrontDoor;
  profileFor: (image: string) => ImageProfile;
  readyDelayMs: number;
  random: () => number;
  timers: EmulatorTimers;
  /** The secret the local cloud's OIDC tokens are signed with; without it no token verifies. */
  oidcSecret?: string;
}

export class ServicesApi {
  private readonly services = new Map<string, ServiceRecord>();
  /** The same services by `<region>/<service>`, the front door's key. */
  private readonly byRoute = new Map<string, ServiceRecord>();
  private stopped = false;

  constructor(private readonly opts: ServicesOptions) {}

  private static fullName(project: string, location: string, id: string): string {
    return `projects/${project}/locations/${location}/services/${id}`;
  }

  private find(name: unknown, field: string): ServiceRecord {
    const n = parseName(name, ['services'], field);
    const svc = this.services.get(ServicesApi.fullName(n.project, n.location, n.ids.services));
    if (!svc) throw notFound('SERVICE', n.ids.services, n.location, n.project);
    return svc;
  }

  /** Bumps the etag and update time: every change of the resource, spec or status, gets a new etag. */
  private touch(svc: ServiceRecord): void {
    svc.etagCounter++;
    svc.resource.updateTime = timestamp(Date.now());
    svc.resource.etag = `"${Buffer.from(`${svc.resource.uid}/${svc.etagCounter}`).toString('base64url')}"`;
    this.opts.operations.changed();
  }

  private operationFor(svc: ServiceRecord, generation: number): Json {
    const poll = (): OperationOutcome => {
      const observed = Number(svc.resource.observedGeneration);
      if (svc.resource.deleteTime) return { done: true, response: svc.resource };
      if (observed < generation) return { done: false };
      if (svc.failure && svc.failure.generation >= generation)
        return { done: true, error: { code: Status.INTERNAL, message: svc.failure.message } };
      return { done: true, response: svc.resource };
    };
    return this.opts.operations.create(svc.project, svc.location, SERVICE_TYPE, () => svc.resource, poll);
  }

  /** Copies the writable fields of `input` (or those named by the update mask) onto the stored resource. */
  private static applySpec(target: Json, input: Json, maskPaths: string[]): void {
    const camel = (p: string): string => p.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const fields = maskPaths.length ? maskPaths.map((p) => camel(p.split('.')[0])) : Object.keys(input);
    for (const f of fields) {
      if (SERVICE_OUTPUT_ONLY.has(f)) continue;
      target[f] = input[f];
    }
  }

  /**
   * Cloud Run's rules for containers: each has an image and at most one port
   * ("ports should contain 0 or 1 port.", quoted in GoogleCloudPlatform/magic-modules#10173);
   * with several, exactly one declares ports and takes the requests ("Revision template should
   * contain exactly one container with an exposed port.", quoted in
   * GoogleCloudPlatform/terraform-google-cloud-run#302); the others are sidecars.
   */
  private validateTemplate(template: Json | undefined): void {
    const containers: Json[] = template?.containers ?? [];
    if (containers.length === 0 || !containers[0].image)
      throw new RpcError(Status.INVALID_ARGUMENT, 'service.template.containers[0].image: must be specified');
    containers.forEach((c, i) => {
      if (!c.image)
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `service.template.containers[${i}].image: must be specified`,
        );
      if ((c.ports ?? []).length > 1)
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `service.template.containers[${i}].ports: ports should contain 0 or 1 port.`,
        );
    });
    if (containers.length > 1 && containers.filter((c) => (c.ports ?? []).length > 0).length !== 1)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'template.containers: Revision template should contain exactly one container with an exposed port.',
      );
  }

  /**
   * Creates a revision when the template changed (or names a new revision);
   * returns it, or undefined when the template is unchanged. Validates the
   * name as Cloud Run does.
   */
  private planRevision(
    svc: ServiceRecord,
    previousTemplate: Json | undefined,
    template: Json,
    generation: number,
  ): RevisionRecord | undefined {
    const explicit: string | undefined = template.revision || undefined;
    if (explicit) {
      validateRevisionName(explicit, svc.id);
      const existing = svc.revisions.get(explicit);
      if (existing) {
        if (!sameContent({ ...existing.resource.__template }, template))
          throw new RpcError(
            Status.ALREADY_EXISTS,
            `Revision named '${explicit}' with different configuration already exists.`,
          );
        return undefined;
      }
    } else if (previousTemplate && sameContent(previousTemplate, template)) return undefined;
    let id = explicit ?? generatedRevisionName(svc.id, generation, this.opts.random);
    while (svc.revisions.has(id)) id = generatedRevisionName(svc.id, generation, this.opts.random);
    const now = timestamp(Date.now());
    // The ingress container serves the requests: its image decides the revision's behaviour.
    const containers: Json[] = template.containers;
    const image: string = (containers.find((c) => (c.ports ?? []).length > 0) ?? containers[0]).image;
    const resource: Json = {
      name: `${svc.resource.name}/revisions/${id}`,
      uid: randomUUID(),
      generation: 1,
      labels: { ...(template.labels ?? {}) },
      annotations: { ...(template.annotations ?? {}) },
      createTime: now,
      updateTime: now,
      launchStage: svc.resource.launchStage,
      service: svc.resource.name,
      scaling: template.scaling,
      vpcAccess: template.vpcAccess,
      maxInstanceRequestConcurrency: template.maxInstanceRequestConcurrency || 80,
      timeout: template.timeout ?? { seconds: 300, nanos: 0 },
      serviceAccount: template.serviceAccount || `${svc.project}-compute@developer.gserviceaccount.com`,
      containers: template.containers,
      volumes: template.volumes,
      executionEnvironment: template.executionEnvironment,
      reconciling: true,
      conditions: [
        condition('Ready', 'CONDITION_RECONCILING'),
        condition('ContainerHealthy', 'CONDITION_RECONCILING'),
      ],
      observedGeneration: 1,
      logUri: `https://console.cloud.google.com/logs/viewer?project=${svc.project}&resource=cloud_run_revision/service_name/${svc.id}/revision_name/${id}`,
      etag: `"${randomUUID()}"`,
    };
    Object.defineProperty(resource, '__template', { value: structuredClone(template), enumerable: false });
    const labels: RevisionLabels = {
      project_id: svc.project,
      service_name: svc.id,
      revision_name: id,
      location: svc.location,
      configuration_name: svc.id,
    };
    return { id, resource, phase: 'pending', labels, image };
  }

  /** Starts the revision: after the ready delay (plus the image's cold start) it serves, unless its startup fails. */
  private startRevision(svc: ServiceRecord, rev: RevisionRecord): void {
    const profile = this.opts.profileFor(rev.image).service;
    const delay = this.opts.readyDelayMs + (profile.startupFailure ? 0 : profile.coldStartMs);
    rev.timer = this.opts.timers.setTimeout(() => {
      rev.timer = undefined;
      if (profile.startupFailure) {
        this.settleRevision(svc, rev, 'failed');
        return;
      }
      this.opts.frontDoor
        .addRevision({ labels: rev.labels, profile, capacity: capacityOf(rev.resource) })
        .then(
          () => (this.stopped ? undefined : this.settleRevision(svc, rev, 'ready')),
          () => this.settleRevision(svc, rev, 'failed'),
        );
    }, delay);
  }

  private settleRevision(svc: ServiceRecord, rev: RevisionRecord, phase: 'ready' | 'failed'): void {
    rev.phase = phase;
    rev.resource.reconciling = false;
    rev.resource.updateTime = timestamp(Date.now());
    if (phase === 'ready') {
      rev.resource.conditions = [
        condition('Ready', 'CONDITION_SUCCEEDED'),
        condition('ContainerHealthy', 'CONDITION_SUCCEEDED'),
      ];
    } else {
      // Cloud Run's text, as quoted in octo-sts/app#1005 and chainguard-dev/terraform-infra-common#498.
      const message =
        `Revision '${rev.id}' is not ready and cannot serve traffic. The user-provided container failed to start ` +
        `and listen on the port defined provided by the PORT=8080 environment variable within the allocated timeout. ` +
        `This can happen when the container port is misconfigured or if the timeout is too short. ` +
        `The health check timeout can be extended. Logs for this revision might contain more information.`;
      rev.resource.conditions = [
        condition('Ready', 'CONDITION_FAILED', {
          message,
          severity: 'ERROR',
          revisionReason: 'HEALTH_CHECK_CONTAINER_ERROR',
        }),
        condition('ContainerHealthy', 'CONDITION_FAILED', {
          message,
          severity: 'ERROR',
          revisionReason: 'HEALTH_CHECK_CONTAINER_ERROR',
        }),
      ];
    }
    if (svc.awaiting === rev) this.reconcile(svc);
    else this.opts.operations.changed();
  }

  /** Finishes the latest generation: applies the routes if its revision (if any) is Ready, else marks the service failed. */
  private reconcile(svc: ServiceRecord): void {
    const r = svc.resource;
    const generation = Number(r.generation);
    const rev = svc.awaiting;
    if (rev?.phase === 'pending') return;
    svc.awaiting = undefined;
    if (rev?.phase === 'failed') {
      const message = rev.resource.conditions[0].message as string;
      svc.failure = { generation, message };
      r.terminalCondition = condition('Ready', 'CONDITION_FAILED', {
        message,
        severity: 'ERROR',
        reason: 'REVISION_FAILED',
      });
      r.conditions = [
        condition('RoutesReady', 'CONDITION_SUCCEEDED'),
        condition('ConfigurationsReady', 'CONDITION_FAILED', {
          message,
          severity: 'ERROR',
          reason: 'REVISION_FAILED',
        }),
      ];
    } else if (missingRevision(r.traffic, new Set(svc.revisions.keys()))) {
      // The configuration is fine; the routes are not: they stay as they were.
      if (rev) r.latestReadyRevision = rev.resource.name;
      const message = missingRevision(r.traffic, new Set(svc.revisions.keys()))!;
      svc.failure = { generation, message };
      r.terminalCondition = condition('Ready', 'CONDITION_FAILED', { message, severity: 'ERROR' });
      r.conditions = [
        condition('RoutesReady', 'CONDITION_FAILED', { message, severity: 'ERROR' }),
        condition('ConfigurationsReady', 'CONDITION_SUCCEEDED'),
      ];
    } else {
      if (rev) r.latestReadyRevision = rev.resource.name;
      const latestReady = r.latestReadyRevision
        ? (r.latestReadyRevision as string).split('/').pop()
        : undefined;
      const traffic: TrafficTargetSpec[] = r.traffic;
      this.opts.frontDoor.setRoutes(svc.location, svc.id, resolveRoutes(traffic, latestReady));
      r.trafficStatuses = traffic.map((t) => ({
        type: t.type,
        revision: t.type === LATEST ? '' : t.revision,
        percent: t.percent ?? 0,
        tag: t.tag ?? '',
        uri: t.tag ? this.opts.frontDoor.tagUrl(svc.location, svc.id, t.tag) : '',
      }));
      r.terminalCondition = condition('Ready', 'CONDITION_SUCCEEDED');
      r.conditions = [
        condition('RoutesReady', 'CONDITION_SUCCEEDED'),
        condition('ConfigurationsReady', 'CONDITION_SUCCEEDED'),
      ];
    }
    r.observedGeneration = generation;
    r.reconciling = false;
    this.touch(svc);
  }

  /** Stores a new generation of the spec and starts reconciling it. */
  private rollOut(svc: ServiceRecord, rev: RevisionRecord | undefined): void {
    const r = svc.resource;
    if (svc.timer) this.opts.timers.clearTimeout(svc.timer);
    svc.timer = undefined;
    if (rev) {
      svc.revisions.set(rev.id, rev);
      r.latestCreatedRevision = rev.resource.name;
    }
    svc.awaiting = rev;
    r.reconciling = true;
    r.terminalCondition = condition('Ready', 'CONDITION_RECONCILING');
    this.touch(svc);
    if (rev) this.startRevision(svc, rev);
    // A traffic-only change still takes the ready delay to program the routes.
    else svc.timer = this.opts.timers.setTimeout(() => this.reconcile(svc), this.opts.readyDelayMs);
  }

  private createService(req: Json): Json {
    const parent = parseName(`${req.parent ?? ''}/services/x`, ['services'], 'parent');
    const id: string = req.serviceId ?? '';
    if (!SERVICE_ID.test(id))
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        `service_id: ${JSON.stringify(id)} is not valid; expected lowercase letters, digits and hyphens, starting with a letter, at most 49 characters`,
      );
    const name = ServicesApi.fullName(parent.project, parent.location, id);
    if (this.services.has(name))
      throw new RpcError(Status.ALREADY_EXISTS, `Resource '${id}' already exists.`);
    for (const other of this.services.values()) {
      if (other.location === parent.location && other.id === id)
        throw new RpcError(
          Status.ALREADY_EXISTS,
          `The emulator's front door routes by region and service name: service '${id}' already exists in region '${parent.location}' of project '${other.project}'.`,
        );
    }
    return this.create(parent.project, parent.location, id, req.service ?? {}, Boolean(req.validateOnly));
  }

  private create(project: string, location: string, id: string, input: Json, validateOnly: boolean): Json {
    const name = ServicesApi.fullName(project, location, id);
    this.validateTemplate(input.template);
    const now = timestamp(Date.now());
    const resource: Json = {
      name,
      uid: randomUUID(),
      generation: 1,
      createTime: now,
      updateTime: now,
      creator: CREATOR,
      lastModifier: CREATOR,
      launchStage: 'GA',
      ingress: 'INGRESS_TRAFFIC_ALL',
      observedGeneration: 0,
      uri: this.opts.frontDoor.serviceUrl(location, id),
      urls: [this.opts.frontDoor.serviceUrl(location, id)],
      trafficStatuses: [],
      conditions: [],
    };
    ServicesApi.applySpec(resource, input, []);
    if (!resource.traffic?.length) resource.traffic = [{ type: LATEST, percent: 100 }];
    const svc: ServiceRecord = {
      project,
      location,
      id,
      resource,
      revisions: new Map(),
      etagCounter: 0,
      iam: { bindings: [], version: 1, invokers: new Set() },
    };
    const rev = this.planRevision(svc, undefined, resource.template, 1)!;
    validateTraffic(resource.traffic, id);
    if (validateOnly) return this.opts.operations.completed(project, location, SERVICE_TYPE, () => resource);
    this.services.set(name, svc);
    this.byRoute.set(`${location}/${id}`, svc);
    this.rollOut(svc, rev);
    return this.operationFor(svc, 1);
  }

  private updateService(req: Json): Json {
    const input: Json = req.service ?? {};
    // Optional in Cloud Run; the emulator requires it so that a client that forgets it is caught.
    if (!input.client)
      throw new RpcError(
        Status.INVALID_ARGUMENT,
        'service.client: expected the name of the API client making the write (the emulator requires service.client on every UpdateService)',
      );
    const n = parseName(input.name, ['services'], 'service.name');
    const name = ServicesApi.fullName(n.project, n.location, n.ids.services);
    const svc = this.services.get(name);
    if (!svc) {
      if (req.allowMissing)
        return this.create(n.project, n.location, n.ids.services, input, Boolean(req.validateOnly));
      throw notFound('SERVICE', n.ids.services, n.location, n.project);
    }
    if (input.etag && input.etag !== svc.resource.etag)
      throw new RpcError(
        Status.ABORTED,
        `The etag ${input.etag} of service '${svc.id}' is stale: the resource has been modified since it was read (current etag ${svc.resource.etag}). Read it again and retry.`,
      );
    const next: Json = structuredClone(svc.resource);
    ServicesApi.applySpec(next, input, (req.updateMask?.paths as string[] | undefined) ?? []);
    return this.applyUpdate(svc, next, Boolean(req.validateOnly));
  }

  /** Validates and stores `next` as the service's new spec; returns the operation. */
  private applyUpdate(svc: ServiceRecord, next: Json, validateOnly: boolean): Json {
    if (!next.traffic?.length) next.traffic = [{ type: LATEST, percent: 100 }];
    this.validateTemplate(next.template);
    const generation = Number(svc.resource.generation) + 1;
    const rev = this.planRevision(svc, svc.resource.template, next.template, generation);
    validateTraffic(next.traffic, svc.id);
    if (validateOnly)
      return this.opts.operations.completed(svc.project, svc.location, SERVICE_TYPE, () => next);
    if (sameContent(specOf(svc.resource), specOf(next)))
      return this.operationFor(svc, Number(svc.resource.generation));
    for (const key of Object.keys(next)) if (!SERVICE_OUTPUT_ONLY.has(key)) svc.resource[key] = next[key];
    for (const key of Object.keys(svc.resource))
      if (!SERVICE_OUTPUT_ONLY.has(key) && !(key in next)) delete svc.resource[key];
    svc.resource.generation = generation;
    svc.resource.lastModifier = CREATOR;
    this.rollOut(svc, rev);
    return this.operationFor(svc, generation);
  }

  /**
   * Changes a service's spec as another client would, at once and without an
   * etag (test hook: e.g. a concurrent update between a read and a write).
   */
  modifyService(name: string, mutate: (spec: Json) => void): void {
    const svc = this.find(name, 'name');
    const next: Json = structuredClone(svc.resource);
    mutate(next);
    this.applyUpdate(svc, next, false);
  }

  private async deleteService(req: Json): Promise<Json> {
    const svc = this.find(req.name, 'name');
    if (req.etag && req.etag !== svc.resource.etag)
      throw new RpcError(
        Status.ABORTED,
        `The etag ${req.etag} of service '${svc.id}' is stale (current etag ${svc.resource.etag}).`,
      );
    if (req.validateOnly)
      return this.opts.operations.completed(svc.project, svc.location, SERVICE_TYPE, () => svc.resource);
    this.services.delete(svc.resource.name);
    this.byRoute.delete(`${svc.location}/${svc.id}`);
    await this.dispose(svc);
    svc.resource.deleteTime = timestamp(Date.now());
    this.touch(svc);
    return this.opts.operations.completed(svc.project, svc.location, SERVICE_TYPE, () => svc.resource);
  }

  private async dispose(svc: ServiceRecord): Promise<void> {
    if (svc.timer) this.opts.timers.clearTimeout(svc.timer);
    this.opts.frontDoor.setRoutes(svc.location, svc.id, undefined);
    for (const rev of svc.revisions.values()) {
      if (rev.timer) this.opts.timers.clearTimeout(rev.timer);
      await this.opts.frontDoor.removeRevision(rev.labels);
    }
  }

  /** The front door's invoker check for service `id` in `location` (docs/local-cloud.md). */
  authorizeInvoker(location: string, id: string, authorization: string | undefined): InvokerVerdict {
    const svc = this.byRoute.get(`${location}/${id}`);
    if (!svc) return { ok: true }; // the front door answers 404 itself
    const r = svc.resource;
    return checkInvoker(
      {
        invokerIamDisabled: Boolean(r.invokerIamDisabled),
        invokers: svc.iam.invokers,
        serviceUrl: r.uri as string,
        customAudiences: (r.customAudiences as string[] | undefined) ?? [],
      },
      authorization,
      this.opts.oidcSecret,
    );
  }

  private iamPolicy(svc: ServiceRecord): Json {
    const { bindings, version } = svc.iam;
    return { version, bindings, etag: Buffer.from(`${svc.resource.uid}/iam/${version}`) };
  }

  /** SetIamPolicy replaces the whole policy, as the API says ("Overwrites any existing policy"). */
  private setIamPolicy(req: Json): Json {
    const svc = this.find(req.resource, 'resource');
    const policy: Json = req.policy ?? {};
    const etag = Buffer.isBuffer(policy.etag) ? policy.etag : Buffer.alloc(0);
    if (etag.length && !etag.equals(this.iamPolicy(svc).etag as Buffer))
      throw new RpcError(
        Status.ABORTED,
        `policy.etag: stale; the policy of '${svc.id}' changed since it was read`,
      );
    const bindings: Json[] = (policy.bindings ?? []).map((b: Json, i: number) => {
      if (typeof b.role !== 'string' || !b.role.startsWith('roles/'))
        throw new RpcError(
          Status.INVALID_ARGUMENT,
          `policy.bindings[${i}].role: ${JSON.stringify(b.role ?? '')} is not valid; expected roles/<name>`,
        );
      return { role: b.role, members: [...(b.members ?? [])] };
    });
    const invokers = new Set(
      bindings.filter((b) => b.role === INVOKER_ROLE).flatMap((b) => b.members as string[]),
    );
    svc.iam = { bindings, version: svc.iam.version + 1, invokers };
    return this.iamPolicy(svc);
  }

  private findRevision(name: unknown): RevisionRecord {
    const n = parseName(name, ['services', 'revisions'], 'name');
    const svc = this.services.get(ServicesApi.fullName(n.project, n.location, n.ids.services));
    const rev = svc?.revisions.get(n.ids.revisions);
    if (!rev) throw notFound('REVISION', n.ids.revisions, n.location, n.project);
    return rev;
  }

  servicesGrpc(): ReturnType<typeof grpcService> {
    return grpcService('google.cloud.run.v2.Services', {
      CreateService: (req) => this.createService(req),
      GetService: (req) => this.find(req.name, 'name').resource,
      ListServices: (req) => {
        const prefix = `${String(req.parent ?? '')}/services/`;
        return {
          services: [...this.services.values()]
            .filter((s) => s.resource.name.startsWith(prefix))
            .map((s) => s.resource),
          nextPageToken: '',
          unreachable: [],
        };
      },
      UpdateService: (req) => this.updateService(req),
      DeleteService: (req) => this.deleteService(req),
      GetIamPolicy: (req) => this.iamPolicy(this.find(req.resource, 'resource')),
      SetIamPolicy: (req) => this.setIamPolicy(req),
    });
  }

  revisionsGrpc(): ReturnType<typeof grpcService> {
    return grpcService('google.cloud.run.v2.Revisions', {
      GetRevision: (req) => this.findRevision(req.name).resource,
      ListRevisions: (req) => {
        const svc = this.find(req.parent, 'parent');
        const revisions = [...svc.revisions.values()].reverse().map((r) => r.resource);
        return { revisions, nextPageToken: '' };
      },
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const svc of this.services.values()) await this.dispose(svc);
    this.services.clear();
  }
}

/** The part of a service that an update can change (for "is this a no-op?"). */
function specOf(resource: Json): unknown {
  return canonical(Object.fromEntries(Object.entries(resource).filter(([k]) => !SERVICE_OUTPUT_ONLY.has(k))));
}

/** Requests a revision serves at once: max instances (default 100, revision.proto) × concurrency per instance. */
function capacityOf(revision: Json): number {
  const instances = Number(revision.scaling?.maxInstanceCount) || 100;
  return instances * Number(revision.maxInstanceRequestConcurrency);
}
