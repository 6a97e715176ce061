/**
 * Deploy-time pass: turns a workflow definition (YAML or JSON) into the
 * intermediate form the interpreter runs, compiling every expression once.
 * Anything unknown or unimplemented is refused here, naming the step.
 */
import YAML from 'yaml';
import { WorkflowDefinitionError } from './errors';
import {
  type Compiled,
  type ExpressionFunction,
  ExpressionSyntaxError,
  type Node,
  compileExpression,
  compileNode,
  parseExpression,
} from './expr';
import { checkScopes } from './scopes';
import { DEFAULT_RETRY_POLICIES, STDLIB } from './stdlib';
import { Double, type Value, type ValueMap, isMap } from './values';

/** Google's limit on assignments in one assign step. */
const MAX_ASSIGNMENTS = 50;

/** An assignment target: `x`, `x.key`, `x["key"]`, `x[0]`, chained. */
export interface Target {
  root: string;
  path: ({ key: string } | { index: Compiled })[];
}

export interface Block {
  steps: Step[];
  indexOf: Map<string, number>;
}

export interface Retry {
  predicate: { builtin: string } | { subworkflow: string };
  maxRetries: Compiled;
  initialDelay: Compiled;
  maxDelay: Compiled;
  multiplier: Compiled;
}

export interface Condition {
  condition: Compiled;
  next?: string;
  steps?: Block;
  ret?: Compiled;
  raise?: Compiled;
  assign?: { target: Target; value: Compiled }[];
}

export interface LoopSpec {
  value: string;
  index?: string;
  in?: Compiled;
  /** Evaluates to [start, end], both inclusive. */
  range?: Compiled;
  body: Block;
}

export type Step = { name: string; next?: string } & (
  | { kind: 'assign'; assign: { target: Target; value: Compiled }[] }
  | { kind: 'call'; fn: string; args: [string, Compiled][]; result?: Target }
  | { kind: 'switch'; conditions: Condition[] }
  | { kind: 'for'; loop: LoopSpec }
  | {
      kind: 'parallel';
      shared: string[];
      concurrencyLimit?: Compiled;
      branches?: { name: string; body: Block }[];
      loop?: LoopSpec;
    }
  | { kind: 'try'; body: Block; retry?: Retry; except?: { as?: string; body: Block } }
  | { kind: 'raise'; value: Compiled }
  | { kind: 'return'; value: Compiled }
  | { kind: 'steps'; body: Block }
  | { kind: 'next' }
);

interface Subworkflow {
  name: string;
  params: { name: string; default?: Compiled }[];
  body: Block;
}

export interface Program {
  subworkflows: Map<string, Subworkflow>;
}

const STEP_KEYS: Record<Step['kind'], string[]> = {
  assign: ['assign', 'next'],
  call: ['call', 'args', 'result', 'next'],
  switch: ['switch', 'next'],
  for: ['for', 'next'],
  parallel: ['parallel', 'next'],
  try: ['try', 'retry', 'except', 'next'],
  raise: ['raise'],
  return: ['return'],
  steps: ['steps', 'next'],
  next: ['next'],
};
const KIND_ORDER: Step['kind'][] = [
  'assign',
  'call',
  'switch',
  'for',
  'parallel',
  'try',
  'raise',
  'return',
  'steps',
  'next',
];
const EXPRESSION = /^\$\{([\s\S]*)\}$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const CONNECTOR = Symbol('connector');

/**
 * Connector calls (`googleapis.*`, `gke.*`) deploy on Google, so they deploy
 * here too; the engine refuses to run one (engine.ts).
 */
export function isConnector(fn: string): boolean {
  return /^(googleapis|gke)\.[A-Za-z0-9_.]+$/.test(fn);
}

/** Parses YAML (a superset of JSON) into a Program, or throws WorkflowDefinitionError. */
export function compileWorkflow(source: string): Program {
  let doc: unknown;
  try {
    doc = YAML.parse(source, { customTags: [doubleTag] });
  } catch (err) {
    throw new WorkflowDefinitionError(`not valid YAML or JSON: ${(err as Error).message}`);
  }
  const compiler = new Compiler(doc);
  const program = compiler.program();
  checkScopes(compiler.raw);
  return program;
}

/** YAML floats (`2.0`, `1e3`) become Workflows doubles rather than JS numbers. */
const doubleTag = {
  tag: 'tag:yaml.org,2002:float',
  test: /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$/,
  resolve: (src: string): Double => new Double(Number(src)),
  identify: (v: unknown): boolean => v instanceof Double,
  default: true,
};

class Compiler {
  private readonly subworkflowNames: Set<string>;
  readonly raw: Record<string, unknown>;

  constructor(doc: unknown) {
    if (Array.isArray(doc)) this.raw = { main: { steps: doc } };
    else if (doc && typeof doc === 'object') this.raw = doc as Record<string, unknown>;
    else
      throw new WorkflowDefinitionError(
        'a workflow must be a list of steps or a map of subworkflows with "main"',
      );
    if (!('main' in this.raw)) throw new WorkflowDefinitionError('the workflow has no "main" subworkflow');
    this.subworkflowNames = new Set(Object.keys(this.raw));
  }

  program(): Program {
    const subworkflows = new Map<string, Subworkflow>();
    for (const [name, def] of Object.entries(this.raw)) subworkflows.set(name, this.subworkflow(name, def));
    const main = subworkflows.get('main')!;
    if (main.params.length > 1)
      throw new WorkflowDefinitionError(
        `"main" takes at most one parameter (the execution argument), got ${main.params.length}`,
      );
    return { subworkflows };
  }

  private subworkflow(name: string, def: unknown): Subworkflow {
    if (!NAME.test(name))
      throw new WorkflowDefinitionError(`subworkflow name "${name}" must be letters, digits and underscores`);
    if (!isPlainObject(def))
      throw new WorkflowDefinitionError(`subworkflow "${name}" must be a map with "steps"`);
    this.keys(def, ['params', 'steps'], `subworkflow ${name}`);
    const params = ((def.params ?? []) as unknown[]).map((p) => {
      if (typeof p === 'string' && NAME.test(p)) return { name: p };
      if (isPlainObject(p) && Object.keys(p).length === 1) {
        const [pname, dflt] = Object.entries(p)[0];
        return { name: pname, default: this.value(dflt, `${name} params`) };
      }
      throw new WorkflowDefinitionError(
        `subworkflow "${name}": each param must be a name or {name: default}, got ${JSON.stringify(p)}`,
      );
    });
    // The published schema (workflows-samples/jsonschema/workflows.json): at most 10, unique.
    if (params.length > MAX_SUBWORKFLOW_PARAMS)
      throw new WorkflowDefinitionError(
        `subworkflow "${name}" takes ${params.length} params; the maximum is ${MAX_SUBWORKFLOW_PARAMS}`,
      );
    const repeated = params.find((p, i) => params.findIndex((q) => q.name === p.name) !== i);
    if (repeated)
      throw new WorkflowDefinitionError(`subworkflow "${name}" lists param "${repeated.name}" twice`);
    if (!Array.isArray(def.steps))
      throw new WorkflowDefinitionError(`subworkflow "${name}": "steps" must be a list`);
    const body = this.block(def.steps, name, []);
    return { name, params, body };
  }

  /** `visible` holds the step names of enclosing lists that `next` may jump to. */
  private block(raw: unknown, where: string, visible: Set<string>[]): Block {
    if (!Array.isArray(raw) || raw.length === 0)
      throw new WorkflowDefinitionError(`"steps" must be a non-empty list`, where);
    const indexOf = new Map<string, number>();
    const entries = raw.map((item, i) => {
      if (!isPlainObject(item) || Object.keys(item).length !== 1)
        throw new WorkflowDefinitionError(
          `each step must be a map with exactly one key (the step name); item ${i} is ${JSON.stringify(item)}`,
          where,
        );
      const [name, body] = Object.entries(item)[0];
      if (indexOf.has(name)) throw new WorkflowDefinitionError('duplicate step name in the same list', name);
      indexOf.set(name, i);
      return [name, body] as const;
    });
    const scopes = [new Set(indexOf.keys()), ...visible];
    const steps = entries.map(([name, body]) => this.step(name, body, scopes));
    return { steps, indexOf };
  }

  private step(name: string, raw: unknown, visible: Set<string>[]): Step {
    if (!isPlainObject(raw))
      throw new WorkflowDefinitionError(`a step must be a map, got ${JSON.stringify(raw)}`, name);
    const kind = KIND_ORDER.find((k) => k in raw);
    if (!kind)
      throw new WorkflowDefinitionError(
        `unknown step kind with keys [${Object.keys(raw).join(', ')}]; expected one of ${KIND_ORDER.join(', ')}`,
        name,
      );
    this.keys(raw, STEP_KEYS[kind], name);
    const next = raw.next === undefined ? undefined : this.next(raw.next, name, visible);
    const base = { name, next };
    switch (kind) {
      case 'assign':
        return { ...base, kind, assign: this.assignments(raw.assign, name) };
      case 'call':
        return { ...base, kind, ...this.call(raw, name) };
      case 'switch':
        return { ...base, kind, conditions: this.conditions(raw.switch, name, visible) };
      case 'for':
        return { ...base, kind, loop: this.loop(raw.for, name) };
      case 'parallel':
        return { ...base, kind, ...this.parallel(raw.parallel, name) };
      case 'try':
        return { ...base, kind, ...this.tryStep(raw, name, visible) };
      case 'raise':
        return { ...base, kind, value: this.value(raw.raise, name) };
      case 'return':
        return { ...base, kind, value: this.value(raw.return, name) };
      case 'steps':
        return { ...base, kind, body: this.block(raw.steps, name, visible) };
      case 'next':
        return { ...base, kind };
    }
  }

  private keys(raw: Record<string, unknown>, allowed: string[], where: string): void {
    for (const k of Object.keys(raw))
      if (!allowed.includes(k))
        throw new WorkflowDefinitionError(
          `unknown or unsupported key "${k}"; allowed here: ${allowed.join(', ')}`,
          where,
        );
  }

  private next(raw: unknown, step: string, visible: Set<string>[]): string {
    if (typeof raw !== 'string')
      throw new WorkflowDefinitionError(`"next" must be a step name, got ${JSON.stringify(raw)}`, step);
    if (raw === 'end' || raw === 'break' || raw === 'continue') return raw;
    if (!visible.some((s) => s.has(raw)))
      throw new WorkflowDefinitionError(`"next" names unknown step "${raw}"`, step);
    return raw;
  }

  private expression(src: string, step: string): Compiled {
    try {
      return compileExpression(src, (fname, argc) => this.expressionFunction(fname, argc, step));
    } catch (err) {
      if (err instanceof ExpressionSyntaxError) throw new WorkflowDefinitionError(err.message, step);
      throw err;
    }
  }

  private expressionFunction(fname: string, argc: number, step: string): ExpressionFunction {
    const spec = STDLIB[fname];
    if (!spec && isConnector(fname))
      return () => {
        throw new Error(
          `connector function "${fname}" is not available on the local engine (step "${step}")`,
        );
      };
    if (!spec) {
      if (this.subworkflowNames.has(fname))
        throw new WorkflowDefinitionError(
          `calling subworkflow "${fname}" inside an expression is not supported by the emulator; use a call step`,
          step,
        );
      throw new WorkflowDefinitionError(`unknown function "${fname}"`, step);
    }
    if (spec.blocking)
      throw new WorkflowDefinitionError(`blocking function "${fname}" can only be used in a call step`, step);
    if (argc < spec.required || argc > spec.params.length)
      throw new WorkflowDefinitionError(
        `function "${fname}" takes ${spec.required}..${spec.params.length} arguments, got ${argc}`,
        step,
      );
    // Non-blocking functions return synchronously.
    return spec.run as ExpressionFunction;
  }

  /** A YAML value that may contain `${...}` strings, compiled to produce a fresh value each time. */
  value(raw: unknown, step: string): Compiled {
    if (typeof raw === 'string') {
      const m = EXPRESSION.exec(raw);
      if (m) return this.expression(m[1], step);
      return () => raw;
    }
    if (raw === null || raw === undefined) return () => null;
    if (typeof raw === 'boolean' || raw instanceof Double) return () => raw;
    if (typeof raw === 'number') {
      const v: Value = Number.isSafeInteger(raw) ? raw : new Double(raw);
      return () => v;
    }
    if (Array.isArray(raw)) {
      const items = raw.map((r) => this.value(r, step));
      return (s) => items.map((f) => f(s));
    }
    if (isPlainObject(raw)) {
      const entries = Object.entries(raw).map(([k, v]) => [k, this.value(v, step)] as const);
      return (s) => {
        const out: ValueMap = {};
        for (const [k, f] of entries) out[k] = f(s);
        return out;
      };
    }
    throw new WorkflowDefinitionError(`unsupported value ${String(raw)}`, step);
  }

  private target(raw: string, step: string): Target {
    let node: Node;
    try {
      node = parseExpression(raw);
    } catch (err) {
      throw new WorkflowDefinitionError(
        `invalid assignment target "${raw}": ${(err as Error).message}`,
        step,
      );
    }
    const path: Target['path'] = [];
    while (node.type === 'member' || node.type === 'index') {
      path.unshift(
        node.type === 'member'
          ? { key: node.key }
          : { index: compileNode(node.index, (f, n) => this.expressionFunction(f, n, step)) },
      );
      node = node.object;
    }
    if (node.type !== 'var')
      throw new WorkflowDefinitionError(
        `invalid assignment target "${raw}": expected a variable, key or index`,
        step,
      );
    return { root: node.name, path };
  }

  private assignments(raw: unknown, step: string): { target: Target; value: Compiled }[] {
    if (!Array.isArray(raw) || raw.length === 0)
      throw new WorkflowDefinitionError('"assign" must be a non-empty list of {target: value}', step);
    if (raw.length > MAX_ASSIGNMENTS)
      throw new WorkflowDefinitionError(
        `"assign" has ${raw.length} assignments; the maximum is ${MAX_ASSIGNMENTS}`,
        step,
      );
    return raw.map((a) => {
      if (!isPlainObject(a) || Object.keys(a).length !== 1)
        throw new WorkflowDefinitionError(
          `each assignment must be a single {target: value}, got ${JSON.stringify(a)}`,
          step,
        );
      const [t, v] = Object.entries(a)[0];
      return { target: this.target(t, step), value: this.value(v, step) };
    });
  }

  private call(
    raw: Record<string, unknown>,
    step: string,
  ): { fn: string; args: [string, Compiled][]; result?: Target } {
    const fn = raw.call;
    if (typeof fn !== 'string')
      throw new WorkflowDefinitionError(`"call" must be a function name, got ${JSON.stringify(fn)}`, step);
    const params = this.callParams(fn, step);
    const args = raw.args === undefined ? {} : raw.args;
    if (!isPlainObject(args))
      throw new WorkflowDefinitionError('"args" must be a map of named arguments', step);
    for (const k of Object.keys(args))
      if (params !== CONNECTOR && !params.includes(k))
        throw new WorkflowDefinitionError(
          `"${fn}" has no parameter "${k}"; it takes: ${params.join(', ') || 'none'}`,
          step,
        );
    if (fn.startsWith('http.')) checkHttpArgs(args, step);
    const result = raw.result === undefined ? undefined : this.target(String(raw.result), step);
    return { fn, args: Object.entries(args).map(([k, v]) => [k, this.value(v, step)]), result };
  }

  /** The parameters `fn` takes, or CONNECTOR for a connector call, whose arguments the emulator cannot know. */
  private callParams(fn: string, step: string): string[] | typeof CONNECTOR {
    if (this.subworkflowNames.has(fn)) {
      const def = this.raw[fn] as { params?: unknown[] };
      return (def.params ?? []).map((p) => (typeof p === 'string' ? p : Object.keys(p as object)[0]));
    }
    const spec = STDLIB[fn];
    if (spec) return [...spec.params];
    if (isConnector(fn)) return CONNECTOR;
    throw new WorkflowDefinitionError(
      `unknown function "${fn}" in call (not a subworkflow nor an implemented standard library function)`,
      step,
    );
  }

  private conditions(raw: unknown, step: string, visible: Set<string>[]): Condition[] {
    if (!Array.isArray(raw) || raw.length === 0)
      throw new WorkflowDefinitionError('"switch" must be a non-empty list of conditions', step);
    if (raw.length > MAX_SWITCH_CONDITIONS)
      throw new WorkflowDefinitionError(
        `"switch" has ${raw.length} conditions; the maximum is ${MAX_SWITCH_CONDITIONS}`,
        step,
      );
    return raw.map((c, i) => {
      const where = `${step} (condition ${i + 1})`;
      if (!isPlainObject(c) || !('condition' in c))
        throw new WorkflowDefinitionError('each switch entry needs a "condition"', where);
      if (typeof c.condition !== 'boolean' && !isExpression(c.condition))
        throw new WorkflowDefinitionError(
          `"condition" must be an expression \${...} or true/false, got ${JSON.stringify(c.condition)}`,
          where,
        );
      this.keys(c, ['condition', 'next', 'steps', 'return', 'raise', 'assign'], where);
      return {
        condition: this.value(c.condition, where),
        next: c.next === undefined ? undefined : this.next(c.next, where, visible),
        steps: c.steps === undefined ? undefined : this.block(c.steps, where, visible),
        ret: 'return' in c ? this.value(c.return, where) : undefined,
        raise: 'raise' in c ? this.value(c.raise, where) : undefined,
        assign: c.assign === undefined ? undefined : this.assignments(c.assign, where),
      };
    });
  }

  private loop(raw: unknown, step: string): LoopSpec {
    if (!isPlainObject(raw)) throw new WorkflowDefinitionError('"for" must be a map', step);
    this.keys(raw, ['value', 'index', 'in', 'range', 'steps'], `${step} (for)`);
    if (typeof raw.value !== 'string' || !NAME.test(raw.value))
      throw new WorkflowDefinitionError('"for" needs "value": a variable name', step);
    if (raw.index !== undefined && (typeof raw.index !== 'string' || !NAME.test(raw.index)))
      throw new WorkflowDefinitionError('"for.index" must be a variable name', step);
    if ('in' in raw === 'range' in raw)
      throw new WorkflowDefinitionError('"for" needs exactly one of "in" or "range"', step);
    let range: Compiled | undefined;
    if ('range' in raw) {
      if (raw.index !== undefined)
        throw new WorkflowDefinitionError('"for" with "range" cannot have "index"', step);
      range = this.range(raw.range, step);
    }
    // A loop body may break/continue, but not jump to steps outside it.
    const body = this.block(raw.steps, step, []);
    return {
      value: raw.value,
      index: raw.index as string | undefined,
      in: 'in' in raw ? this.value(this.loopList(raw.in, step), step) : undefined,
      range,
      body,
    };
  }

  /** `for.in`: a list, or one expression that evaluates to a list (the published schema). */
  private loopList(raw: unknown, step: string): unknown {
    if (Array.isArray(raw) || isExpression(raw)) return raw;
    throw new WorkflowDefinitionError(
      `"for.in" must be a list or an expression \${...}, got ${JSON.stringify(raw)}`,
      step,
    );
  }

  /**
   * `for.range` (syntax/iteration): either two literal numbers, or one
   * expression for the whole list, `${[start, end]}`. An expression inside the
   * list (`[1, ${n}]`) is what the published schema forbids.
   */
  private range(raw: unknown, step: string): Compiled {
    const isNumberLiteral = (x: unknown): boolean => typeof x === 'number' || x instanceof Double;
    if (Array.isArray(raw) && raw.length === 2 && raw.every(isNumberLiteral)) return this.value(raw, step);
    if (typeof raw === 'string' && /^\$\{\s*\[[\s\S]+\]\s*\}$/.test(raw)) return this.value(raw, step);
    throw new WorkflowDefinitionError(
      `"for.range" must be two literal numbers [start, end] or one expression for the whole list \${[start, end]}, got ${JSON.stringify(raw)}`,
      step,
    );
  }

  private parallel(
    raw: unknown,
    step: string,
  ): Omit<Extract<Step, { kind: 'parallel' }>, 'name' | 'next' | 'kind'> {
    if (!isPlainObject(raw)) throw new WorkflowDefinitionError('"parallel" must be a map', step);
    this.keys(
      raw,
      ['shared', 'concurrency_limit', 'exception_policy', 'branches', 'for'],
      `${step} (parallel)`,
    );
    if ('branches' in raw === 'for' in raw)
      throw new WorkflowDefinitionError('"parallel" needs exactly one of "branches" or "for"', step);
    const shared = (raw.shared ?? []) as unknown[];
    if (!Array.isArray(shared) || !shared.every((s) => typeof s === 'string' && NAME.test(s)))
      throw new WorkflowDefinitionError('"parallel.shared" must be a list of variable names', step);
    if (raw.exception_policy !== undefined && raw.exception_policy !== 'continueAll')
      throw new WorkflowDefinitionError(
        `"parallel.exception_policy" must be "continueAll", got ${JSON.stringify(raw.exception_policy)}`,
        step,
      );
    const common = {
      shared: shared as string[],
      concurrencyLimit:
        raw.concurrency_limit === undefined ? undefined : this.value(raw.concurrency_limit, step),
    };
    if ('for' in raw) return { ...common, loop: this.loop(raw.for, step) };
    if (!Array.isArray(raw.branches) || raw.branches.length < 2)
      throw new WorkflowDefinitionError('"parallel.branches" must list at least two branches', step);
    if (raw.branches.length > MAX_BRANCHES)
      throw new WorkflowDefinitionError(
        `"parallel.branches" lists ${raw.branches.length} branches; the maximum is ${MAX_BRANCHES}`,
        step,
      );
    const branches = raw.branches.map((b) => {
      if (!isPlainObject(b) || Object.keys(b).length !== 1)
        throw new WorkflowDefinitionError('each branch must be {name: {steps: [...]}}', step);
      const [bname, bdef] = Object.entries(b)[0];
      if (!isPlainObject(bdef))
        throw new WorkflowDefinitionError('a branch must be a map with "steps"', bname);
      this.keys(bdef, ['steps'], bname);
      return { name: bname, body: this.block(bdef.steps, bname, []) };
    });
    return { ...common, branches };
  }

  private tryStep(
    raw: Record<string, unknown>,
    step: string,
    visible: Set<string>[],
  ): Omit<Extract<Step, { kind: 'try' }>, 'name' | 'next' | 'kind'> {
    const t = raw.try;
    if (!isPlainObject(t))
      throw new WorkflowDefinitionError('"try" must be a map: {steps: [...]} or a single step body', step);
    // `try:` holds either a steps list or the body of one step (e.g. a call).
    const body =
      'steps' in t && Object.keys(t).length === 1
        ? this.block(t.steps, step, visible)
        : this.block([{ [step]: t }], step, visible);
    let retry: Retry | undefined;
    if (raw.retry !== undefined) retry = this.retry(raw.retry, step);
    let except: { as?: string; body: Block } | undefined;
    if (raw.except !== undefined) {
      const e = raw.except;
      if (!isPlainObject(e))
        throw new WorkflowDefinitionError('"except" must be a map with "as" and "steps"', step);
      this.keys(e, ['as', 'steps'], `${step} (except)`);
      if (e.as !== undefined && (typeof e.as !== 'string' || !NAME.test(e.as)))
        throw new WorkflowDefinitionError('"except.as" must be a variable name', step);
      except = { as: e.as as string | undefined, body: this.block(e.steps, step, visible) };
    }
    if (!retry && !except) throw new WorkflowDefinitionError('"try" needs "retry" or "except"', step);
    return { body, retry, except };
  }

  private retry(raw: unknown, step: string): Retry {
    const constant =
      (n: number): Compiled =>
      () =>
        n;
    if (typeof raw === 'string') {
      const m = EXPRESSION.exec(raw);
      const policy = m && DEFAULT_RETRY_POLICIES[m[1].trim()];
      if (!policy)
        throw new WorkflowDefinitionError(
          `unknown retry policy ${raw}; expected \${http.default_retry}, \${http.default_retry_non_idempotent} or a map`,
          step,
        );
      return {
        predicate: { builtin: policy.predicate },
        maxRetries: constant(policy.maxRetries),
        initialDelay: constant(policy.initialDelay),
        maxDelay: constant(policy.maxDelay),
        multiplier: constant(policy.multiplier),
      };
    }
    if (!isPlainObject(raw))
      throw new WorkflowDefinitionError('"retry" must be a policy expression or a map', step);
    this.keys(raw, ['predicate', 'max_retries', 'backoff'], `${step} (retry)`);
    const pm = typeof raw.predicate === 'string' ? EXPRESSION.exec(raw.predicate) : null;
    if (!pm) throw new WorkflowDefinitionError('"retry.predicate" must be ${predicate_name}', step);
    const pname = pm[1].trim();
    let predicate: Retry['predicate'];
    if (this.subworkflowNames.has(pname)) predicate = { subworkflow: pname };
    else if (STDLIB[pname] && STDLIB[pname].params.length === 1 && !STDLIB[pname].blocking)
      predicate = { builtin: pname };
    else
      throw new WorkflowDefinitionError(
        `retry predicate "${pname}" is neither a subworkflow nor a built-in predicate`,
        step,
      );
    if (raw.max_retries === undefined)
      throw new WorkflowDefinitionError('"retry.max_retries" is required', step);
    requireWholeNumber(raw.max_retries, 'retry.max_retries', step);
    const backoff = raw.backoff;
    if (!isPlainObject(backoff))
      throw new WorkflowDefinitionError(
        '"retry.backoff" must be {initial_delay, max_delay, multiplier}',
        step,
      );
    this.keys(backoff, ['initial_delay', 'max_delay', 'multiplier'], `${step} (retry.backoff)`);
    for (const k of ['initial_delay', 'max_delay', 'multiplier']) {
      if (backoff[k] === undefined)
        throw new WorkflowDefinitionError(`"retry.backoff.${k}" is required`, step);
      requireWholeNumber(backoff[k], `retry.backoff.${k}`, step);
    }
    return {
      predicate,
      maxRetries: this.value(raw.max_retries, step),
      initialDelay: this.value(backoff.initial_delay, step),
      maxDelay: this.value(backoff.max_delay, step),
      multiplier: this.value(backoff.multiplier, step),
    };
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return (
    x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Double) && isMap(x as Value)
  );
}

/*
 * Limits and types of the published JSON schema for workflow files
 * (GoogleCloudPlatform/workflows-samples, jsonschema/workflows.json, also on
 * SchemaStore), checked at deploy time like the rest of the schema.
 */
const MAX_SUBWORKFLOW_PARAMS = 10;
const MAX_SWITCH_CONDITIONS = 50;
const MAX_BRANCHES = 10;

function isExpression(x: unknown): boolean {
  return typeof x === 'string' && /^\$\{[\s\S]+\}$/.test(x);
}

/** The schema types max_retries and the backoff fields as integers: no expression, no fraction. */
function requireWholeNumber(x: unknown, field: string, step: string): void {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0)
    throw new WorkflowDefinitionError(`"${field}" must be a whole number, got ${JSON.stringify(x)}`, step);
}

/** `url` a URL or an expression; `headers`, when given, a map with at least one field. */
function checkHttpArgs(args: Record<string, unknown>, step: string): void {
  if ('url' in args && typeof args.url !== 'string')
    throw new WorkflowDefinitionError(
      `"args.url" must be a URL or an expression, got ${JSON.stringify(args.url)}`,
      step,
    );
  if (
    'headers' in args &&
    !isExpression(args.headers) &&
    (!isPlainObject(args.headers) || Object.keys(args.headers).length === 0)
  )
    throw new WorkflowDefinitionError(
      `"args.headers" must be a map with at least one header, got ${JSON.stringify(args.headers)}`,
      step,
    );
}
