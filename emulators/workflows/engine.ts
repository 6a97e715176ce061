/**
 * The interpreter: runs a compiled Program. Expressions are synchronous, so
 * an assignment to a `shared` variable in a parallel branch is atomic; only
 * blocking calls (HTTP, sleep, callbacks, subworkflows) yield.
 */
import { randomUUID } from 'node:crypto';
import { silentLogger, type Logger } from '../../functions/shared/log';
import {
  type Block,
  type Condition,
  type LoopSpec,
  type Program,
  type Retry,
  type Step,
  type Target,
  compileWorkflow,
  isConnector,
} from './definition';
import { Cancelled, Raised, WorkflowDefinitionError, wfError } from './errors';
import type { Scope } from './expr';
import { type CallbackHub, type Clock, type Runtime, realClock, workflowSleep } from './runtime';
import { STDLIB } from './stdlib';
import {
  Bytes,
  Double,
  type Value,
  type ValueMap,
  encodeJson,
  fromJs,
  isMap,
  numeric,
  sizeOf,
  toJs,
  typeName,
} from './values';

/** Google's limits that the emulator enforces. */
export const LIMITS = {
  /** Nested subworkflow calls (including recursion). */
  maxCallDepth: 20,
  /** Size of one variable's value, per Google's sizing rules. */
  maxVariableBytes: 512 * 1024,
  /** Total steps one execution may run. */
  maxSteps: 100_000,
} as const;

/** The identity executions run as when none is configured. */
export const DEFAULT_SERVICE_ACCOUNT = 'workflows@local.iam.gserviceaccount.com';

export interface StepStats {
  steps: number;
  internalSteps: number;
  externalSteps: number;
}

export interface EngineOptions {
  clock?: Clock;
  sleepScale?: number;
  /** What sys.get_env returns (user env vars and GOOGLE_CLOUD_* built-ins). */
  env?: Record<string, string>;
  logger?: Logger;
  serviceAccount?: string;
  oidcSecret?: string;
  callbacks?: CallbackHub;
  executionId?: string;
  /** Aborting it cancels the execution. */
  signal?: AbortSignal;
  /** Counters to fill in as steps run, so a caller can read them live. */
  stats?: StepStats;
}

export type RunResult =
  | {
      state: 'SUCCEEDED';
      result: unknown;
      /** The result as GCP returns it: JSON, doubles keeping their ".0". */ resultJson: string;
      stats: StepStats;
    }
  | { state: 'FAILED'; error: { payload: string; context: string; value: unknown }; stats: StepStats }
  | { state: 'CANCELLED'; stats: StepStats };

/** `proceed`: a matched switch condition without `next` goes on to the following step, ignoring the switch's default `next`. */
type Outcome =
  | { t: 'proceed' }
  | { t: 'return'; value: Value }
  | { t: 'end' }
  | { t: 'break' }
  | { t: 'continue' }
  | { t: 'jump'; target: string }
  | undefined;

/** Variables of one subworkflow frame, loop iteration or parallel branch. */
class Vars implements Scope {
  private readonly vars = new Map<string, Value>();
  constructor(
    readonly runtime: Runtime,
    private readonly parent?: Vars,
    /** Set on a parallel branch: only these parent variables may be written. */
    private readonly shared?: ReadonlySet<string>,
  ) {}

  get(name: string): Value {
    for (let s = this as Vars | undefined; s; s = s.parent) {
      const v = s.vars.get(name);
      if (v !== undefined || s.vars.has(name)) return v as Value;
    }
    throw wfError('KeyError', `variable not defined: ${name}`);
  }

  has(name: string): boolean {
    for (let s = this as Vars | undefined; s; s = s.parent) if (s.vars.has(name)) return true;
    return false;
  }

  /** Defines a variable here, shadowing nothing (loop variables, params, `except.as`). */
  define(name: string, value: Value): void {
    this.vars.set(name, value);
  }

  /** Assigns: updates the variable where it lives, or creates it in this scope. */
  set(name: string, value: Value): void {
    let crossedBranch = false;
    for (let s = this as Vars | undefined; s; s = s.parent) {
      if (s.vars.has(name)) {
        if (crossedBranch)
          throw new WorkflowDefinitionError(
            `variable "${name}" is written in a parallel branch but is not listed in "shared"`,
          );
        s.vars.set(name, value);
        return;
      }
      if (s.shared && !s.shared.has(name)) crossedBranch = true;
    }
    this.vars.set(name, value);
  }
}

/** Deep copy of containers: Workflows assigns by value. */
function copy(v: Value): Value {
  if (Array.isArray(v)) return v.map(copy);
  if (isMap(v)) {
    const out: ValueMap = {};
    for (const k of Object.keys(v)) out[k] = copy(v[k]);
    return out;
  }
  return v;
}

function checkSize(name: string, v: Value): void {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'string' && v.length > LIMITS.maxVariableBytes)
      throw wfError(
        'ResourceLimitError',
        `variable "${name}" exceeds the ${LIMITS.maxVariableBytes}-byte memory limit`,
      );
    return;
  }
  const size = sizeOf(v, LIMITS.maxVariableBytes);
  if (size > LIMITS.maxVariableBytes)
    throw wfError(
      'ResourceLimitError',
      `variable "${name}" exceeds the ${LIMITS.maxVariableBytes}-byte memory limit`,
    );
}

interface Frame {
  rt: Runtime;
  depth: number;
  subworkflow: string;
}

class Interpreter {
  /** The step (and subworkflow) where the first unhandled error was raised, for error.context. */
  errorStep?: { step: string; subworkflow: string };

  constructor(
    private readonly program: Program,
    readonly stats: StepStats,
  ) {}

  private count(billing: 'internal' | 'external'): void {
    this.stats.steps++;
    if (billing === 'internal') this.stats.internalSteps++;
    else this.stats.externalSteps++;
    if (this.stats.steps > LIMITS.maxSteps)
      throw wfError('ResourceLimitError', `execution exceeded ${LIMITS.maxSteps} steps`);
  }

  async callSubworkflow(name: string, args: Map<string, Value>, rt: Runtime, depth: number): Promise<Value> {
    if (depth > LIMITS.maxCallDepth)
      throw wfError(
        'RecursionError',
        `maximum call depth of ${LIMITS.maxCallDepth} exceeded calling "${name}"`,
      );
    const sub = this.program.subworkflows.get(name)!;
    const scope = new Vars(rt);
    for (const p of sub.params) {
      if (args.has(p.name)) scope.define(p.name, args.get(p.name)!);
      else if (p.default) scope.define(p.name, p.default(scope));
      else throw wfError('TypeError', `subworkflow "${name}": missing argument "${p.name}"`);
    }
    const out = await this.block(sub.body, scope, { rt, depth, subworkflow: name });
    if (out?.t === 'return') return out.value;
    if (out?.t === 'break' || out?.t === 'continue')
      throw new WorkflowDefinitionError(`"${out.t}" outside a loop in subworkflow "${name}"`);
    return null;
  }

  private async block(block: Block, scope: Vars, f: Frame): Promise<Outcome> {
    const steps = block.steps;
    let i = 0;
    while (i < steps.length) {
      const step = steps[i];
      let out = await this.step(step, scope, f);
      if (out === undefined && step.next !== undefined) out = nextOutcome(step.next);
      if (out === undefined || out.t === 'proceed') {
        i++;
        continue;
      }
      if (out.t === 'jump') {
        const j = block.indexOf.get(out.target);
        if (j !== undefined) {
          i = j;
          continue;
        }
      }
      return out;
    }
    return undefined;
  }

  private async step(step: Step, scope: Vars, f: Frame): Promise<Outcome> {
    if (f.rt.signal.aborted) throw f.rt.signal.reason;
    try {
      return await this.execute(step, scope, f);
    } catch (err) {
      if (err instanceof Raised && !this.errorStep)
        this.errorStep = { step: step.name, subworkflow: f.subworkflow };
      if (err instanceof WorkflowDefinitionError && !err.step)
        throw new WorkflowDefinitionError(err.message, step.name);
      throw err;
    }
  }

  private async execute(step: Step, scope: Vars, f: Frame): Promise<Outcome> {
    if (step.kind !== 'call') this.count('internal');
    switch (step.kind) {
      case 'assign':
        this.assign(step.assign, scope);
        return undefined;
      case 'call':
        return this.call(step, scope, f);
      case 'switch':
        return this.switch(step.conditions, scope, f);
      case 'for':
        return this.loop(step.loop, scope, f);
      case 'parallel':
        return this.parallel(step, scope, f);
      case 'try':
        return this.try(step, scope, f);
      case 'raise':
        throw new Raised(step.value(scope));
      case 'return':
        return { t: 'return', value: step.value(scope) };
      case 'steps':
        return this.block(step.body, scope, f);
      case 'next':
        return undefined;
    }
  }

  private assign(list: { target: Target; value: (s: Scope) => Value }[], scope: Vars): void {
    for (const a of list) this.store(a.target, copy(a.value(scope)), scope);
  }

  private store(t: Target, value: Value, scope: Vars): void {
    checkSize(t.root, value);
    if (t.path.length === 0) return scope.set(t.root, value);
    let container = scope.get(t.root);
    for (let i = 0; i < t.path.length; i++) {
      const seg = t.path[i];
      const key: Value = 'key' in seg ? seg.key : seg.index(scope);
      const last = i === t.path.length - 1;
      if (Array.isArray(container)) {
        if (typeof key !== 'number')
          throw wfError('TypeError', `list index must be an integer, got ${typeName(key)}`);
        if (key < 0 || key >= container.length)
          throw wfError('IndexError', `list index out of range: ${key} (length ${container.length})`);
        if (last) container[key] = value;
        else container = container[key];
      } else if (isMap(container)) {
        if (typeof key !== 'string')
          throw wfError('TypeError', `map key must be a string, got ${typeName(key)}`);
        if (last) container[key] = value;
        else {
          // Google creates missing intermediate maps on assignment.
          if (!Object.hasOwn(container, key)) container[key] = {};
          container = container[key];
        }
      } else throw wfError('TypeError', `cannot assign into a ${typeName(container)} (${t.root})`);
    }
  }

  private async call(step: Extract<Step, { kind: 'call' }>, scope: Vars, f: Frame): Promise<Outcome> {
    const sub = this.program.subworkflows.get(step.fn);
    let result: Value;
    if (sub) {
      this.count('internal');
      const args = new Map<string, Value>();
      for (const [k, v] of step.args) args.set(k, copy(v(scope)));
      result = await this.callSubworkflow(step.fn, args, f.rt, f.depth + 1);
    } else {
      if (isConnector(step.fn))
        // Not a Raised error: an `except` must not swallow it and carry on as if the call had run.
        throw new Error(
          `connector call "${step.fn}" is not available on the local engine (step "${step.name}"); it deploys, but cannot run locally`,
        );
      const spec = STDLIB[step.fn];
      const args: Value[] = spec.params.map(() => null);
      for (const [k, v] of step.args) args[spec.params.indexOf(k)] = v(scope);
      this.count(spec.billing?.(args) ?? 'internal');
      for (let i = 0; i < spec.required; i++)
        if (args[i] === null)
          throw wfError('TypeError', `${step.fn}: missing required argument "${spec.params[i]}"`);
      result = await spec.run(args, f.rt);
    }
    if (step.result) this.store(step.result, result, scope);
    return undefined;
  }

  private async switch(conditions: Condition[], scope: Vars, f: Frame): Promise<Outcome> {
    for (const c of conditions) {
      const v = c.condition(scope);
      if (typeof v !== 'boolean')
        throw wfError('TypeError', `switch condition must be a boolean, got ${typeName(v)}`);
      if (!v) continue;
      if (c.assign) this.assign(c.assign, scope);
      if (c.raise) throw new Raised(c.raise(scope));
      if (c.ret) return { t: 'return', value: c.ret(scope) };
      if (c.steps) {
        const out = await this.block(c.steps, scope, f);
        if (out) return out;
      }
      return c.next === undefined ? { t: 'proceed' } : nextOutcome(c.next);
    }
    return undefined;
  }

  /** The values a loop iterates over. */
  private iterations(loop: LoopSpec, scope: Vars): Value[] {
    if (loop.in) {
      const list = loop.in(scope);
      if (!Array.isArray(list)) throw wfError('TypeError', `for "in" needs a list, got ${typeName(list)}`);
      return list;
    }
    const bounds = loop.range!(scope);
    if (!Array.isArray(bounds) || bounds.length !== 2)
      throw wfError('TypeError', `for "range" needs a list [start, end], got ${encodeJson(bounds)}`);
    const [a, b] = bounds;
    if (
      (typeof a !== 'number' && !(a instanceof Double)) ||
      (typeof b !== 'number' && !(b instanceof Double))
    )
      throw wfError('TypeError', `for "range" needs numbers, got ${typeName(a)} and ${typeName(b)}`);
    const out: Value[] = [];
    const asDouble = a instanceof Double;
    for (let x = numeric(a); x <= numeric(b); x++) out.push(asDouble ? new Double(x) : x);
    return out;
  }

  private async loop(loop: LoopSpec, scope: Vars, f: Frame): Promise<Outcome> {
    const items = this.iterations(loop, scope);
    for (let i = 0; i < items.length; i++) {
      const iteration = new Vars(f.rt, scope);
      iteration.define(loop.value, copy(items[i]));
      if (loop.index) iteration.define(loop.index, i);
      const out = await this.block(loop.body, iteration, f);
      if (out === undefined || out.t === 'continue') continue;
      if (out.t === 'break') break;
      if (out.t === 'jump')
        throw new WorkflowDefinitionError(`"next: ${out.target}" cannot jump out of a for loop; use break`);
      return out;
    }
    return undefined;
  }

  private async parallel(step: Extract<Step, { kind: 'parallel' }>, scope: Vars, f: Frame): Promise<Outcome> {
    for (const name of step.shared)
      if (!scope.has(name))
        throw new WorkflowDefinitionError(
          `shared variable "${name}" must be assigned before the parallel step`,
        );
    const shared = new Set(step.shared);
    type Task = { id: Value; run: (rt: Runtime) => Promise<void> };
    const runBody = async (body: Block, vars: Vars, rt: Runtime): Promise<void> => {
      const out = await this.block(body, vars, { ...f, rt });
      if (out && out.t !== 'continue')
        throw new WorkflowDefinitionError(
          `"${out.t === 'jump' ? `next: ${out.target}` : out.t}" is not supported inside a parallel branch by the emulator`,
        );
    };
    const tasks: Task[] = step.branches
      ? step.branches.map((b) => ({
          id: b.name,
          run: (rt) => runBody(b.body, new Vars(rt, scope, shared), rt),
        }))
      : this.iterations(step.loop!, scope).map((item, i) => ({
          id: i,
          run: (rt) => {
            const vars = new Vars(rt, scope, shared);
            vars.define(step.loop!.value, copy(item));
            if (step.loop!.index) vars.define(step.loop!.index, i);
            return runBody(step.loop!.body, vars, rt);
          },
        }));
    const limitValue = step.concurrencyLimit?.(scope) ?? tasks.length;
    if (typeof limitValue !== 'number' || limitValue < 1)
      throw wfError(
        'ValueError',
        `concurrency_limit must be a positive integer, got ${encodeJson(limitValue)}`,
      );

    const siblings = new AbortController();
    const rt: Runtime = { ...f.rt, signal: AbortSignal.any([f.rt.signal, siblings.signal]) };
    const failures: ValueMap[] = [];
    let fatal: unknown;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tasks.length && !siblings.signal.aborted) {
        const task = tasks[next++];
        try {
          await task.run(rt);
        } catch (err) {
          if (siblings.signal.aborted && !(err instanceof Raised)) return;
          if (!(err instanceof Raised)) {
            fatal ??= err;
            siblings.abort(new Cancelled());
            return;
          }
          // continueAll, Google's default and only policy: the other branches run on.
          failures.push({ id: task.id, error: err.value });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limitValue, tasks.length) }, worker));
    if (f.rt.signal.aborted) throw f.rt.signal.reason;
    if (fatal) throw fatal;
    if (failures.length)
      throw wfError(
        'UnhandledBranchError',
        `${failures.length} parallel branch(es) raised an unhandled error`,
        { branches: failures },
      );
    return undefined;
  }

  private async try(step: Extract<Step, { kind: 'try' }>, scope: Vars, f: Frame): Promise<Outcome> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.count('internal');
      try {
        return await this.block(step.body, scope, f);
      } catch (err) {
        if (!(err instanceof Raised)) throw err;
        if (step.retry && (await this.shouldRetry(step.retry, err.value, attempt, scope, f))) continue;
        if (!step.except) throw err;
        this.errorStep = undefined;
        if (step.except.as) scope.set(step.except.as, err.value);
        return this.block(step.except.body, scope, f);
      }
    }
  }

  /** Decides whether to retry and, if so, waits out the backoff first. */
  private async shouldRetry(
    retry: Retry,
    error: Value,
    attempt: number,
    scope: Vars,
    f: Frame,
  ): Promise<boolean> {
    const maxRetries = retry.maxRetries(scope);
    if (typeof maxRetries !== 'number')
      throw wfError('TypeError', `retry max_retries must be an integer, got ${typeName(maxRetries)}`);
    if (attempt >= maxRetries) return false;
    let verdict: Value;
    if ('builtin' in retry.predicate) verdict = await STDLIB[retry.predicate.builtin].run([error], f.rt);
    else {
      const sub = this.program.subworkflows.get(retry.predicate.subworkflow)!;
      const args = new Map<string, Value>(sub.params.length ? [[sub.params[0].name, copy(error)]] : []);
      this.count('internal');
      verdict = await this.callSubworkflow(sub.name, args, f.rt, f.depth + 1);
    }
    if (typeof verdict !== 'boolean')
      throw wfError('TypeError', `retry predicate must return a boolean, got ${typeName(verdict)}`);
    if (!verdict) return false;
    const [initial, max, mult] = [
      retry.initialDelay(scope),
      retry.maxDelay(scope),
      retry.multiplier(scope),
    ].map((v, i) => {
      if (typeof v !== 'number' && !(v instanceof Double))
        throw wfError(
          'TypeError',
          `retry backoff ${['initial_delay', 'max_delay', 'multiplier'][i]} must be a number, got ${typeName(v)}`,
        );
      return numeric(v);
    });
    await workflowSleep(f.rt, Math.min(initial * mult ** attempt, max));
    return true;
  }
}

function nextOutcome(next: string): Outcome {
  if (next === 'end') return { t: 'end' };
  if (next === 'break') return { t: 'break' };
  if (next === 'continue') return { t: 'continue' };
  return { t: 'jump', target: next };
}

/** Runs a compiled program to completion. Never throws for workflow errors: they become FAILED. */
export async function executeProgram(
  program: Program,
  argument: unknown,
  options: EngineOptions = {},
): Promise<RunResult> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(new Cancelled());
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const rt: Runtime = {
    clock: options.clock ?? realClock,
    sleepScale: options.sleepScale ?? 1,
    signal: controller.signal,
    env: options.env ?? {},
    logger: options.logger ?? silentLogger,
    serviceAccount: options.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT,
    oidcSecret: options.oidcSecret ?? 'glidepath-local-oidc-secret',
    callbacks: options.callbacks,
    executionId: options.executionId ?? randomUUID(),
  };
  if (!(rt.sleepScale > 0))
    throw new RangeError(`sleepScale must be a positive number, got ${rt.sleepScale}`);
  const interpreter = new Interpreter(
    program,
    options.stats ?? { steps: 0, internalSteps: 0, externalSteps: 0 },
  );
  const main = program.subworkflows.get('main')!;
  const args = new Map<string, Value>(
    main.params.length ? [[main.params[0].name, fromJs(argument ?? null)]] : [],
  );
  try {
    const result = await interpreter.callSubworkflow('main', args, rt, 1);
    return {
      state: 'SUCCEEDED',
      result: toJs(result),
      resultJson: encodeJson(result),
      stats: interpreter.stats,
    };
  } catch (err) {
    if (err instanceof Cancelled) return { state: 'CANCELLED', stats: interpreter.stats };
    const value: Value =
      err instanceof Raised ? err.value : wfError('SystemError', (err as Error).message ?? String(err)).value;
    const where = interpreter.errorStep;
    const message = isMap(value) && typeof value.message === 'string' ? value.message : encodeJson(value);
    return {
      state: 'FAILED',
      error: {
        payload: value instanceof Bytes ? value.data.toString('base64') : encodeJson(value),
        context: where
          ? `RuntimeError: ${message} (step "${where.step}", routine "${where.subworkflow}")`
          : `RuntimeError: ${message}`,
        value: toJs(value),
      },
      stats: interpreter.stats,
    };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Compiles and runs a workflow source in-process. Throws WorkflowDefinitionError if the source is invalid. */
export async function runWorkflow(
  source: string,
  argument: unknown = null,
  options: EngineOptions = {},
): Promise<RunResult> {
  return executeProgram(compileWorkflow(source), argument, options);
}
