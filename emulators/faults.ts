/**
 * Fault injection for the local cloud (issue #9), switchable per test:
 * `cloud.faults.add(rule)` arms a rule, the returned function disarms it,
 * `clear()` disarms all. Every injection point asks `fire(point, subject)`
 * and acts on the rule it gets back; a seeded RNG decides probabilistic
 * rules, so a chaos run is replayable from its seed.
 *
 * Injection points:
 * - `run.<Method>` / `monitoring.<Method>`: a gRPC call of the Cloud Run or
 *   Monitoring emulator (subject: the resource name or filter). Effects:
 *   `error` (with `code`), `etag` (a stale-etag ABORTED), `delay`, `silent`
 *   (an empty answer: Monitoring has no data), `incomplete` (Monitoring: half
 *   the series, and an execution error saying the data is incomplete).
 * - `run.operation`: a long-running operation stalls for `delayMs`.
 * - `actions.crash`: the actions function dies right after a Cloud Run
 *   change, before its Firestore write (subject: `<service>/<region> <method>`,
 *   method `deployRevision` or `setTraffic`), or right after a job execution
 *   was started, before the attempt is recorded (subject: `<job>/<region> runJob`).
 * - `intake.crash`: intake or the job trigger dies right after starting a
 *   workflow execution, before recording it (subject: the service or job).
 * - `push.before` / `push.after`: a Pub/Sub push fails before the function
 *   runs, or after it ran (so Pub/Sub redelivers a handled message).
 * - `slack`: the webhook answers 500 (`error`) or never (`hang`).
 */
import type { JobRunner, TrafficRouter, WorkflowLauncher } from '../functions/ports';
import { crashCurrentRequest } from './functions-host';
import { seededRandom } from './cloudrun/profiles';

type FaultEffect = 'error' | 'etag' | 'delay' | 'silent' | 'incomplete' | 'stall' | 'crash' | 'fail' | 'hang';

export interface FaultRule {
  /** An injection point, e.g. `run.UpdateService`; a trailing `*` matches a prefix (`run.*`). */
  at: string;
  effect: FaultEffect;
  /** Chance that a matching call is hit; default 1. */
  probability?: number;
  /** Fire at most this many times; default unlimited. */
  times?: number;
  /** Let this many matching calls through before the rule applies; default 0. */
  afterCalls?: number;
  /** Only calls whose subject matches (e.g. a service name). */
  subject?: RegExp;
  /** gRPC status code for `error`: 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED (HTTP 429), 10 ABORTED. */
  code?: number;
  /** For `delay` and `stall`. */
  delayMs?: number;
}

interface FiredFault extends FaultRule {
  point: string;
}

export class FaultInjector {
  private rules: Array<FaultRule & { fired: number; seen: number }> = [];
  private random: () => number;
  /** How often each point fired, e.g. `{ "run.UpdateService:error": 3 }`. */
  readonly counts: Record<string, number> = {};

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  /** Re-seeds the RNG (each chaos scenario starts from its own seed). */
  reseed(seed: number): void {
    this.random = seededRandom(seed);
  }

  add(rule: FaultRule): () => void {
    const armed = { ...rule, fired: 0, seen: 0 };
    this.rules.push(armed);
    return () => {
      this.rules = this.rules.filter((r) => r !== armed);
    };
  }

  clear(): void {
    this.rules = [];
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** The rule that hits this call, if any (and counts it). */
  fire(point: string, subject = ''): FiredFault | undefined {
    for (const rule of this.rules) {
      const matches = rule.at.endsWith('*') ? point.startsWith(rule.at.slice(0, -1)) : rule.at === point;
      if (!matches || (rule.subject && !rule.subject.test(subject))) continue;
      if (rule.times !== undefined && rule.fired >= rule.times) continue;
      if (++rule.seen <= (rule.afterCalls ?? 0)) continue;
      if (this.random() >= (rule.probability ?? 1)) continue;
      rule.fired++;
      const key = `${point}:${rule.effect}`;
      this.counts[key] = (this.counts[key] ?? 0) + 1;
      return { ...rule, point };
    }
    return undefined;
  }
}

/**
 * Wraps a TrafficRouter so that `actions.crash` kills the actions call just
 * after Cloud Run accepted a change and before the use case records it: the
 * worst moment, which the idempotent actions and the sweeper must survive.
 */
export function crashingRouter(router: TrafficRouter, faults: FaultInjector): TrafficRouter {
  const afterChange = async <T>(subject: string, change: Promise<T>): Promise<T> => {
    const result = await change;
    if (faults.fire('actions.crash', subject)) await crashCurrentRequest();
    return result;
  };
  return {
    getService: (ref) => router.getService(ref),
    getRevision: (ref, revision) => router.getRevision(ref, revision),
    deployRevision: (ref, input) =>
      afterChange(`${ref.service}/${ref.region} deployRevision`, router.deployRevision(ref, input)),
    setTraffic: (ref, plan, opts) =>
      afterChange(`${ref.service}/${ref.region} setTraffic`, router.setTraffic(ref, plan, opts)),
  };
}

/** Wraps a JobRunner so that `actions.crash` kills the call right after Cloud Run started an execution. */
export function crashingJobRunner(runner: JobRunner, faults: FaultInjector): JobRunner {
  return {
    getExecution: (name) => runner.getExecution(name),
    cancel: (name) => runner.cancel(name),
    findExecution: (job, marker) => runner.findExecution(job, marker),
    run: async (job, overrides) => {
      const name = await runner.run(job, overrides);
      if (faults.fire('actions.crash', `${job.job}/${job.region} runJob`)) await crashCurrentRequest();
      return name;
    },
  };
}

/** Wraps a WorkflowLauncher so that `intake.crash` kills the delivery right after an execution started. */
export function crashingLauncher(launcher: WorkflowLauncher, faults: FaultInjector): WorkflowLauncher {
  return {
    cancel: (name) => launcher.cancel(name),
    state: (name) => launcher.state(name),
    start: async (workflow, argument, labels) => {
      const name = await launcher.start(workflow, argument, labels);
      if (faults.fire('intake.crash', labels.service ?? labels.job ?? '')) await crashCurrentRequest();
      return name;
    },
  };
}
