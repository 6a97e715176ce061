/**
 * Deploy-time variable scoping, as Google checks it (syntax/parallel-steps,
 * "Shared variables", and its parallel_shared_variables sample): a parallel
 * branch may write a parent variable only if the parallel step lists it in
 * `shared`, and an expression may read only a variable assigned in its scope
 * or an enclosing one. Runs on a definition the compiler has already accepted.
 *
 * The check is flow-insensitive: a name counts as defined in a scope if any
 * step of that scope assigns it, wherever the step is. Reading it before that
 * step runs is left to the run-time KeyError.
 */
import { WorkflowDefinitionError } from './errors';
import { type Node, parseExpression } from './expr';

interface Scope {
  parent?: Scope;
  /** Set on a parallel branch or iteration: the parent variables it may write. */
  shared?: Set<string>;
  /** Params, loop variables: defined here whatever the parent holds. */
  locals: Set<string>;
  writes: { name: string; step: string }[];
  reads: { name: string; step: string }[];
  children: Scope[];
  /** Names this scope owns once resolved. */
  defs: Set<string>;
}

const EXPRESSION = /^\$\{([\s\S]*)\}$/;
type Raw = Record<string, unknown>;
const isRaw = (x: unknown): x is Raw => x !== null && typeof x === 'object' && !Array.isArray(x);

function scope(parent?: Scope, locals: string[] = [], shared?: string[]): Scope {
  const s: Scope = {
    parent,
    locals: new Set(locals),
    shared: shared && new Set(shared),
    writes: [],
    reads: [],
    children: [],
    defs: new Set(),
  };
  parent?.children.push(s);
  return s;
}

function variables(node: Node, out: string[]): void {
  switch (node.type) {
    case 'var':
      out.push(node.name);
      return;
    case 'lit':
      return;
    case 'list':
      return node.items.forEach((n) => variables(n, out));
    case 'map':
      return node.entries.forEach(([k, v]) => (variables(k, out), variables(v, out)));
    case 'member':
      return variables(node.object, out);
    case 'index':
      return (variables(node.object, out), variables(node.index, out));
    case 'call':
      return node.args.forEach((n) => variables(n, out));
    case 'unary':
      return variables(node.operand, out);
    case 'binary':
      return (variables(node.left, out), variables(node.right, out));
  }
}

/** Records the variables every `${...}` inside a YAML value reads. */
function read(raw: unknown, s: Scope, step: string): void {
  if (typeof raw === 'string') {
    const m = EXPRESSION.exec(raw);
    if (!m) return;
    const names: string[] = [];
    variables(parseExpression(m[1]), names);
    for (const name of names) s.reads.push({ name, step });
  } else if (Array.isArray(raw)) raw.forEach((r) => read(r, s, step));
  else if (isRaw(raw)) Object.values(raw).forEach((r) => read(r, s, step));
}

/** An assignment target writes its root; a keyed or indexed target also reads it. */
function write(target: string, s: Scope, step: string): void {
  let node = parseExpression(target);
  const names: string[] = [];
  while (node.type === 'member' || node.type === 'index') {
    if (node.type === 'index') variables(node.index, names);
    const inner: Node = node.object;
    if (inner.type === 'var') names.push(inner.name);
    node = inner;
  }
  if (node.type === 'var') s.writes.push({ name: node.name, step });
  for (const name of names) s.reads.push({ name, step });
}

function steps(list: unknown, s: Scope): void {
  for (const item of list as Raw[]) {
    const [name, body] = Object.entries(item)[0];
    stepBody(name, body as Raw, s);
  }
}

function assignments(list: unknown, s: Scope, step: string): void {
  for (const a of list as Raw[]) {
    const [target, value] = Object.entries(a)[0];
    read(value, s, step);
    write(target, s, step);
  }
}

function loop(raw: Raw, s: Scope, step: string, shared?: string[]): void {
  read(raw.in ?? raw.range, s, step);
  const locals = [raw.value as string, ...(raw.index ? [raw.index as string] : [])];
  steps(raw.steps, scope(s, locals, shared));
}

function stepBody(step: string, raw: Raw, s: Scope): void {
  if (raw.assign) assignments(raw.assign, s, step);
  if ('call' in raw) {
    read(raw.args, s, step);
    if (typeof raw.result === 'string') write(raw.result, s, step);
  }
  if (raw.switch)
    for (const c of raw.switch as Raw[]) {
      read([c.condition, c.return, c.raise], s, step);
      if (c.assign) assignments(c.assign, s, step);
      if (c.steps) steps(c.steps, s);
    }
  if (isRaw(raw.for)) loop(raw.for, s, step);
  if (isRaw(raw.parallel)) {
    const p = raw.parallel;
    const shared = (p.shared ?? []) as string[];
    for (const name of shared) s.reads.push({ name, step });
    read(p.concurrency_limit, s, step);
    if (isRaw(p.for)) loop(p.for, s, step, shared);
    for (const b of (p.branches ?? []) as Raw[])
      steps((Object.values(b)[0] as Raw).steps, scope(s, [], shared));
  }
  if (isRaw(raw.try)) {
    if ('steps' in raw.try && Object.keys(raw.try).length === 1) steps(raw.try.steps, s);
    else stepBody(step, raw.try, s);
    if (isRaw(raw.retry)) read([raw.retry.max_retries, raw.retry.backoff], s, step);
    if (isRaw(raw.except)) {
      if (typeof raw.except.as === 'string') s.writes.push({ name: raw.except.as, step });
      steps(raw.except.steps, s);
    }
  }
  if ('raise' in raw) read(raw.raise, s, step);
  if ('return' in raw) read(raw.return, s, step);
  if (Array.isArray(raw.steps)) steps(raw.steps, s);
}

function owner(name: string, s: Scope | undefined): Scope | undefined {
  for (let x = s; x; x = x.parent) if (x.locals.has(name) || x.defs.has(name)) return x;
  return undefined;
}

function resolve(s: Scope, subworkflow: string): void {
  for (const { name, step } of s.writes) {
    const home = owner(name, s.parent);
    if (!home) {
      s.defs.add(name);
      continue;
    }
    for (let x: Scope | undefined = s; x && x !== home; x = x.parent)
      if (x.shared && !x.shared.has(name))
        throw new WorkflowDefinitionError(
          `variable "${name}" is assigned in a parallel branch but belongs to the enclosing scope and is not listed in "shared"`,
          step,
        );
  }
  for (const { name, step } of s.reads)
    if (!owner(name, s))
      throw new WorkflowDefinitionError(
        `variable "${name}" is not defined in this scope of subworkflow "${subworkflow}" (assign it first, in this branch or an enclosing scope)`,
        step,
      );
  for (const child of s.children) resolve(child, subworkflow);
}

/** Throws WorkflowDefinitionError at the first scoping error. `doc` maps subworkflow names to {params, steps}. */
export function checkScopes(doc: Record<string, unknown>): void {
  for (const [name, def] of Object.entries(doc)) {
    const { params = [], steps: body } = def as { params?: unknown[]; steps: unknown };
    const root = scope(
      undefined,
      params.map((p) => (typeof p === 'string' ? p : Object.keys(p as object)[0])),
    );
    steps(body, root);
    resolve(root, name);
  }
}
