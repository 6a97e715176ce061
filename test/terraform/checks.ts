/**
 * Offline checks of the Terraform in terraform/ (no provider, no network).
 *
 * Every `.tf` file is parsed with @cdktf/hcl2json; each check returns the list
 * of problems it found (empty = pass), so a test can show both that the real
 * configuration passes and that a broken copy fails.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from '@cdktf/hcl2json';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Block {
  file: string;
  body: Json;
}

export interface TfModule {
  dir: string;
  /** Raw text by file name. */
  texts: Record<string, string>;
  variables: Map<string, Block>;
  locals: Map<string, { file: string; value: Json }>;
  outputs: Map<string, Block>;
  modules: Map<string, Block>;
  /** `TYPE.NAME` */
  resources: Map<string, Block>;
  /** `TYPE.NAME` (without the `data.` prefix) */
  data: Map<string, Block>;
  /** `check` blocks, by name. */
  checks: Map<string, Block>;
  /** `moved` blocks: the old address and the new one, as written (`TYPE.NAME` or `TYPE.NAME["key"]`). */
  moved: Array<{ file: string; from: string; to: string }>;
}

/** Reads and parses every `.tf` file directly in `dir` (not sub-directories). */
export async function loadModule(dir: string): Promise<TfModule> {
  const mod: TfModule = {
    dir,
    texts: {},
    variables: new Map(),
    locals: new Map(),
    outputs: new Map(),
    modules: new Map(),
    resources: new Map(),
    data: new Map(),
    checks: new Map(),
    moved: [],
  };
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.tf') && statSync(join(dir, f)).isFile())
    .sort();
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8');
    mod.texts[file] = text;
    let json: Json;
    try {
      json = await parse(file, text);
    } catch (e) {
      throw new Error(`${file}: HCL parse error: ${(e as Error).message}`, { cause: e });
    }
    const add = (map: Map<string, Block>, key: string, body: Json, what: string) => {
      if (map.has(key)) throw new Error(`${file}: ${what} ${key} declared twice`);
      map.set(key, { file, body });
    };
    for (const [name, bodies] of Object.entries<Json>(json.variable ?? {}))
      add(mod.variables, name, bodies[0], 'variable');
    for (const [name, bodies] of Object.entries<Json>(json.output ?? {}))
      add(mod.outputs, name, bodies[0], 'output');
    for (const [name, bodies] of Object.entries<Json>(json.module ?? {}))
      add(mod.modules, name, bodies[0], 'module');
    for (const [name, bodies] of Object.entries<Json>(json.check ?? {}))
      add(mod.checks, name, bodies[0], 'check');
    for (const block of json.locals ?? []) {
      for (const [name, value] of Object.entries<Json>(block)) {
        if (mod.locals.has(name)) throw new Error(`${file}: local ${name} declared twice`);
        mod.locals.set(name, { file, value });
      }
    }
    for (const [type, byName] of Object.entries<Json>(json.resource ?? {})) {
      for (const [name, bodies] of Object.entries<Json>(byName))
        add(mod.resources, `${type}.${name}`, bodies[0], 'resource');
    }
    for (const [type, byName] of Object.entries<Json>(json.data ?? {})) {
      for (const [name, bodies] of Object.entries<Json>(byName))
        add(mod.data, `${type}.${name}`, bodies[0], 'data source');
    }
    for (const block of json.moved ?? [])
      mod.moved.push({ file, from: unwrap(block.from), to: unwrap(block.to) });
  }
  expandInstances(mod);
  return mod;
}

/** `${x}` → `x`: a moved block's addresses are bare references. */
const unwrap = (s: string): string => /^\$\{([\s\S]*)\}$/.exec(s)?.[1] ?? s;

/**
 * A resource with `for_each = local.X`, where X is a literal map (or a
 * literal `toset([...])`), stands for
 * one instance per key, as Terraform plans it: `TYPE.NAME["key"]`, its body
 * with each.key and each.value written out. The checks then see every
 * instance's own settings, as they saw the near-copy blocks these maps replaced.
 */
function expandInstances(mod: TfModule): void {
  for (const [key, block] of [...mod.resources]) {
    const forEach = String(block.body.for_each ?? '');
    const m = /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(forEach);
    // toset(["a", "b"]): each.key and each.value are the element.
    const set = /^\$\{toset\((\[\s*"[^"]*"(?:\s*,\s*"[^"]*")*\s*,?\s*\])\)\}$/.exec(forEach);
    const map = m
      ? mod.locals.get(m[1])?.value
      : set
        ? Object.fromEntries((JSON.parse(set[1].replace(/,\s*\]$/, ']')) as string[]).map((k) => [k, k]))
        : undefined;
    if (!map || typeof map !== 'object' || Array.isArray(map)) continue;
    mod.resources.delete(key);
    for (const [instance, value] of Object.entries<Json>(map)) {
      const { for_each: _forEach, ...body } = block.body;
      mod.resources.set(`${key}[${JSON.stringify(instance)}]`, {
        file: block.file,
        body: writeOutEach(body, instance, value),
      });
    }
  }
  // Then `for_each = TYPE.NAME` over such a resource: one instance per instance of it, each.value its address.
  for (const [key, block] of [...mod.resources]) {
    const m = /^\$\{([a-z0-9_]+\.[A-Za-z0-9_]+)\}$/.exec(String(block.body.for_each ?? ''));
    const over = m ? [...mod.resources.keys()].filter((k) => k.startsWith(`${m[1]}[`)) : [];
    if (over.length === 0) continue;
    mod.resources.delete(key);
    for (const address of over) {
      const instance = JSON.parse(address.slice(m![1].length + 1, -1)) as string;
      const { for_each: _forEach, ...body } = block.body;
      mod.resources.set(`${key}[${JSON.stringify(instance)}]`, {
        file: block.file,
        body: writeOutEachResource(body, instance, address),
      });
    }
  }
}

/** writeOutEach for a for_each over a resource: each.value is the instance at `address`. */
function writeOutEachResource(node: Json, key: string, address: string): Json {
  if (Array.isArray(node)) return node.map((n) => writeOutEachResource(n, key, address));
  if (node && typeof node === 'object')
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, writeOutEachResource(v, key, address)]),
    );
  if (typeof node !== 'string') return node;
  if (node === '${each.key}') return key;
  return node
    .replaceAll('${each.key}', key)
    .replace(/(?<![A-Za-z0-9_.])each\.key\b/g, JSON.stringify(key))
    .replace(/(?<![A-Za-z0-9_.])each\.value\b/g, address);
}

const EACH_VALUE_PATH = String.raw`(?<![A-Za-z0-9_.])each\.value((?:\.[A-Za-z_][A-Za-z0-9_-]*|\["[^"]+"\])*)`;

/** each.value's field at `path` (`.a["b"]`). */
function eachValueAt(value: Json, path: string): Json {
  let v = value;
  for (const m of path.matchAll(/\.([A-Za-z_][A-Za-z0-9_-]*)|\["([^"]+)"\]/g)) v = v?.[m[1] ?? m[2]];
  return v;
}

/** A value as HCL expression code: `${expr}` → `expr`, a literal string quoted. */
function asCode(v: Json): string {
  if (typeof v === 'string') return /^\$\{[^{}]*\}$/.test(v) ? v.slice(2, -1) : JSON.stringify(v);
  return JSON.stringify(v);
}

function writeOutEach(node: Json, key: string, value: Json): Json {
  if (Array.isArray(node)) return node.map((n) => writeOutEach(n, key, value));
  if (node && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, writeOutEach(v, key, value)]));
  if (typeof node !== 'string') return node;
  if (node === '${each.key}') return key;
  const whole = new RegExp(`^\\$\\{${EACH_VALUE_PATH}\\}$`).exec(node);
  if (whole) return eachValueAt(value, whole[1]);
  return node
    .replaceAll('${each.key}', key)
    .replace(new RegExp(`\\$\\{${EACH_VALUE_PATH}\\}`, 'g'), (_, path: string) => {
      const v = eachValueAt(value, path);
      return typeof v === 'string' ? v : JSON.stringify(v);
    })
    .replace(/(?<![A-Za-z0-9_.])each\.key\b/g, JSON.stringify(key))
    .replace(new RegExp(EACH_VALUE_PATH, 'g'), (_, path: string) => asCode(eachValueAt(value, path)));
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

/** Every string in a JSON tree, with the path that leads to it. */
function strings(node: Json, path = ''): Array<{ path: string; value: string }> {
  if (typeof node === 'string') return [{ path, value: node }];
  if (Array.isArray(node)) return node.flatMap((n, i) => strings(n, `${path}[${i}]`));
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => [
      // Object keys can be expressions too: `(local.x) = ...`.
      ...(k.includes('.') ? [{ path: `${path}.<key>`, value: '${' + k + '}' }] : []),
      ...strings(v, path ? `${path}.${k}` : k),
    ]);
  }
  return [];
}

/**
 * The code inside the `${...}` interpolations of a template string, with
 * the contents of quoted string literals removed (their own interpolations
 * kept), but for plain keys.
 */
function expressionCode(template: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = template.length;

  // Reads an expression starting after `${`, up to the matching `}`; returns the index after it.
  const readExpr = (start: number): number => {
    let depth = 0;
    let code = '';
    let j = start;
    while (j < n) {
      const c = template[j];
      if (c === '"') {
        const end = readQuoted(j + 1);
        // A plain key (`["job-run"]`) is kept, so an instance key can be checked; it cannot look like a reference.
        const literal = template.slice(j + 1, end - 1);
        code += /^[A-Za-z0-9_-]*$/.test(literal) ? `"${literal}"` : ' "" ';
        j = end;
        continue;
      }
      if (c === '{' || c === '(' || c === '[') depth++;
      if (c === '}' || c === ')' || c === ']') {
        if (depth === 0 && c === '}') {
          out.push(code);
          return j + 1;
        }
        depth--;
      }
      code += c;
      j++;
    }
    out.push(code);
    return j;
  };

  // Reads a quoted string literal starting after `"`; returns the index after the closing quote.
  const readQuoted = (start: number): number => {
    let j = start;
    while (j < n) {
      const c = template[j];
      if (c === '\\') {
        j += 2;
        continue;
      }
      if (c === '"') return j + 1;
      if (c === '$' && template[j + 1] === '{') {
        j = readExpr(j + 2);
        continue;
      }
      j++;
    }
    return j;
  };

  while (i < n) {
    if (template[i] === '$' && template[i + 1] === '$' && template[i + 2] === '{') {
      i += 3;
      continue;
    }
    if (template[i] === '$' && template[i + 1] === '{') {
      i = readExpr(i + 2);
      continue;
    }
    i++;
  }
  return out;
}

const PROVIDER_PREFIXES = ['google', 'google-beta', 'archive', 'random', 'time', 'null', 'local', 'tls'];
const IDENT = '[A-Za-z_][A-Za-z0-9_-]*';

/** A reference; `index` is a resource's `[...]`, as written. */
interface Reference {
  kind: 'var' | 'local' | 'module' | 'data' | 'resource';
  name: string;
  text: string;
  index?: string;
}

/** The references to declared things (variables, locals, modules, data sources, resources) in a template. */
function references(template: string): Reference[] {
  const refs: Reference[] = [];
  for (const code of expressionCode(template)) {
    const re = new RegExp(
      `(?<![A-Za-z0-9_.-])(${IDENT})\\.(${IDENT})(\\[[^\\]]*\\])?(?:\\.(${IDENT}))?`,
      'g',
    );
    for (const m of code.matchAll(re)) {
      const [text, head, second, index, third] = m;
      if (head === 'var' || head === 'local' || head === 'module')
        refs.push({ kind: head, name: second, text });
      else if (head === 'data' && third) refs.push({ kind: 'data', name: `${second}.${third}`, text });
      else if (PROVIDER_PREFIXES.some((p) => head.startsWith(`${p}_`)) && head !== 'local_') {
        refs.push({ kind: 'resource', name: `${head}.${second}`, text, index });
      }
    }
  }
  return refs;
}

function allBlocks(mod: TfModule): Array<{ where: string; file: string; body: Json }> {
  return [
    ...[...mod.variables].map(([k, b]) => ({ where: `variable.${k}`, ...b })),
    ...[...mod.locals].map(([k, l]) => ({ where: `local.${k}`, file: l.file, body: l.value })),
    ...[...mod.outputs].map(([k, b]) => ({ where: `output.${k}`, ...b })),
    ...[...mod.modules].map(([k, b]) => ({ where: `module.${k}`, ...b })),
    ...[...mod.resources].map(([k, b]) => ({ where: k, ...b })),
    ...[...mod.data].map(([k, b]) => ({ where: `data.${k}`, ...b })),
    ...[...mod.checks].map(([k, b]) => ({ where: `check.${k}`, ...b })),
  ];
}

// ---------------------------------------------------------------------------
// Checks. Each returns a list of problems; empty means it passes.
// ---------------------------------------------------------------------------

/** Every var.x, local.x, module.x, data.T.N and T.N resolves to a declaration. */
export function checkReferences(mod: TfModule): string[] {
  const problems: string[] = [];
  for (const { where, file, body } of allBlocks(mod)) {
    for (const s of strings(body)) {
      for (const ref of references(s.value)) {
        const ok =
          ref.kind === 'var'
            ? mod.variables.has(ref.name)
            : ref.kind === 'local'
              ? mod.locals.has(ref.name)
              : ref.kind === 'module'
                ? mod.modules.has(ref.name)
                : ref.kind === 'data'
                  ? mod.data.has(ref.name)
                  : resourceDeclared(mod, ref.name, ref.index);
        if (!ok)
          problems.push(
            `${file}: ${where} (${s.path}) refers to undeclared ${ref.kind} ${ref.name} ("${ref.text}")`,
          );
      }
    }
  }
  return problems;
}

/**
 * `TYPE.NAME` is declared, as one resource or as instances of a literal
 * for_each; a literal key (`["intake"]`) must then be one of its instances.
 */
function resourceDeclared(mod: TfModule, name: string, index: string | undefined): boolean {
  if (mod.resources.has(name)) return true;
  const instances = [...mod.resources.keys()].filter((k) => k.startsWith(`${name}[`));
  if (index === undefined || !/^\["[^"]*"\]$/.test(index)) return instances.length > 0;
  return instances.includes(`${name}${index}`);
}

function resourcesOfType(mod: TfModule, type: string): Array<[string, Block]> {
  return [...mod.resources].filter(([k]) => k.startsWith(`${type}.`));
}

const first = (x: Json): Json => (Array.isArray(x) ? x[0] : x);

/**
 * The subscriptions allowed to have no dead_letter_policy, with the topic
 * each must read: only the dead-letter subscription, on the dead-letter topic
 * (a dead-letter policy there would loop back into itself).
 */
const DEAD_LETTER_EXCEPTIONS: Record<string, string> = {
  'google_pubsub_subscription.dead_letters': '${google_pubsub_topic.dead_letters.id}',
};

/** Every subscription dead-letters to glidepath-dead-letters, retries with backoff, never expires, pushes with OIDC. */
export function checkSubscriptions(mod: TfModule): string[] {
  const problems: string[] = [];
  const subs = resourcesOfType(mod, 'google_pubsub_subscription');
  if (subs.length === 0) problems.push('no google_pubsub_subscription at all');
  for (const [key, { file, body }] of subs) {
    const dlp = first(body.dead_letter_policy);
    const exceptionTopic = DEAD_LETTER_EXCEPTIONS[key];
    if (exceptionTopic !== undefined) {
      if (body.topic !== exceptionTopic)
        problems.push(
          `${file}: ${key} is exempt from dead-lettering only as the subscription of ${exceptionTopic}, but reads ${body.topic}`,
        );
      if (dlp) problems.push(`${file}: ${key} must not dead-letter (it would dead-letter into itself)`);
      if (body.message_retention_duration !== '604800s')
        problems.push(`${file}: ${key} must keep messages 7 days (604800s)`);
    } else {
      if (!dlp) problems.push(`${file}: ${key} has no dead_letter_policy`);
      else {
        if (dlp.dead_letter_topic !== '${google_pubsub_topic.dead_letters.id}')
          problems.push(
            `${file}: ${key} dead-letters to ${dlp.dead_letter_topic}, expected google_pubsub_topic.dead_letters`,
          );
        if (dlp.max_delivery_attempts === undefined)
          problems.push(`${file}: ${key} dead_letter_policy has no max_delivery_attempts`);
      }
    }
    const retry = first(body.retry_policy);
    if (!retry?.minimum_backoff || !retry?.maximum_backoff)
      problems.push(`${file}: ${key} has no retry_policy with backoff`);
    if (first(body.expiration_policy)?.ttl !== '')
      problems.push(`${file}: ${key} must never expire (expiration_policy { ttl = "" })`);
    const push = first(body.push_config);
    if (!push) problems.push(`${file}: ${key} is not a push subscription`);
    else {
      const oidc = first(push.oidc_token);
      if (oidc?.service_account_email !== '${google_service_account.push_invoker.email}')
        problems.push(`${file}: ${key} must push with an OIDC token of google_service_account.push_invoker`);
    }
  }
  return problems;
}

/** A function's instance of the one for_each function resource, and of its service account. */
const fn = (name: string) => `google_cloudfunctions2_function.functions["${name}"]`;
const account = (name: string) => `google_service_account.functions["${name}"]`;

export const EXPECTED_FUNCTIONS: Record<string, { resource: string; entryPoint: string }> = {
  intake: { resource: fn('intake'), entryPoint: 'intake' },
  'job-trigger': { resource: fn('job-trigger'), entryPoint: 'jobTrigger' },
  'dead-letter': { resource: fn('dead-letter'), entryPoint: 'deadLetter' },
  actions: { resource: fn('actions'), entryPoint: 'actions' },
  sweeper: { resource: fn('sweeper'), entryPoint: 'sweeper' },
  'slack-interactions': { resource: fn('slack-interactions'), entryPoint: 'slackInteractions' },
  'rollout-stops': { resource: fn('rollout-stops'), entryPoint: 'rolloutStops' },
};

const REQUIRED_ENV = [
  'GLIDEPATH_PROJECT',
  'GLIDEPATH_LOCATION',
  'GLIDEPATH_POLICY_FILE',
  'GLIDEPATH_DEAD_LETTER_TOPIC',
  'GLIDEPATH_DEPLOY_TOPIC',
  'GLIDEPATH_WORKFLOW_SA',
];

const LOCAL_MAP = String.raw`local\.[A-Za-z0-9_]+|try\(local\.[A-Za-z0-9_]+\["[^"]+"\],\s*\{\}\)`;

/** `local.x` → its literal value; `try(local.x["k"], {})` → x's entry k, or `{}` when x has no k. */
function localMap(mod: TfModule, ref: string): Json {
  const entry = /^try\(local\.([A-Za-z0-9_]+)\["([^"]+)"\],\s*\{\}\)$/.exec(ref);
  if (!entry) return mod.locals.get(ref.slice('local.'.length))?.value;
  const map = mod.locals.get(entry[1])?.value;
  return map && typeof map === 'object' ? (map[entry[2]] ?? {}) : undefined;
}

/**
 * Resolves `${local.x}` to the local's parsed value (one level), and
 * `${merge(A, B, ...)}` to the merge of those maps when each is a local
 * holding a literal map, or `try(local.x["k"], {})` (undefined otherwise).
 */
function resolveLocal(mod: TfModule, value: Json): Json {
  if (typeof value !== 'string') return value;
  const m = /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(value);
  if (m) return mod.locals.get(m[1])?.value;
  const merge = new RegExp(
    String.raw`^\$\{merge\(\s*((?:${LOCAL_MAP})(?:\s*,\s*(?:${LOCAL_MAP}))*)\s*,?\s*\)\}$`,
  ).exec(value);
  if (!merge) return value;
  const maps = [...merge[1].matchAll(new RegExp(LOCAL_MAP, 'g'))].map(([ref]) => localMap(mod, ref));
  return maps.every((v) => v && typeof v === 'object' && !Array.isArray(v))
    ? Object.assign({}, ...maps)
    : undefined;
}

/** The five functions exist, gen2 Node 20, right targets and environment, each with its own service account. */
export function checkFunctions(mod: TfModule): string[] {
  const problems: string[] = [];
  const functions = resourcesOfType(mod, 'google_cloudfunctions2_function');
  const accounts = new Map<string, string>();
  for (const [key, { file, body }] of functions) {
    const build = first(body.build_config);
    const service = first(body.service_config);
    if (build?.runtime !== 'nodejs20')
      problems.push(`${file}: ${key} runtime is ${build?.runtime}, expected nodejs20`);
    const sa = /^\$\{(google_service_account\.[A-Za-z0-9_-]+(?:\["[^"]+"\])?)\.email\}$/.exec(
      service?.service_account_email ?? '',
    );
    if (!sa) {
      problems.push(
        `${file}: ${key} must run as its own google_service_account (service_account_email = google_service_account.X.email), got ${service?.service_account_email}`,
      );
      continue;
    }
    if (accounts.has(sa[1]))
      problems.push(`${file}: ${key} shares service account ${sa[1]} with ${accounts.get(sa[1])}`);
    accounts.set(sa[1], key);
    const env = resolveLocal(mod, service?.environment_variables);
    if (!env || typeof env !== 'object')
      problems.push(`${file}: ${key} environment_variables must be a literal map (or a local holding one)`);
    else for (const k of REQUIRED_ENV) if (!(k in env)) problems.push(`${file}: ${key} does not set ${k}`);
    if (service?.ingress_settings === undefined) problems.push(`${file}: ${key} must set ingress_settings`);
  }
  for (const [name, expected] of Object.entries(EXPECTED_FUNCTIONS)) {
    const block = mod.resources.get(expected.resource);
    if (!block) {
      problems.push(`function ${name}: ${expected.resource} is missing`);
      continue;
    }
    const declaredName = resolveFunctionField(mod, block.body.name, 'name');
    if (declaredName !== name)
      problems.push(`${expected.resource} is named ${declaredName}, expected ${name}`);
    const entry = resolveFunctionField(mod, first(block.body.build_config)?.entry_point, 'entry_point');
    if (entry !== expected.entryPoint)
      problems.push(`${expected.resource} entry point is ${entry}, expected ${expected.entryPoint}`);
  }
  // Function service accounts are used by nothing else that runs code.
  const workflowsSa = mod.resources.get('google_workflows_workflow.workflows["rollout"]')?.body
    .service_account;
  for (const sa of accounts.keys()) {
    if (workflowsSa === `\${${sa}.id}` || workflowsSa === `\${${sa}.email}`) {
      problems.push(`the workflows run as ${sa}, which a function uses`);
    }
  }
  return problems;
}

/** `${local.functions.intake.name}` / `${local.functions["job-trigger"].entry_point}` → the literal from the local map. */
function resolveFunctionField(mod: TfModule, value: Json, field: string): Json {
  if (typeof value !== 'string') return value;
  const m = /^\$\{local\.functions(?:\.([A-Za-z0-9_]+)|\["([^"]+)"\])\.([a-z_]+)\}$/.exec(value);
  if (!m) return value;
  const fns = mod.locals.get('functions')?.value;
  return fns?.[m[1] ?? m[2]]?.[m[3] ?? field];
}

const PRIMITIVE_ROLES = /roles\/(owner|editor|viewer)\b/;
const PUBLIC_MEMBERS = /\b(allUsers|allAuthenticatedUsers)\b/;

/**
 * The only project-level grants allowed, each with its role. Each must be
 * commented in iam.tf. Firestore and Workflows have no finer IAM, logging is
 * per project, the build role is Google's documented one for a custom build
 * account, and the deployer custom role must reach Cloud Monitoring, which is
 * per project.
 */
const PROJECT_LEVEL_ALLOWLIST: Record<string, string> = {
  'google_project_iam_member.datastore_user': 'roles/datastore.user',
  'google_project_iam_member.workflows_invoker': 'roles/workflows.invoker',
  'google_project_iam_member.workflows_log_writer': 'roles/logging.logWriter',
  'google_project_iam_member.builder': 'roles/cloudbuild.builds.builder',
  'google_project_iam_member.actions_deployer': '${google_project_iam_custom_role.deployer[each.value].id}',
  'google_project_iam_member.sweeper_deployer': '${google_project_iam_custom_role.deployer[each.value].id}',
  'google_project_iam_member.sweeper_executions': '${google_project_iam_custom_role.sweeper_executions.id}',
  'google_project_iam_member.rollout_stops_deployer':
    '${google_project_iam_custom_role.deployer[each.value].id}',
  'google_project_iam_member.slack_interactions_executions':
    '${google_project_iam_custom_role.slack_interactions_executions.id}',
};

/** The permissions the deployer custom role may hold. */
const DEPLOYER_PERMISSIONS = new Set([
  'monitoring.timeSeries.list',
  'run.executions.cancel',
  'run.executions.get',
  'run.executions.list',
  'run.jobs.get',
  'run.jobs.run',
  'run.jobs.runWithOverrides',
  'run.jobs.update',
  'run.operations.get',
  'run.revisions.get',
  'run.revisions.list',
  'run.services.get',
  'run.services.update',
]);

/**
 * The permissions the sweeper's Workflows custom role may hold: read an
 * execution, cancel a silent one, start a queued rollout's, re-send a gate
 * decision to its callback. The predefined roles/workflows.invoker holds
 * these and also step entries.
 */
const SWEEPER_EXECUTION_PERMISSIONS = new Set([
  'workflows.callbacks.send',
  'workflows.executions.cancel',
  'workflows.executions.create',
  'workflows.executions.get',
]);

/** Every custom role there may be, with the permissions it may hold. */
const CUSTOM_ROLES: Record<string, ReadonlySet<string>> = {
  'google_project_iam_custom_role.deployer': DEPLOYER_PERMISSIONS,
  'google_project_iam_custom_role.sweeper_executions': SWEEPER_EXECUTION_PERMISSIONS,
  // The Slack buttons stop a rollout (cancel its execution) or answer a gate (send its callback).
  'google_project_iam_custom_role.slack_interactions_executions': new Set([
    'workflows.callbacks.send',
    'workflows.executions.cancel',
  ]),
};

/**
 * The one public grant: Slack calls slack-interactions from the internet, so
 * allUsers holds roles/run.invoker on it, with this resource key, and nothing
 * else is ever granted to the public (checkSlackInteractions checks the
 * function verifies Slack's signature).
 */
const PUBLIC_INVOKER = {
  key: 'google_cloud_run_service_iam_member.slack_interactions_public',
  function: fn('slack-interactions'),
};

/**
 * The HTTP functions, each invokable by one service account only: actions by
 * the workflows (OIDC from the workflow steps), the sweeper by Cloud
 * Scheduler (OIDC from the scheduler job). Neither account invokes anything else.
 */
const SOLE_INVOKERS: Record<string, { function: string; member: string; who: string }> = {
  actions: {
    function: fn('actions'),
    member: 'serviceAccount:${google_service_account.workflows.email}',
    who: 'the workflows service account',
  },
  sweeper: {
    function: fn('sweeper'),
    member: 'serviceAccount:${google_service_account.scheduler.email}',
    who: 'the scheduler service account',
  },
};

const FUNCTION_INVOKER_RESOURCES = [
  'google_cloud_run_service_iam_member',
  'google_cloud_run_v2_service_iam_member',
  'google_cloudfunctions2_function_iam_member',
  'google_cloudfunctions_function_iam_member',
];

/** Least privilege: see the rules in iam.tf's header. */
export function checkLeastPrivilege(mod: TfModule): string[] {
  const problems: string[] = [];
  for (const { where, file, body } of allBlocks(mod)) {
    for (const s of strings(body)) {
      if (PRIMITIVE_ROLES.test(s.value))
        problems.push(`${file}: ${where} grants a primitive role (${s.value})`);
      if (PUBLIC_MEMBERS.test(s.value) && !isThePublicInvoker(where, s.path, body))
        problems.push(`${file}: ${where} grants to the public (${s.value})`);
    }
  }
  for (const [key, { file }] of mod.resources) {
    const type = key.split('.')[0];
    if (/_iam_(binding|policy)$/.test(type))
      problems.push(`${file}: ${key} is authoritative IAM; use *_iam_member`);
    if (
      /^google_(project|folder|organization)_iam_(member|binding|policy)$/.test(type) ||
      type === 'google_project_iam_audit_config'
    ) {
      const declaration = key.replace(/\[.*$/, '');
      const allowedRole = PROJECT_LEVEL_ALLOWLIST[declaration];
      const role = mod.resources.get(key)?.body.role;
      if (allowedRole === undefined)
        problems.push(`${file}: ${key} is a project-level grant outside the allowlist`);
      else if (role !== allowedRole)
        problems.push(`${file}: ${key} grants ${role} on the project, the allowlist says ${allowedRole}`);
      const [t, n] = declaration.split('.');
      const text = mod.texts[file];
      const at = text.indexOf(`resource "${t}" "${n}"`);
      const before = text.slice(0, at).trimEnd().split('\n').pop() ?? '';
      if (!/^\s*(#|\/\/|\*\/)/.test(before))
        problems.push(`${file}: ${key} is a project-level grant without a comment explaining why`);
    }
    if (
      type === 'google_cloud_run_v2_service' ||
      type === 'google_cloud_run_service' ||
      type === 'google_cloud_run_v2_job'
    ) {
      problems.push(`${file}: ${key}: Terraform must never manage Cloud Run services or their traffic`);
    }
  }
  // Each custom role holds only what its holder needs.
  for (const [key, { file, body }] of resourcesOfType(mod, 'google_project_iam_custom_role')) {
    const allowed = CUSTOM_ROLES[key];
    if (!allowed) {
      problems.push(`${file}: ${key} is a custom role outside the allowlist`);
      continue;
    }
    for (const p of body.permissions ?? []) {
      if (!allowed.has(p)) problems.push(`${file}: ${key} holds ${p}, not in its allowlist`);
    }
  }
  // Only the workflows service account may invoke actions, only the scheduler
  // service account the sweeper; somebody must; neither invokes anything else.
  const grants = Object.fromEntries(Object.keys(SOLE_INVOKERS).map((name) => [name, 0]));
  for (const type of FUNCTION_INVOKER_RESOURCES) {
    for (const [key, { file, body }] of resourcesOfType(mod, type)) {
      const targetField = body.service ?? body.name ?? body.cloud_function;
      // The services the policy rolls out (never a function; checkSmokeInvoker checks who may call them).
      const policyServices = body.for_each === '${local.policy_services}';
      const targets: string[] = policyServices
        ? ['local.policy_services']
        : /\$\{each\.(value|key)\}/.test(String(targetField))
          ? Object.entries<Json>(body.for_each && typeof body.for_each === 'object' ? body.for_each : {}).map(
              ([k, v]) => `${k} ${v}`,
            )
          : [String(targetField)];
      if (!policyServices && /\$\{each\./.test(String(targetField)) && typeof body.for_each !== 'object') {
        problems.push(
          `${file}: ${key} invokes functions chosen by a computed for_each; list them literally so this can be checked`,
        );
      }
      for (const [name, sole] of Object.entries(SOLE_INVOKERS)) {
        const hits = targets.some((t) => t.includes(`${sole.function}.`));
        if (!hits) {
          if (body.member === sole.member)
            problems.push(
              `${file}: ${key} lets ${sole.who} invoke ${targets.join(', ')}; it may invoke only ${name}`,
            );
          continue;
        }
        grants[name]++;
        if (body.member !== sole.member)
          problems.push(`${file}: ${key} lets ${body.member} invoke ${name}; only ${sole.who} may`);
        if (body.role !== 'roles/run.invoker')
          problems.push(`${file}: ${key} grants ${body.role} on ${name}; expected roles/run.invoker`);
      }
    }
  }
  for (const [name, sole] of Object.entries(SOLE_INVOKERS)) {
    if (grants[name] === 0)
      problems.push(`nobody may invoke ${name}: expected one roles/run.invoker grant for ${sole.who}`);
  }
  return problems;
}

/** The exact public grant of PUBLIC_INVOKER: allUsers, run.invoker, on the interaction function's service. */
function isThePublicInvoker(where: string, path: string, body: Json): boolean {
  return (
    where === PUBLIC_INVOKER.key &&
    path === 'member' &&
    body.member === 'allUsers' &&
    body.role === 'roles/run.invoker' &&
    body.service === `\${${PUBLIC_INVOKER.function}.name}` &&
    body.location === `\${${PUBLIC_INVOKER.function}.location}`
  );
}

const SECRETS = 'google_secret_manager_secret.secrets';
const SIGNING_SECRET = `${SECRETS}["slack-signing-secret"]`;
const ROLLOUT_STOPS = fn('rollout-stops');
const ROLLOUT_STOPS_SA = `serviceAccount:\${${account('rollout-stops')}.email}`;
const SLACK_INTERACTIONS_SA = `serviceAccount:\${${account('slack-interactions')}.email}`;
const STOPS_TOPIC = 'google_pubsub_topic.topics["rollout_stops"]';

/** Every IAM grant to `member` (for_each maps expanded), as `resource role` (the resource without its instance key). */
function grantsTo(mod: TfModule, member: string): string[] {
  return [...mod.resources]
    .filter(([k]) => /_iam_member$/.test(k.split('.')[0]))
    .filter(([, { body }]) => members(body).includes(member))
    .map(([k, { body }]) => `${k.replace(/\[.*\]$/, '')} ${body.role}`);
}

/**
 * Slack's Abort / Roll back now (docs/slack.md): slack-interactions records
 * the stop and publishes it to glidepath-rollout-stops, the one topic it may
 * publish to; it no longer moves traffic, so it holds no Cloud Run role and
 * acts as no runtime account. rollout-stops, pushed by that topic's
 * subscription with the push invoker's OIDC token, holds what restoring and
 * ending a rollout needs: Firestore, the deployer role in every target
 * project, acting as the runtime accounts, starting the queued rollout's
 * execution, the Slack webhook and writing reports (checkReports).
 */
export function checkRolloutStops(mod: TfModule): string[] {
  const problems: string[] = [];
  const fnBlock = mod.resources.get(ROLLOUT_STOPS);
  if (!fnBlock) return [`${ROLLOUT_STOPS} is missing`];
  const service = first(fnBlock.body.service_config);
  if (service?.service_account_email !== `\${${account('rollout-stops')}.email}`)
    problems.push(`${fnBlock.file}: ${ROLLOUT_STOPS} must run as ${account('rollout-stops')}`);
  if (service?.ingress_settings !== '${var.function_ingress}')
    problems.push(`${fnBlock.file}: ${ROLLOUT_STOPS} must use ingress_settings = var.function_ingress`);

  const subKey = 'google_pubsub_subscription.feeds["glidepath-rollout-stops"]';
  const sub = mod.resources.get(subKey);
  const uri = `\${${ROLLOUT_STOPS}.service_config[0].uri}`;
  if (!sub) problems.push(`${subKey} is missing: nothing would settle a stop`);
  else {
    const push = first(sub.body.push_config);
    if (!String(push?.push_endpoint ?? '').startsWith(`${uri}/`) || first(push?.oidc_token)?.audience !== uri)
      problems.push(`${sub.file}: ${subKey} must push to ${ROLLOUT_STOPS} (endpoint and OIDC audience)`);
  }
  const feedTopics = String(mod.locals.get('feed_topic_ids')?.value ?? '');
  if (!feedTopics.includes(`${STOPS_TOPIC}.id`))
    problems.push(`local.feed_topic_ids must hold ${STOPS_TOPIC}.id: the stop subscription reads that topic`);

  const publishers = [...mod.resources]
    .filter(
      ([k, { body }]) => k.startsWith('google_pubsub_topic_iam_') && body.topic === `\${${STOPS_TOPIC}.name}`,
    )
    .flatMap(([k, { body }]) => members(body).map((m) => `${k} ${body.role} ${m}`));
  const expectedPublisher = `google_pubsub_topic_iam_member.slack_interactions_stop_publisher roles/pubsub.publisher ${SLACK_INTERACTIONS_SA}`;
  if (publishers.length !== 1 || publishers[0] !== expectedPublisher)
    problems.push(
      `${STOPS_TOPIC}: slack-interactions, and only it, must hold roles/pubsub.publisher on it (google_pubsub_topic_iam_member.slack_interactions_stop_publisher), got ${JSON.stringify(publishers)}`,
    );

  const stopsGrants = grantsTo(mod, ROLLOUT_STOPS_SA);
  for (const [grant, why] of [
    [
      'google_project_iam_member.datastore_user roles/datastore.user',
      'reads and ends the rollout in Firestore',
    ],
    [
      'google_project_iam_member.rollout_stops_deployer ${google_project_iam_custom_role.deployer[each.value].id}',
      'puts the recorded split back (run.services get/update) in every target project',
    ],
    [
      'google_service_account_iam_member.rollout_stops_acts_as_runtime roles/iam.serviceAccountUser',
      "UpdateService acts as the service's runtime account",
    ],
    ['google_project_iam_member.workflows_invoker roles/workflows.invoker', 'starts the queued rollout'],
    [
      'google_secret_manager_secret_iam_member.slack_accessor roles/secretmanager.secretAccessor',
      'posts the end',
    ],
  ])
    if (!stopsGrants.includes(grant)) problems.push(`rollout-stops lacks ${grant}: it ${why}`);
  const deployer = mod.resources.get('google_project_iam_member.rollout_stops_deployer')?.body;
  if (deployer && deployer.for_each !== '${local.deploy_target_projects}')
    problems.push('google_project_iam_member.rollout_stops_deployer must cover local.deploy_target_projects');

  // The interaction function moves no traffic any more: no Cloud Run role, no acting as runtime accounts.
  for (const grant of grantsTo(mod, SLACK_INTERACTIONS_SA))
    if (/deployer|serviceAccountUser|roles\/run\./.test(grant))
      problems.push(
        `slack-interactions holds ${grant}: it only records a stop; rollout-stops moves the traffic`,
      );
  return problems;
}

const PAGERDUTY_SECRET = `${SECRETS}["pagerduty-routing-key"]`;

/**
 * The environment variables a function mounts from Secret Manager, by
 * variable: its one dynamic secret_environment_variables block must mount
 * each secret its entry in local.functions lists (written out here as a
 * list), as local.secrets[secret].env, from google_secret_manager_secret.secrets,
 * once local.secrets[secret].configured. `problems` get what does not fit.
 */
export function mountedSecrets(mod: TfModule, key: string, problems: string[] = []): Map<string, string> {
  const mounted = new Map<string, string>();
  const block = mod.resources.get(key);
  if (!block) {
    problems.push(`${key} is missing`);
    return mounted;
  }
  const mounts: Json[] = first(block.body.service_config)?.dynamic?.secret_environment_variables ?? [];
  const secrets = mod.locals.get('secrets')?.value ?? {};
  for (const mount of mounts) {
    const content = first(mount.content);
    const list = /^\$\{\[for (\w+) in (\[[^\]]*\]) : \1 if local\.secrets\[\1\]\.configured\]\}$/.exec(
      String(mount.for_each),
    );
    if (
      !list ||
      content?.key !== '${local.secrets[secret_environment_variables.value].env}' ||
      content?.secret !== `\${${SECRETS}[secret_environment_variables.value].secret_id}` ||
      content?.version !== 'latest'
    ) {
      problems.push(
        `${block.file}: ${key} must mount each secret it lists as local.secrets[secret].env from ${SECRETS}, once configured (version "latest"), got ${JSON.stringify(mount)}`,
      );
      continue;
    }
    for (const secret of JSON.parse(list[2]) as string[]) {
      const env = secrets[secret]?.env;
      if (typeof env !== 'string')
        problems.push(`${key} mounts ${secret}, which local.secrets does not hold`);
      else mounted.set(env, secret);
    }
  }
  return mounted;
}

/** local.secrets holds `secret` as `env`, mounted once `var.<flag>` says it has a version. */
function checkSecretEntry(mod: TfModule, secret: string, env: string, flag: string): string[] {
  const entry = mod.locals.get('secrets')?.value?.[secret];
  const expected = { env, configured: `\${var.${flag}}` };
  return entry?.env === expected.env && entry?.configured === expected.configured
    ? []
    : [`local.secrets["${secret}"] must be ${JSON.stringify(expected)}, got ${JSON.stringify(entry)}`];
}

/**
 * slack-interactions is public and signature-verified: it admits all traffic
 * (Slack is on the internet), anyone may invoke it (PUBLIC_INVOKER), it
 * mounts SLACK_SIGNING_SECRET from the signing secret, which only its own
 * service account may read, and which Terraform never gives a version.
 */
export function checkSlackInteractions(mod: TfModule): string[] {
  const problems: string[] = [];
  const fnBlock = mod.resources.get(PUBLIC_INVOKER.function);
  if (!fnBlock) return [`${PUBLIC_INVOKER.function} is missing`];
  const service = first(fnBlock.body.service_config);
  const sa = `\${${account('slack-interactions')}.email}`;
  if (service?.service_account_email !== sa)
    problems.push(`${fnBlock.file}: ${PUBLIC_INVOKER.function} must run as ${account('slack-interactions')}`);
  if (service?.ingress_settings !== 'ALLOW_ALL')
    problems.push(
      `${fnBlock.file}: ${PUBLIC_INVOKER.function} must admit all traffic (ingress_settings = "ALLOW_ALL"): Slack calls it from the internet, got ${service?.ingress_settings}`,
    );
  if (
    mountedSecrets(mod, PUBLIC_INVOKER.function, problems).get('SLACK_SIGNING_SECRET') !==
    'slack-signing-secret'
  )
    problems.push(
      `${fnBlock.file}: ${PUBLIC_INVOKER.function} must mount SLACK_SIGNING_SECRET from ${SIGNING_SECRET}: without it nothing verifies that a request comes from Slack`,
    );
  problems.push(
    ...checkSecretEntry(
      mod,
      'slack-signing-secret',
      'SLACK_SIGNING_SECRET',
      'slack_signing_secret_configured',
    ),
  );
  const invoker = mod.resources.get(PUBLIC_INVOKER.key);
  if (!invoker || !isThePublicInvoker(PUBLIC_INVOKER.key, 'member', invoker.body))
    problems.push(
      `${PUBLIC_INVOKER.key} must let allUsers invoke (roles/run.invoker) ${PUBLIC_INVOKER.function}: Slack has no Google identity`,
    );
  // Only its own service account reads the signing secret.
  for (const [key, { file, body }] of mod.resources) {
    if (!/_iam_(member|binding)$/.test(key.split('.')[0])) continue;
    if (!String(body.secret_id ?? '').includes(`${SIGNING_SECRET}.`)) continue;
    if (body.member !== `serviceAccount:${sa}`)
      problems.push(
        `${file}: ${key} lets ${body.member} read the Slack signing secret; only slack-interactions may`,
      );
  }
  return problems;
}

/** The functions that page, by resource, with the service account that alone (with the other) reads the routing key. */
const PAGING_FUNCTIONS: Record<string, string> = {
  [fn('actions')]: `serviceAccount:\${${account('actions')}.email}`,
  [fn('sweeper')]: `serviceAccount:\${${account('sweeper')}.email}`,
};

/**
 * The PagerDuty routing key is a secret without a version (checkNoSecrets),
 * mounted as PAGERDUTY_ROUTING_KEY on the functions that page (actions,
 * sweeper) once pagerduty_routing_key_configured, and readable by their
 * service accounts only.
 */
export function checkPagerDuty(mod: TfModule): string[] {
  const problems: string[] = [];
  if (!mod.resources.get(PAGERDUTY_SECRET)) problems.push(`${PAGERDUTY_SECRET} is missing`);
  problems.push(
    ...checkSecretEntry(
      mod,
      'pagerduty-routing-key',
      'PAGERDUTY_ROUTING_KEY',
      'pagerduty_routing_key_configured',
    ),
  );
  for (const key of Object.keys(PAGING_FUNCTIONS)) {
    if (mountedSecrets(mod, key, problems).get('PAGERDUTY_ROUTING_KEY') !== 'pagerduty-routing-key')
      problems.push(`${key} must mount PAGERDUTY_ROUTING_KEY from ${PAGERDUTY_SECRET}: it pages`);
  }
  const readers = new Set(Object.values(PAGING_FUNCTIONS));
  for (const [key, { file, body }] of mod.resources) {
    if (!/_iam_(member|binding)$/.test(key.split('.')[0])) continue;
    if (!String(body.secret_id ?? '').includes(`${PAGERDUTY_SECRET}.`)) continue;
    for (const member of members(body))
      if (!readers.has(member))
        problems.push(
          `${file}: ${key} lets ${member} read the PagerDuty routing key; only actions and the sweeper may`,
        );
  }
  return problems;
}

/**
 * Every `moved` block leads from an address the configuration no longer
 * declares to one it does (an instance key that exists): an existing
 * deployment's resources are renamed in the state, never destroyed and made
 * again. Each old address moves once.
 */
export function checkMoved(mod: TfModule): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { file, from, to } of mod.moved) {
    if (seen.has(from)) problems.push(`${file}: ${from} is moved twice`);
    seen.add(from);
    if (mod.resources.has(from) || [...mod.resources.keys()].some((k) => k.startsWith(`${from}[`)))
      problems.push(`${file}: moved from ${from}, which is still declared`);
    if (!mod.resources.has(to)) problems.push(`${file}: moved from ${from} to ${to}, which is not declared`);
  }
  return problems;
}

/** Every `file("${path.module}/...")` exists; the workflows read workflows/*.workflows.yaml and get ACTIONS_URL. */
export function checkReferencedFiles(mod: TfModule): string[] {
  const problems: string[] = [];
  // Every block, for_each instances written out, so a name made of each.key is checked per instance.
  for (const { where, file, body } of allBlocks(mod)) {
    for (const { value } of strings(body)) {
      for (const m of value.matchAll(/file\("\$\{path\.module\}\/([^"]+)"\)/g)) {
        const p = resolve(mod.dir, m[1]);
        if (!existsSync(p))
          problems.push(
            `${file}: ${where} reads file("\${path.module}/${m[1]}"), which does not exist: ${p} is missing`,
          );
      }
    }
  }
  const expected: Record<string, string> = {
    'google_workflows_workflow.workflows["rollout"]': 'rollout.workflows.yaml',
    'google_workflows_workflow.workflows["job-run"]': 'job-run.workflows.yaml',
    'google_workflows_workflow.workflows["job-rollout"]': 'job-rollout.workflows.yaml',
  };
  for (const [key, yaml] of Object.entries(expected)) {
    const block = mod.resources.get(key);
    if (!block) {
      problems.push(`${key} is missing`);
      continue;
    }
    if (block.body.source_contents !== `\${file("\${path.module}/../workflows/${yaml}")}`)
      problems.push(`${key} must read workflows/${yaml}`);
    if (!String(block.body.user_env_vars?.ACTIONS_URL ?? '').includes(`${fn('actions')}.`))
      problems.push(`${key} must get ACTIONS_URL from the actions function`);
    if (block.body.service_account !== '${google_service_account.workflows.id}')
      problems.push(`${key} must run as google_service_account.workflows`);
  }
  return problems;
}

/** The scheduler jobs there may be: the policy's (for_each) and the sweeper's. */
const SCHEDULER_JOBS = ['google_cloud_scheduler_job.jobs', 'google_cloud_scheduler_job.sweeper'];

/**
 * Scheduler jobs come from the policy's jobs and publish {"job": NAME} with
 * attribute job = NAME; the only other job is the sweeper's; a job that calls
 * HTTP always sends an OIDC token (never an unauthenticated target).
 */
export function checkScheduler(mod: TfModule): string[] {
  const problems: string[] = [];
  const all = resourcesOfType(mod, 'google_cloud_scheduler_job');
  for (const [key, { file, body }] of all) {
    if (!SCHEDULER_JOBS.includes(key))
      problems.push(
        `${file}: ${key} is not one of the expected scheduler jobs (${SCHEDULER_JOBS.join(', ')})`,
      );
    const http = first(body.http_target);
    if (http && !first(http.oidc_token)?.service_account_email)
      problems.push(`${file}: ${key} calls ${http.uri} without an OIDC token (an unauthenticated target)`);
  }
  const jobs = all.filter(([key]) => key === 'google_cloud_scheduler_job.jobs');
  if (jobs.length !== 1)
    problems.push(
      `expected google_cloud_scheduler_job.jobs (for_each over the policy's jobs), found ${jobs.length}`,
    );
  const policy = mod.locals.get('policy')?.value;
  if (policy !== '${yamldecode(file(var.policy_file))}')
    problems.push(`local.policy must be yamldecode(file(var.policy_file)), got ${policy}`);
  const policyJobs = String(mod.locals.get('policy_jobs')?.value ?? '');
  if (!/local\.policy\.jobs/.test(policyJobs))
    problems.push(`local.policy_jobs must come from local.policy.jobs, got ${policyJobs}`);
  for (const [key, { file, body }] of jobs) {
    if (body.for_each !== '${local.policy_jobs}')
      problems.push(`${file}: ${key} must have for_each = local.policy_jobs, got ${body.for_each}`);
    if (!/each\.value\.schedule/.test(body.schedule ?? ''))
      problems.push(`${file}: ${key} schedule must come from the policy entry`);
    if (!/each\.value\.timeZone/.test(body.time_zone ?? ''))
      problems.push(`${file}: ${key} time_zone must come from the policy entry`);
    const target = first(body.pubsub_target);
    if (target?.topic_name !== '${google_pubsub_topic.topics["job_triggers"].id}')
      problems.push(`${file}: ${key} must publish to google_pubsub_topic.topics["job_triggers"]`);
    if (target?.data !== '${base64encode(jsonencode({ job = each.key }))}')
      problems.push(
        `${file}: ${key} data must be base64encode(jsonencode({ job = each.key })), got ${target?.data}`,
      );
    if (target?.attributes?.job !== '${each.key}')
      problems.push(`${file}: ${key} must set the attribute job = each.key`);
  }
  return problems;
}

/** The members of an *_iam_member, with `${each.value}` expanded over a literal for_each map. */
function members(body: Json): string[] {
  const member = String(body.member ?? '');
  if (!member.includes('${each.value}') || !body.for_each || typeof body.for_each !== 'object')
    return [member];
  return Object.values<Json>(body.for_each).map((v) => member.replace('${each.value}', String(v)));
}

const SWEEPER = fn('sweeper');
const SWEEPER_URI = `\${${SWEEPER}.service_config[0].uri}`;
const SCHEDULER_SA_EMAIL = '${google_service_account.scheduler.email}';

/**
 * The sweeper runs as its own account, knows its one caller
 * (GLIDEPATH_SCHEDULER_SA = the scheduler service account) and its grace
 * periods; Cloud Scheduler calls its URL every var.sweep_schedule with an
 * OIDC token of that account, retrying; that account holds nothing but
 * roles/run.invoker on the sweeper (checkLeastPrivilege checks the invoker side).
 */
export function checkSweeper(mod: TfModule): string[] {
  const problems: string[] = [];
  const sweeper = mod.resources.get(SWEEPER);
  if (!sweeper) problems.push(`${SWEEPER} is missing`);
  else {
    const service = first(sweeper.body.service_config);
    if (service?.service_account_email !== `\${${account('sweeper')}.email}`) {
      problems.push(
        `${sweeper.file}: ${SWEEPER} must run as ${account('sweeper')}, got ${service?.service_account_email}`,
      );
    }
    if (service?.ingress_settings !== '${var.function_ingress}')
      problems.push(
        `${sweeper.file}: ${SWEEPER} must use ingress_settings = var.function_ingress, like actions`,
      );
    const env = resolveLocal(mod, service?.environment_variables);
    if (!env || typeof env !== 'object')
      problems.push(
        `${sweeper.file}: ${SWEEPER} environment_variables must be a literal map, a local holding one, or a merge of such locals`,
      );
    else {
      if (env.GLIDEPATH_SCHEDULER_SA !== SCHEDULER_SA_EMAIL) {
        problems.push(
          `${sweeper.file}: ${SWEEPER} must set GLIDEPATH_SCHEDULER_SA = google_service_account.scheduler.email (the only caller it accepts), got ${env.GLIDEPATH_SCHEDULER_SA}`,
        );
      }
      for (const [k, v] of [
        ['GLIDEPATH_SWEEP_HEARTBEAT_GRACE_SECONDS', 'var.sweep_heartbeat_grace_seconds'],
        ['GLIDEPATH_SWEEP_LAUNCH_GRACE_SECONDS', 'var.sweep_launch_grace_seconds'],
      ]) {
        if (!String(env[k] ?? '').includes(v))
          problems.push(`${sweeper.file}: ${SWEEPER} must set ${k} from ${v}, got ${env[k]}`);
      }
    }
  }

  const job = mod.resources.get('google_cloud_scheduler_job.sweeper');
  if (!job) problems.push('google_cloud_scheduler_job.sweeper is missing: nothing would run the sweeper');
  else {
    const { file, body } = job;
    const key = 'google_cloud_scheduler_job.sweeper';
    if (body.schedule !== '${var.sweep_schedule}')
      problems.push(`${file}: ${key} schedule must be var.sweep_schedule, got ${body.schedule}`);
    if (body.pubsub_target) problems.push(`${file}: ${key} must call the sweeper over HTTP, not publish`);
    const http = first(body.http_target);
    if (!http) problems.push(`${file}: ${key} has no http_target`);
    else {
      if (http.uri !== SWEEPER_URI)
        problems.push(
          `${file}: ${key} must call the sweeper's URL (${SWEEPER}.service_config[0].uri), got ${http.uri}`,
        );
      if (http.http_method !== 'POST') problems.push(`${file}: ${key} must POST, got ${http.http_method}`);
      if (http.oauth_token)
        problems.push(
          `${file}: ${key} must authenticate with oidc_token, not oauth_token (Cloud Run verifies OIDC)`,
        );
      const oidc = first(http.oidc_token);
      if (!oidc)
        problems.push(`${file}: ${key} has no oidc_token: the sweeper would be called unauthenticated`);
      else {
        if (oidc.service_account_email !== SCHEDULER_SA_EMAIL) {
          problems.push(
            `${file}: ${key} must send an OIDC token of google_service_account.scheduler, got ${oidc.service_account_email}`,
          );
        }
        if (oidc.audience !== SWEEPER_URI)
          problems.push(
            `${file}: ${key} oidc_token audience must be the sweeper's URL, got ${oidc.audience}`,
          );
      }
    }
    if (!first(body.retry_config)?.retry_count)
      problems.push(`${file}: ${key} has no retry_config with a retry_count`);
  }

  // The sweeper re-sends gate decisions whose callback could not be sent (resendGateCallbacks):
  // executions.callbacks.sendHttpCallback requires workflows.callbacks.send of the caller.
  const role = mod.resources.get('google_project_iam_custom_role.sweeper_executions');
  const permissions = Array.isArray(role?.body.permissions) ? (role.body.permissions as unknown[]) : [];
  if (!permissions.includes('workflows.callbacks.send'))
    problems.push(
      `${role?.file ?? 'iam.tf'}: google_project_iam_custom_role.sweeper_executions must hold workflows.callbacks.send: the sweeper re-sends gate decisions (sendHttpCallback) whose first send failed`,
    );

  problems.push(...sweeperJobRestore(mod));

  const schedule = mod.variables.get('sweep_schedule');
  if (!schedule) problems.push('variable sweep_schedule is missing');
  else if (!schedule.body.validation)
    problems.push(`${schedule.file}: variable sweep_schedule has no validation`);

  // The scheduler service account holds roles/run.invoker on the sweeper and nothing else.
  const schedulerMember = `serviceAccount:${SCHEDULER_SA_EMAIL}`;
  for (const [key, { file, body }] of mod.resources) {
    if (!/_iam_member$/.test(key.split('.')[0]) || !members(body).includes(schedulerMember)) continue;
    const onSweeper = String(body.service ?? body.name ?? body.cloud_function ?? '').includes(`${SWEEPER}.`);
    if (!onSweeper || body.role !== 'roles/run.invoker')
      problems.push(
        `${file}: ${key} grants ${body.role} to the scheduler service account, which may only invoke the sweeper`,
      );
  }
  return problems;
}

const SWEEPER_MEMBER = `serviceAccount:\${${account('sweeper')}.email}`;

/** The Cloud Run permissions a job rollout's restore takes: GetJob, UpdateJob, cancel its verification. */
const JOB_RESTORE_PERMISSIONS = ['run.jobs.get', 'run.jobs.update', 'run.executions.cancel'];

/**
 * The sweeper ends a job image rollout whose workflow died by restoring the
 * recorded template (GetJob, UpdateJob) and cancelling a verification still
 * running: it holds the deployer role, which has those permissions, in every
 * target project, and may act as the jobs' runtime service accounts, which
 * updating a job requires ("Certain operations, like creating or updating a
 * job, require the deployer account to have permissions on the service
 * identity resource", https://cloud.google.com/run/docs/configuring/jobs/service-accounts).
 */
function sweeperJobRestore(mod: TfModule): string[] {
  const problems: string[] = [];
  const grants = [...mod.resources].filter(
    ([key, { body }]) => /_iam_member$/.test(key.split('.')[0]) && members(body).includes(SWEEPER_MEMBER),
  );
  const deployer = grants.find(
    ([key, { body }]) =>
      key.startsWith('google_project_iam_member.') &&
      String(body.role ?? '').startsWith('${google_project_iam_custom_role.deployer[') &&
      body.for_each === '${local.deploy_target_projects}',
  );
  if (!deployer)
    problems.push(
      'the sweeper holds no google_project_iam_custom_role.deployer for_each local.deploy_target_projects: it could not restore a job rollout’s template (run.jobs.get, run.jobs.update)',
    );
  const role = mod.resources.get('google_project_iam_custom_role.deployer');
  const held = Array.isArray(role?.body.permissions) ? (role.body.permissions as unknown[]) : [];
  for (const permission of JOB_RESTORE_PERMISSIONS.filter((p) => !held.includes(p)))
    problems.push(
      `${role?.file ?? 'iam.tf'}: google_project_iam_custom_role.deployer must hold ${permission}: the sweeper restores a dead job rollout’s template with it`,
    );
  const actAs = grants.find(
    ([key, { body }]) =>
      key.startsWith('google_service_account_iam_member.') &&
      body.role === 'roles/iam.serviceAccountUser' &&
      body.for_each === '${toset(var.runtime_service_accounts)}' &&
      String(body.service_account_id ?? '').includes('${each.value}'),
  );
  if (!actAs)
    problems.push(
      'the sweeper holds no roles/iam.serviceAccountUser on each of var.runtime_service_accounts: UpdateJob requires acting as the job’s service identity, so it could not restore a job rollout’s template',
    );
  return problems;
}

const ACTIONS_MEMBER = `serviceAccount:\${${account('actions')}.email}`;

/**
 * The smoke test calls each candidate as the actions service account, and
 * Cloud Run services are private: that account holds roles/run.invoker on
 * exactly the services the policy rolls out (for_each over local.policy_services,
 * one entry per service and region of its waves), never on the project, and
 * no other grant gives it run.invoker.
 */
export function checkSmokeInvoker(mod: TfModule): string[] {
  const problems: string[] = [];
  const services = String(mod.locals.get('policy_services')?.value ?? '');
  if (!/local\.policy\.services/.test(services) || !/flatten\(s\.waves\)/.test(services))
    problems.push(
      `local.policy_services must list every service of local.policy.services in every region of flatten(s.waves), got ${services || 'nothing'}`,
    );
  let grants = 0;
  for (const [key, { file, body }] of mod.resources) {
    const type = key.split('.')[0];
    if (!/_iam_(member|binding)$/.test(type) || body.role !== 'roles/run.invoker') continue;
    const holders = body.members ?? [body.member];
    if (!holders.includes(ACTIONS_MEMBER)) continue;
    grants++;
    if (type !== 'google_cloud_run_service_iam_member' && type !== 'google_cloud_run_v2_service_iam_member') {
      problems.push(
        `${file}: ${key} grants roles/run.invoker to the actions service account on more than one service (${type}); grant it per service`,
      );
      continue;
    }
    if (body.for_each !== '${local.policy_services}')
      problems.push(
        `${file}: ${key} must have for_each = local.policy_services (the policy's services), got ${body.for_each}`,
      );
    const target = { project: body.project, location: body.location, service: body.service ?? body.name };
    const expected = {
      project: '${each.value.project}',
      location: '${each.value.region}',
      service: '${each.value.name}',
    };
    if (JSON.stringify(target) !== JSON.stringify(expected))
      problems.push(
        `${file}: ${key} must target each.value.project, .region and .name, got ${JSON.stringify(target)}`,
      );
  }
  if (grants !== 1)
    problems.push(
      `expected one roles/run.invoker grant for the actions service account (the smoke test), found ${grants}`,
    );
  return problems;
}

const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/hooks\.slack\.com\/(services|workflows|triggers)\//i, 'a Slack webhook URL'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/"private_key"\s*:/, 'a service account key'],
  [/\bsecret_data\b/, 'secret_data (a secret value in the state)'],
  [/google_secret_manager_secret_version/, 'a secret version (its value would be in the state)'],
  [/\bAIza[0-9A-Za-z_-]{35}\b/, 'a Google API key'],
];

/** No secret value in the given files. */
export function checkNoSecrets(files: string[]): string[] {
  const problems: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    for (const [re, what] of SECRET_PATTERNS) if (re.test(text)) problems.push(`${f} contains ${what}`);
  }
  return problems;
}

/** All files under `dir`, recursively, skipping .terraform and .build. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === '.terraform' || e.name === '.build') return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

const REPORTS = 'google_storage_bucket.reports';
/** Who may write reports: the functions that end rollouts (actions; the sweeper for stuck ones; rollout-stops for stopped ones). */
const REPORT_WRITERS = ['actions', 'sweeper', 'rollout-stops'].map(
  (name) => `serviceAccount:\${${account(name)}.email}`,
);

/**
 * The reports bucket (terraform/reports.tf): private (uniform access, public
 * access prevention enforced), reports deleted after 90 days, written by the
 * actions, sweeper and rollout-stops accounts with roles/storage.objectCreator only (create,
 * never read, replace or delete), read by var.report_readers only; the
 * functions are told its name.
 */
export function checkReports(mod: TfModule): string[] {
  const problems: string[] = [];
  const bucket = mod.resources.get(REPORTS);
  if (!bucket) return [`${REPORTS} is missing`];
  const { file, body } = bucket;
  if (body.uniform_bucket_level_access !== true)
    problems.push(`${file}: ${REPORTS} must have uniform_bucket_level_access = true (no object ACLs)`);
  if (body.public_access_prevention !== 'enforced')
    problems.push(
      `${file}: ${REPORTS} must have public_access_prevention = "enforced", got ${body.public_access_prevention}`,
    );
  const rules = (body.lifecycle_rule ?? []) as Json[];
  const deletes = rules.filter((r) => first(r.action)?.type === 'Delete').map((r) => first(r.condition)?.age);
  if (deletes.length !== 1 || deletes[0] !== 90)
    problems.push(
      `${file}: ${REPORTS} must delete reports after 90 days (one Delete lifecycle rule, age = 90), got ages ${JSON.stringify(deletes)}`,
    );

  const onBucket = [...mod.resources].filter(
    ([k, b]) => /^google_storage_bucket_iam_/.test(k) && String(b.body.bucket ?? '').includes(REPORTS),
  );
  const writers: string[] = [];
  for (const [key, { file: f, body: grant }] of onBucket) {
    if (!key.startsWith('google_storage_bucket_iam_member.')) {
      problems.push(
        `${f}: ${key}: grant on the reports bucket with google_storage_bucket_iam_member only (a binding or policy would replace others' grants)`,
      );
      continue;
    }
    if (grant.role === 'roles/storage.objectCreator') writers.push(...members(grant));
    else if (grant.role === 'roles/storage.objectViewer') {
      if (grant.member !== '${each.value}' || grant.for_each !== '${toset(var.report_readers)}')
        problems.push(
          `${f}: ${key}: readers of the reports bucket come from var.report_readers only, got ${grant.member}`,
        );
    } else
      problems.push(
        `${f}: ${key} grants ${grant.role} on the reports bucket: only roles/storage.objectCreator (writers) and roles/storage.objectViewer (readers) belong there`,
      );
  }
  const extra = writers.filter((w) => !REPORT_WRITERS.includes(w));
  const missing = REPORT_WRITERS.filter((w) => !writers.includes(w));
  if (extra.length)
    problems.push(
      `reports bucket: ${extra.join(', ')} may write reports; only ${REPORT_WRITERS.join(', ')} should`,
    );
  if (missing.length)
    problems.push(
      `reports bucket: ${missing.join(', ')} cannot write reports (roles/storage.objectCreator missing)`,
    );
  const env = resolveLocal(mod, mod.locals.get('function_env')?.value);
  if (env?.GLIDEPATH_REPORT_BUCKET !== '${google_storage_bucket.reports.name}')
    problems.push(
      `local.function_env must set GLIDEPATH_REPORT_BUCKET = google_storage_bucket.reports.name, got ${env?.GLIDEPATH_REPORT_BUCKET}`,
    );
  return problems;
}
