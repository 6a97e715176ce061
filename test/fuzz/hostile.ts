/**
 * Hostile input for every inbound door (issue #9 part 4): fast-check
 * arbitraries and the fuzz properties run over them.
 *
 * Pure and in-process: nothing here needs an emulator. The same properties
 * run with a small count under jest (test/fuzz/inbound.test.ts) and with a
 * large one from the chaos benchmark, which reads the cases each one tried.
 *
 * Purely random input rarely gets past the first check, so most messages are
 * a valid message with one field replaced, removed or added (a mutation).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { CloudEvent } from '@google-cloud/functions-framework';
import fc from 'fast-check';
import { ACTIONS } from '../../functions/actions';
import { decideIntake, type IntakeDecision } from '../../functions/domain/intake';
import { decideJobTrigger, type JobTriggerDecision } from '../../functions/domain/jobs';
import { MAX_PAYLOAD_BYTES, PubsubMessage, TOPICS } from '../../functions/domain/messages';
import { buildPlan } from '../../functions/domain/plan';
import { newJobRollout } from '../../functions/domain/job-rollout';
import { parsePolicyYaml, type Policy, type ServicePolicy } from '../../functions/domain/policy';
import { DeadLetterRecord } from '../../functions/domain/records';
import {
  MAX_REASON_CHARS,
  ValidationError,
  boundedJson,
  describeIssues,
  isWellFormed,
} from '../../functions/domain/validation';
import { unwrapPubsubEvent, type PubsubEventData } from '../../functions/entry/pubsub-event';

// ---------------------------------------------------------------------------
// The policy the messages are judged against, and what a good answer looks like.

const POLICY_YAML = readFileSync(join(__dirname, '../fixtures/policy.yaml'), 'utf8');
export const POLICY: Policy = parsePolicyYaml(POLICY_YAML);
const INTAKE_TOPICS = [TOPICS.gcr, TOPICS.cloudBuilds, TOPICS.deployRequests] as const;

/** The longest reason any decision may give (it is logged, recorded and posted to Slack). */
const MAX_REASON = MAX_REASON_CHARS;
/**
 * One case should take at most this long. Only the fuzz bench (`npm run bench -- chaos`) holds
 * cases to it: a wall-clock bound in a test flakes on a loaded machine. The tests bound work by
 * counting it instead (test/fuzz/inbound.test.ts › "the protections against slow input").
 */
export const CASE_BUDGET_MS = 1500;
/** Firestore's limit for one document. */
const FIRESTORE_DOCUMENT_BYTES = 1_048_576;

/**
 * Whether `ref` names an image inside repository `repo`, written here
 * independently of functions/domain/image.ts: exactly the repository, or the
 * repository followed by `@` or `:` and a remainder with no further path.
 */
export function insideRepository(ref: string, repo: string): boolean {
  if (ref === repo) return true;
  if (!ref.startsWith(`${repo}@`) && !ref.startsWith(`${repo}:`)) return false;
  return !/[/\s]/.test(ref.slice(repo.length + 1));
}

/** A Firestore document id: no `/`, not `.` or `..`, not `__…__`, at most 1,500 bytes. */
function usableDocumentId(id: string): boolean {
  return (
    id.length > 0 &&
    !id.includes('/') &&
    id !== '.' &&
    id !== '..' &&
    !/^__[\s\S]*__$/.test(id) &&
    Buffer.byteLength(id) <= 1500
  );
}

/** Path segments as describeIssues writes them: a name, an index or a quoted key. */
const NAME = String.raw`[A-Za-z_$][\w$-]*`;
const BRACKET = String.raw`\[(?:\d+|"(?:[^"\\]|\\.)*")\]`;
/** A field path: `digest`, `results.images[0].name`, `attributes["a b"]`, `(root)`. */
export const FIELD_PATH = String.raw`(?:\(root\)|(?:${NAME}|${BRACKET})(?:\.${NAME}|${BRACKET})*)`;
const NAMES_A_FIELD = new RegExp(
  String.raw`^(?:invalid [^:]{1,60}: )?(?:security violation: image |${FIELD_PATH}: )`,
);

/**
 * A rejection names what is at fault: a field path (`digest: …`,
 * `results.images[0].name: …`, `(root): …`), possibly after `invalid <what>: `,
 * or says the image is outside the service's repository.
 */
export function namesAField(reason: string): boolean {
  return NAMES_A_FIELD.test(reason);
}

/** Whether `reason` names `field` (or one of `related`) as the path at fault, or the repository violation. */
function namesField(reason: string, field: string, related: readonly string[] = []): boolean {
  return (
    [field, ...related].some((f) => {
      const escaped = f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return new RegExp(`(?:^|: |; )${escaped}(?:[.[]|: )`).test(reason);
    }) ||
    /^security violation: image /.test(reason) ||
    /: unknown field\(s\) /.test(reason) ||
    // The payload as a whole: too large, not base64, not JSON.
    /^message\.data: /.test(reason)
  );
}

/**
 * Why Firestore would refuse to store `value`, if it would: text that is not
 * valid UTF-8 (a lone surrogate), or a map key that is empty or `__…__`.
 */
function unstorable(value: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (!isWellFormed(v)) return `lone surrogate in ${path || '(root)'}`;
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!isWellFormed(k)) return `lone surrogate in a key of ${path || '(root)'}`;
        if (!Array.isArray(v) && (k === '' || /^__[\s\S]*__$/.test(k)))
          return `reserved field name ${JSON.stringify(k)} in ${path || '(root)'}`;
        stack.push([x, path.length < 200 ? `${path}.${k}` : path]);
      }
    }
  }
  return undefined;
}

class PropertyViolation extends Error {
  override name = 'PropertyViolation';
}

/** Throws a PropertyViolation saying `what` (and a bounded view of `detail`) unless `condition` holds. */
function must(condition: unknown, what: string, detail?: unknown): asserts condition {
  if (!condition) {
    const shown = detail === undefined ? '' : `: ${boundedJson(detail, 600).text}`;
    throw new PropertyViolation(`${what}${shown}`);
  }
}

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join();
const ARRAY_PROTOTYPE_KEYS = Object.getOwnPropertyNames(Array.prototype).sort().join();

/** Object.prototype (and Array.prototype) are exactly as they were when this module loaded. */
export function assertNotPolluted(): void {
  must(({} as Record<string, unknown>).polluted === undefined, 'Object.prototype.polluted is set');
  must(
    Object.getOwnPropertyNames(Object.prototype).sort().join() === PROTOTYPE_KEYS,
    'Object.prototype gained keys',
  );
  must(
    Object.getOwnPropertyNames(Array.prototype).sort().join() === ARRAY_PROTOTYPE_KEYS,
    'Array.prototype gained keys',
  );
}

/** Own keys anywhere in a parsed value that could pollute a prototype. */
function prototypeKeysIn(value: unknown): string[] {
  const found: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0 && found.length < 5) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    for (const key of Object.keys(v)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') found.push(key);
      stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------
// Hostile strings.

const HEX = '0123456789abcdef';
export const GOOD_DIGEST = `sha256:${HEX.repeat(4)}`;
export const digest = fc
  .string({ unit: fc.constantFrom(...HEX), minLength: 64, maxLength: 64 })
  .map((h) => `sha256:${h}`);

const PROTOTYPE_KEYS_HOSTILE = ['__proto__', 'constructor', 'prototype'] as const;

/** Strings that have broken parsers before. */
const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u202e', // RIGHT-TO-LEFT OVERRIDE
  '\u202egpj.exe',
  '\u200f',
  '\u200b',
  '\ufeff',
  '\ud800', // lone surrogates
  '\udfff',
  '\udc00\ud800',
  '👩‍💻',
  '🇺🇳',
  'e\u0301',
  'İ',
  'ß',
  'ﬀ',
  'ａｐｉ', // full-width
  'аpi', // Cyrillic а
  '\\',
  '"',
  "'",
  '\n',
  '\r\n',
  '\t',
  '%00',
  '%2e%2e%2f',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  "'; DROP TABLE rollouts; --",
  ...PROTOTYPE_KEYS_HOSTILE,
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e309',
  '0x10',
  '9007199254740993',
  '123456789012345678901234567890',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '.',
  '..',
  '../..',
  '/',
  '//',
  '@',
  ':',
  'api',
  'checkout',
  'nightly-report',
  'INSERT',
  'DELETE',
  'SUCCESS',
  'us-central1',
  GOOD_DIGEST,
];

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Field limits of the schemas, and one past them; the last is past the whole payload limit. */
const SIZES = [
  63,
  64,
  101,
  129,
  201,
  257,
  513,
  601,
  1001,
  1025,
  2001,
  3001,
  4097,
  32_769,
  MAX_PAYLOAD_BYTES + 1,
];

const oversizedString = fc
  .tuple(fc.constantFrom(...SIZES), fc.constantFrom('x', 'é', '👩‍💻', '\u0000', '\ud800', '\u202e', '/', 'a.'))
  .map(([n, unit]) => unit.repeat(n));

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  {
    weight: 3,
    arbitrary: fc.string({
      unit: fc.oneof(
        fc.constantFrom(...SPECIAL_STRINGS),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        loneSurrogate,
      ),
      maxLength: 6,
    }),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: oversizedString },
);

/** Object keys: prototype keys, hostile strings, and plain names. */
const hostileKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_KEYS_HOSTILE) },
  { weight: 3, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom('a', 'x-y', 'A_B', 'polluted') },
);

// ---------------------------------------------------------------------------
// Hostile JSON, as text, so that `__proto__` arrives as an own key (as it does from JSON.parse).

const DEPTHS = [2, 64, 501, 1_000, 5_000, 100_000];

/** JSON nested `depth` levels deep. */
export function nestedJson(depth: number, shape: 'array' | 'object' | 'proto', leaf = 'null'): string {
  if (shape === 'array') return '['.repeat(depth) + leaf + ']'.repeat(depth);
  if (shape === 'object') return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
  return '[{"__proto__":'.repeat(Math.ceil(depth / 2)) + leaf + '}]'.repeat(Math.ceil(depth / 2));
}

const deepJson = fc
  .tuple(
    fc.constantFrom(...DEPTHS),
    fc.constantFrom('array', 'object', 'proto') as fc.Arbitrary<'array' | 'object' | 'proto'>,
    fc.constantFrom('null', '"x"', '1', '{}'),
  )
  .map(([depth, shape, leaf]) => nestedJson(depth, shape, leaf));

const PROTO_JSON = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"__proto__":{"__proto__":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"},"__proto__":null}',
  '[{"__proto__":{"polluted":"yes"}}]',
  '{"__proto__":[]}',
  '{"__proto__":"x","constructor":"y","prototype":"z"}',
  '{"toString":"x","valueOf":1,"hasOwnProperty":"x"}',
];

/** Wide JSON: many elements or many keys, or one enormous key. */
const wideJson = fc
  .constantFrom(101, 5_000, 60_000)
  .chain((n) =>
    fc.constantFrom(
      `[${'1,'.repeat(n - 1)}1]`,
      `[${'"x",'.repeat(n - 1)}"x"]`,
      `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`,
      `{"${'k'.repeat(n)}":1}`,
      `{${Array.from({ length: Math.min(n, 5_000) }, (_, i) => `"__proto__":{"n":${i}}`).join(',')}}`,
    ),
  );

const NUMBER_TEXTS = [
  '0',
  '-0',
  '-1',
  '1.5',
  '0.1',
  '19',
  '20',
  '1e308',
  '1e400',
  '-1e400',
  '1e-400',
  '9007199254740993',
  '1'.repeat(400),
];

/** Any JSON value, as text, that a field should refuse (or at least survive). */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: hostileString.map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.constantFrom(...NUMBER_TEXTS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'null',
      'true',
      'false',
      '[]',
      '{}',
      '[null]',
      '{"":""}',
      '"\\ud800"',
      '"\\u0000"',
    ),
  },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: fc.constantFrom(...PROTO_JSON) },
  { weight: 1, arbitrary: wideJson },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 5 }).map((a) => JSON.stringify(a)) },
);

/** Builds an object's JSON text from entries, keeping duplicate and `__proto__` keys as written. */
function objectText(entries: Array<[string, string]>): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

export const hostileObjectText: fc.Arbitrary<string> = fc
  .array(fc.tuple(hostileKey, hostileJsonText), { maxLength: 6 })
  .map(objectText);

// ---------------------------------------------------------------------------
// Image references.

/** References that try to leave `repo` (or to smuggle something past a prefix check). */
export function lookAlikes(repo: string, digestValue = GOOD_DIGEST): string[] {
  const [host, ...path] = repo.split('/');
  const parent = [host, ...path.slice(0, -1)].join('/');
  const last = path[path.length - 1];
  const hex = digestValue.slice(7);
  return [
    `${repo}-evil@${digestValue}`,
    `${repo}evil@${digestValue}`,
    `${repo}/../other@${digestValue}`,
    `${repo}/..@${digestValue}`,
    `${repo}/.@${digestValue}`,
    `${repo}/sub@${digestValue}`,
    `${repo}//x@${digestValue}`,
    `${repo}/@${digestValue}`,
    `${parent}@${digestValue}`,
    `${parent}/${last}-evil@${digestValue}`,
    `${parent}/../${last}@${digestValue}`,
    `${parent}/./${last}@${digestValue}`,
    `evil.io/${repo}@${digestValue}`,
    `${host}.evil.io/${path.join('/')}@${digestValue}`,
    `${host}:443/${path.join('/')}@${digestValue}`,
    `${host.toUpperCase()}/${path.join('/')}@${digestValue}`,
    `${repo.toUpperCase()}@${digestValue}`,
    `${repo}.@${digestValue}`,
    `${repo}.`,
    `${repo} @${digestValue}`,
    ` ${repo}@${digestValue}`,
    `${repo}@ ${digestValue}`,
    `${repo}\u0000@${digestValue}`,
    `${repo}\u202e@${digestValue}`,
    `${repo.replace('a', 'а')}@${digestValue}`, // Cyrillic а
    `${repo}%2F..%2Fother@${digestValue}`,
    `${repo}@${digestValue}@${digestValue}`,
    `${repo}@${digestValue}/../other`,
    `${repo}@sha256:${hex.slice(1)}`,
    `${repo}@sha256:${hex}0`,
    `${repo}@sha256:${hex.toUpperCase()}`,
    `${repo}@sha512:${hex}${hex}`,
    `${repo}@sha256:${'g'.repeat(64)}`,
    `${repo}@sha256:`,
    `${repo}@`,
    `${repo}@sha256:${hex}\n`,
    `${repo}@sha256::${hex}`,
    `${repo}@md5:${hex.slice(0, 32)}`,
    `${repo}:v1.2.3@${digestValue}`,
    `${repo}:v1.2.3/../../other@${digestValue}`,
    `${repo}:v1 2@${digestValue}`,
    `${repo}:@${digestValue}`,
    `${repo}::v1@${digestValue}`,
    `${repo}:${'v'.repeat(129)}@${digestValue}`,
    `${repo}/${'a/'.repeat(300)}x@${digestValue}`,
    `${repo}:v1.2.3`,
    `${repo}`,
    `${'a'.repeat(600)}`,
    `${repo}@${digestValue}`, // the one good one
  ];
}

/** A reference that is one hostile character away from a valid one. */
function spliced(ref: string, at: number, insert: string): string {
  const i = Math.min(at, ref.length);
  return ref.slice(0, i) + insert + ref.slice(i);
}

const REPOSITORIES = [
  ...POLICY.services.map((s) => s.image),
  'us-docker.pkg.dev/my-project/apps',
  'evil.io/x/y',
];

export const hostileImageRef = (repo: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: digest.chain((d) => fc.constantFrom(...lookAlikes(repo, d))) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...REPOSITORIES),
          digest,
          fc.nat(),
          fc.constantFrom('..', '@', ':', ' ', '//', '/', 'A', '.', '\u0000', '-evil', '/../x', '👩‍💻'),
        )
        .map(([r, d, at, insert]) => spliced(`${r}@${d}`, at % (r.length + 72), insert)),
    },
    { weight: 1, arbitrary: digest.map((d) => `${repo}@${d}`) },
    { weight: 1, arbitrary: hostileString },
  );

// ---------------------------------------------------------------------------
// Valid messages, and mutations of them.

type Path = Array<string | number>;

interface Mutation {
  op: 'replace' | 'delete' | 'add';
  /** For replace and delete: the field; for add: the object or array that gains a member. */
  path: Path;
  key?: string;
  /** JSON text of the new value. */
  fragment: string;
}

const HOLE = '\u0001hole\u0001';
const HOLE_KEY = '\u0001key\u0001';

function at(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], value);
}

/** Every field path (leaves and containers) below the root. */
function fieldPaths(value: unknown, path: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const keys: Array<string | number> = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => [
    [...path, k],
    ...fieldPaths((value as Record<string | number, unknown>)[k], [...path, k]),
  ]);
}

/** The root and every object or array below it. */
function containerPaths(value: unknown, path: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const keys: Array<string | number> = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [
    path,
    ...keys.flatMap((k) => containerPaths((value as Record<string | number, unknown>)[k], [...path, k])),
  ];
}

/** The JSON text of `base` with one mutation applied (duplicate and `__proto__` keys stay as written). */
function renderMutation(base: unknown, m: Mutation): string {
  const copy = structuredClone(base);
  if (m.op === 'add') {
    const target = at(copy, m.path) as Record<string, unknown> | unknown[];
    if (Array.isArray(target)) {
      target.push(HOLE);
      return JSON.stringify(copy).replace(JSON.stringify(HOLE), () => m.fragment);
    }
    target[HOLE_KEY] = HOLE;
    return JSON.stringify(copy).replace(
      `${JSON.stringify(HOLE_KEY)}:${JSON.stringify(HOLE)}`,
      () => `${JSON.stringify(m.key ?? '')}:${m.fragment}`,
    );
  }
  const parent = at(copy, m.path.slice(0, -1)) as Record<string | number, unknown>;
  const last = m.path[m.path.length - 1];
  if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
    return JSON.stringify(copy);
  }
  parent[last] = HOLE;
  return JSON.stringify(copy).replace(JSON.stringify(HOLE), () => m.fragment);
}

/**
 * The field a mutation puts at fault: the top-level key it touched, or, for
 * a key added at the root that is not a field, `(root)` (a strict schema
 * reports it there as an unknown field; a lenient one drops it).
 */
function blamedField(base: unknown, m: Mutation): string {
  if (m.path.length > 0) return String(m.path[0]);
  return m.key !== undefined && Object.hasOwn(base as object, m.key) ? m.key : '(root)';
}

const mutation = (base: unknown): fc.Arbitrary<Mutation> => {
  const fields = fieldPaths(base);
  const containers = containerPaths(base);
  const ops: Array<fc.Arbitrary<Mutation>> = [
    fc
      .tuple(fc.constantFrom(...containers), hostileKey, hostileJsonText)
      .map(([path, key, fragment]): Mutation => ({ op: 'add', path, key, fragment })),
  ];
  if (fields.length > 0) {
    ops.push(
      fc
        .tuple(fc.constantFrom(...fields), hostileJsonText)
        .map(([path, fragment]): Mutation => ({ op: 'replace', path, fragment })),
      fc.constantFrom(...fields).map((path): Mutation => ({ op: 'delete', path, fragment: '' })),
    );
    // A duplicate of a real field, after it: JSON.parse keeps the last one.
    const top = Object.keys(base as object);
    if (top.length > 0)
      ops.push(
        fc
          .tuple(fc.constantFrom(...top), hostileJsonText)
          .map(([key, fragment]): Mutation => ({ op: 'add', path: [], key, fragment })),
      );
  }
  return fc.oneof(...ops);
};

const service = fc.constantFrom(...POLICY.services);
const TAG = 'v1.2.3';

const validGcr = (s: ServicePolicy, d: string) => ({
  action: 'INSERT',
  digest: `${s.image}@${d}`,
  tag: `${s.image}:${TAG}`,
});
const validBuild = (s: ServicePolicy, d: string) => ({
  id: '5f1c2b9e-build',
  projectId: 'my-project',
  status: 'SUCCESS',
  results: { images: [{ name: `${s.image}:${TAG}`, digest: d }] },
  images: [`${s.image}:${TAG}`],
  substitutions: { COMMIT_SHA: 'abc123', _DEPLOY: 'yes' },
  buildTriggerId: 'trigger-1',
  logUrl: 'https://console.cloud.google.com/cloud-build/builds/5f1c2b9e',
});
const validDeployRequest = (s: ServicePolicy, d: string) => ({
  service: s.name,
  image: `${s.image}@${d}`,
  reason: 'hotfix',
  requestedBy: 'alice@example.com',
  regions: [s.waves[0][0]],
});
const validJobTrigger = (job: string) => ({
  job,
  overrides: { args: ['--full'], env: { MODE: 'full' } },
});

export const VALID_PAYLOADS: Record<string, (s: ServicePolicy, d: string) => unknown> = {
  [TOPICS.gcr]: validGcr,
  [TOPICS.cloudBuilds]: validBuild,
  [TOPICS.deployRequests]: validDeployRequest,
  [TOPICS.jobTriggers]: () => validJobTrigger(POLICY.jobs[0].name),
};

/** A valid payload of `topic` with one hostile mutation, the field it blames, and the mutation. */
export const mutatedPayload = (
  topic: string,
): fc.Arbitrary<{ text: string; blame: string; mutation: Mutation; base: unknown }> =>
  fc
    .tuple(service, digest)
    .map(([s, d]) => VALID_PAYLOADS[topic](s, d))
    .chain((base) =>
      mutation(base).map((m) => ({
        text: renderMutation(base, m),
        blame: blamedField(base, m),
        mutation: m,
        base,
      })),
    );

/**
 * Whether a mutated valid payload may still start a rollout or job run, by
 * this test's own reading of the message formats (docs/intake.md), written
 * independently of functions/domain: a mutation may be harmless only where
 * it leaves alone every field that says what to start. Any other mutation
 * must be refused or ignored, whatever the code under test decides.
 *
 * - gcr (Google's format, which may gain fields): an added unknown field.
 * - Cloud Build (Google's format): anything but `status`, and the name and
 *   digest of `results.images` (a field added inside them is harmless).
 * - Deploy requests and job triggers (our formats, unknown fields refused):
 *   a new value of `reason`, `requestedBy` or `regions`; of `overrides`.
 */
export function mutationMayStart(topic: string, m: Mutation, blame: string, base: unknown): boolean {
  if (leavesValueAlone(m, base) || writesAnotherGoodImage(m)) return true;
  const [first, second, , fourth] = m.path;
  switch (topic) {
    case TOPICS.gcr:
      return blame === '(root)';
    case TOPICS.cloudBuilds:
      if (blame === 'status' || (m.op === 'add' && m.path.length === 0 && blame === 'results')) return false;
      if (first !== 'results' || m.op === 'add') return true;
      // A replaced or deleted `results`, `results.images`, image, or image name or digest must not start.
      return !(
        m.path.length <= 2 ||
        (second === 'images' && (m.path.length === 3 || fourth === 'name' || fourth === 'digest'))
      );
    case TOPICS.deployRequests:
      return ['reason', 'requestedBy', 'regions'].includes(blame);
    case TOPICS.jobTriggers:
      return blame === 'overrides';
    default:
      throw new Error(`no rule for topic ${topic}`);
  }
}

/** A value that is itself a good digest, or a good image of a service: another image to start, not an attack. */
function writesAnotherGoodImage(m: Mutation): boolean {
  let value: unknown;
  try {
    value = JSON.parse(m.fragment);
  } catch {
    return false;
  }
  if (typeof value !== 'string') return false;
  const goodDigest = /^sha256:[a-f0-9]{64}$/;
  if (goodDigest.test(value)) return true;
  return POLICY.services.some(
    (s) => insideRepository(value, s.image) && goodDigest.test(value.slice(s.image.length + 1)),
  );
}

/** A replacement (or a duplicate key) that writes the value already there, e.g. "INSERT" over "INSERT". */
function leavesValueAlone(m: Mutation, base: unknown): boolean {
  const path = m.op === 'replace' ? m.path : m.op === 'add' && m.path.length === 0 ? [m.key!] : undefined;
  if (path === undefined) return false;
  let value: unknown = base;
  for (const step of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, step)) return false;
    value = (value as Record<string | number, unknown>)[step];
  }
  try {
    return JSON.stringify(JSON.parse(m.fragment)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Pub/Sub messages and CloudEvents.

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

/** A `data` field: base64 of hostile JSON, of random bytes, or not base64 at all. */
export const hostileData: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(hostileJsonText, hostileObjectText).map(b64) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => b64(Buffer.from(b))) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      '',
      '====',
      'e30',
      'e30===',
      'not base64 at all',
      b64('\ufeff{}'),
      Buffer.from('{"a":1}').toString('base64url'),
      b64(`{"action":"INSERT","digest":"${'x'.repeat(MAX_PAYLOAD_BYTES)}"}`),
      b64(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])),
      b64(Buffer.from([0xc0, 0xaf])),
    ),
  },
  { weight: 1, arbitrary: hostileString },
);

/** Attributes, as JSON.parse makes them (so `__proto__` is an own key). */
export const hostileAttributes: fc.Arbitrary<Record<string, string> | undefined> = fc.option(
  fc
    .array(fc.tuple(hostileKey, hostileString), { maxLength: 5 })
    .map(
      (entries) =>
        JSON.parse(objectText(entries.map(([k, v]) => [k, JSON.stringify(v)]))) as Record<string, string>,
    ),
);

const publishTime = fc.oneof(
  fc.constantFrom(
    '2026-01-02T03:04:59.123Z',
    '+275760-09-13T00:00:00.000Z',
    '-000001-01-01T00:00:00Z',
    '2026-13-45T99:99:99Z',
    'yesterday',
    '',
  ),
  hostileString.map((s) => s.slice(0, 64)),
);

/** A message id as Pub/Sub assigns them, or a hostile one. */
const messageId = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: 1n, max: 10n ** 17n }).map(String) },
  { weight: 1, arbitrary: hostileString.map((s) => s.slice(0, 300)) },
);

/** A Pub/Sub message (typed as one, though its fields hold anything a string can). */
const hostileMessage = (data: fc.Arbitrary<string | undefined>): fc.Arbitrary<PubsubMessage> =>
  fc.record(
    { data, attributes: hostileAttributes, messageId, publishTime },
    { requiredKeys: [] },
  ) as fc.Arbitrary<PubsubMessage>;

/** The `data` of a message on `topic`: mostly a mutated valid payload. */
const topicData = (topic: string): fc.Arbitrary<{ data: string | undefined; blame?: string }> =>
  fc.oneof(
    { weight: 3, arbitrary: mutatedPayload(topic).map(({ text, blame }) => ({ data: b64(text), blame })) },
    { weight: 1, arbitrary: hostileData.map((data) => ({ data })) },
  );

/** A JSON value of any shape (parsed from hostile text). */
const hostileJsonValue: fc.Arbitrary<unknown> = fc
  .oneof(hostileJsonText, hostileObjectText)
  .map((t) => JSON.parse(t) as unknown);

const SOURCES = [
  ...Object.values(TOPICS).map((t) => `//pubsub.googleapis.com/projects/p/topics/${t}`),
  '//pubsub.googleapis.com/projects/p/topics/unknown',
  '//pubsub.googleapis.com/projects/p/topics/gcr/extra',
  '//pubsub.googleapis.com/projects/p/topics/',
  '',
];

/** Small wrong-typed values, for the fields where size is not the point. */
const smallJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(...PROTO_JSON).map((t) => JSON.parse(t) as unknown),
);

const subscriptionName = fc.oneof(
  fc.constantFrom('projects/p/subscriptions/gcr-intake', 'projects/p/subscriptions/glidepath-job-triggers-x'),
  hostileString,
  smallJsonValue,
);

/**
 * A CloudEvent as the functions-framework might hand one over, with every
 * part hostile; or a raw push it did not convert (it converts only messages
 * with data), which reaches the function as the push body itself.
 */
const cloudEvent = fc
  .record({
    id: fc.oneof(messageId, smallJsonValue),
    source: fc.oneof(fc.constantFrom(...SOURCES), hostileString, smallJsonValue),
    specversion: fc.constant('1.0'),
    type: fc.constant('google.cloud.pubsub.topic.v1.messagePublished'),
    data: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record(
          {
            message: fc.oneof(
              {
                weight: 3,
                arbitrary: hostileMessage(
                  fc.oneof(
                    hostileData,
                    topicData(TOPICS.gcr).map((d) => d.data),
                  ),
                ),
              },
              {
                weight: 1,
                arbitrary: fc.record(
                  {
                    data: hostileJsonValue,
                    attributes: smallJsonValue,
                    messageId: smallJsonValue,
                    publishTime: smallJsonValue,
                  },
                  { requiredKeys: [] },
                ),
              },
              { weight: 1, arbitrary: hostileJsonValue },
            ),
            subscription: subscriptionName,
          },
          { requiredKeys: [] },
        ),
      },
      { weight: 1, arbitrary: hostileJsonValue },
    ),
  })
  .map((e) => e as unknown as CloudEvent<PubsubEventData>);

const unconvertedPush = fc
  .record({
    message: hostileMessage(fc.constantFrom(undefined, '')),
    subscription: subscriptionName,
  })
  .map((e) => e as unknown as CloudEvent<PubsubEventData>);

export const hostileCloudEvent: fc.Arbitrary<CloudEvent<PubsubEventData>> = fc.oneof(
  { weight: 5, arbitrary: cloudEvent },
  { weight: 1, arbitrary: unconvertedPush },
);

// ---------------------------------------------------------------------------
// Action bodies.

const ROLLOUT_ID = 'api-0123456789ab-lx3k9q';
const RUN_ID = 'nightly-report-202601020304';
const JOB_ROLLOUT_ID = 'nightly-report-0123456789ab';
const IN_REGION = { rolloutId: ROLLOUT_ID, region: 'us-central1', executionId: 'exec-1' };

/** One valid body for each action (inbound.test.ts proves each one parses). */
export const ACTION_SAMPLES: Record<string, Record<string, unknown>> = {
  deploy: IN_REGION,
  smoke: IN_REGION,
  promote: IN_REGION,
  shift: { ...IN_REGION, step: 0 },
  analyze: { ...IN_REGION, step: 1, advance: true },
  rollback: { ...IN_REGION, reason: 'analysis FAIL', includePromoted: false },
  complete: { rolloutId: ROLLOUT_ID, status: 'PROMOTED', reason: 'done', executionId: 'exec-1' },
  notify: { rolloutId: ROLLOUT_ID, text: 'hello', executionId: 'exec-1' },
  job_run_attempt: { runId: RUN_ID, attempt: 1 },
  job_attempt_status: { runId: RUN_ID, attempt: 2, timedOut: false },
  job_run_finish: { runId: RUN_ID, result: 'FAILED' },
  job_rollout_begin: { rolloutId: JOB_ROLLOUT_ID },
  job_rollout_update: { rolloutId: JOB_ROLLOUT_ID, region: 'us-central1' },
  job_rollout_verify: { rolloutId: JOB_ROLLOUT_ID, region: 'us-central1', timedOut: false },
  job_rollout_finish: { rolloutId: JOB_ROLLOUT_ID, result: 'FAILED', reason: 'verification failed' },
  open_gate: {
    rolloutId: ROLLOUT_ID,
    stage: 'production',
    position: 'before',
    callbackUrl:
      'https://workflowexecutions.googleapis.com/v1/projects/p/locations/us-central1/workflows/rollout/executions/exec-1/callbacks/cb-1',
    executionId: 'exec-1',
  },
  expire_gate: { rolloutId: ROLLOUT_ID, gate: 'before-production', executionId: 'exec-1' },
};

/** A hostile body for `action`: any JSON, an object with hostile keys, or its valid sample mutated. */
export const hostileBody = (action: string): fc.Arbitrary<{ text: string; blame?: string }> =>
  fc.oneof(
    { weight: 1, arbitrary: hostileJsonText.map((text) => ({ text })) },
    { weight: 1, arbitrary: hostileObjectText.map((text) => ({ text })) },
    {
      weight: 4,
      arbitrary: mutation(ACTION_SAMPLES[action] ?? {}).map((m) => ({
        text: renderMutation(ACTION_SAMPLES[action] ?? {}, m),
        blame: blamedField(ACTION_SAMPLES[action] ?? {}, m),
      })),
    },
  );

// ---------------------------------------------------------------------------
// Hostile policy documents.

/** "Billion laughs": `levels` anchors, each `width` aliases of the previous one. */
function billionLaughs(levels: number, width: number): string {
  const lines = [`l0: &l0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++)
    lines.push(
      `l${i}: &l${i} [${Array(width)
        .fill(`*l${i - 1}`)
        .join(', ')}]`,
    );
  lines.push(`services: [*l${levels - 1}]`);
  return lines.join('\n');
}

function deepBlockYaml(depth: number): string {
  return Array.from({ length: depth }, (_, i) => `${'  '.repeat(i)}a:`).join('\n') + ' 1';
}

const POLICY_LINES = POLICY_YAML.split('\n');

export const hostileYaml: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 2, max: 12 }))
      .map(([l, w]) => billionLaughs(l, w)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(64, 501, 1_000, 5_000),
        fc.constantFrom('array', 'object', 'proto') as fc.Arbitrary<'array' | 'object' | 'proto'>,
      )
      .map(([depth, shape]) => `services: ${nestedJson(depth, shape)}`),
  },
  { weight: 1, arbitrary: fc.constantFrom(50, 500, 2_000).map(deepBlockYaml) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'a: &a [*a]',
      'services: &s [*s]',
      '__proto__: {polluted: yes}\nservices: []',
      'constructor: {prototype: {polluted: yes}}',
      'services: [{__proto__: {polluted: yes}, name: api}]',
      'defaults: {__proto__: {steps: []}}',
      '<<: {polluted: yes}',
      'defaults: {steps: [{percent: 1e400, bake: 5m}]}',
      `defaults: {steps: [{percent: ${'9'.repeat(5000)}, bake: 5m}]}`,
      'defaults: {steps: [{percent: .nan, bake: .inf}]}',
      'defaults: {analysis: {minRequests: 0x7fffffffffffffffff}}',
      'services: !!js/function "function () { return 1 }"',
      'services: !!binary aGVsbG8=',
      'services: !!set {a, b}',
      'services: !foo bar',
      'jobs: [{name: x, schedule: !!timestamp 2001-12-14}]',
      '%YAML 1.1\n---\nservices: []',
      '---\nservices: []\n---\njobs: []',
      '\t\tservices: []',
      '\ufeffservices: []',
      'services: "\\ud800"',
      `services: [${Array(10_000).fill('{}').join(',')}]`,
      `services:\n${Array(2_000).fill('  - name: api').join('\n')}`,
    ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.nat(POLICY_LINES.length - 1),
        fc.oneof(
          hostileJsonText,
          hostileString,
          fc.constantFrom('*undefined', '&x', '? ', '- - -', '{', '[', ': :'),
        ),
      )
      .map(([line, value]) => {
        const lines = [...POLICY_LINES];
        const m = /^(\s*(?:- )?[\w]+:)\s/.exec(lines[line]);
        lines[line] = m ? `${m[1]} ${value}` : value;
        return lines.join('\n');
      }),
  },
  { weight: 1, arbitrary: fc.oneof(hostileJsonText, fc.string({ unit: 'binary', maxLength: 200 })) },
);

// ---------------------------------------------------------------------------
// The checks.

function checkReason(reason: unknown, where: string): asserts reason is string {
  must(typeof reason === 'string' && reason.length > 0, `${where}: expected a non-empty reason`, reason);
  must(
    reason.length <= MAX_REASON,
    `${where}: reason of ${reason.length} characters (max ${MAX_REASON})`,
    reason.slice(0, 200),
  );
  must(
    isWellFormed(reason),
    `${where}: the reason is not well-formed Unicode (cut inside a surrogate pair?)`,
    reason,
  );
}

/** Every outcome is one of the three, with a bounded reason; a rollout only ever deploys inside its service's repository. */
export function checkIntakeDecision(
  decision: IntakeDecision,
  blame?: { field: string; related: readonly string[] },
): void {
  must(['rollout', 'ignored', 'rejected'].includes(decision.outcome), 'unknown outcome', decision.outcome);
  checkReason(decision.reason, decision.outcome);
  if (decision.outcome === 'rejected') {
    must(namesAField(decision.reason), 'rejection names no field', decision.reason);
    if (blame !== undefined)
      must(
        namesField(decision.reason, blame.field, blame.related),
        `rejection does not name ${blame.field}`,
        decision.reason,
      );
  }
  if (decision.outcome === 'rollout') {
    must(decision.requests.length + decision.jobRequests.length > 0, 'a rollout without requests');
    for (const request of decision.jobRequests) {
      const configured = POLICY.jobs.find((j) => j.name === request.job.name);
      must(
        configured?.image,
        'image rollout of a job without an image repository in the policy',
        request.job.name,
      );
      const image = newJobRollout(request.job, request, new Date(0)).image;
      must(
        insideRepository(image, configured.image) && image === `${configured.image}@${request.digest}`,
        `image rollout of job ${configured.name} deploys ${image}, outside ${configured.image}`,
      );
    }
    for (const request of decision.requests) {
      const configured = POLICY.services.find((s) => s.name === request.service.name);
      must(configured, 'rollout of a service that is not in the policy', request.service.name);
      const plan = buildPlan(request, 'fuzz');
      must(
        insideRepository(plan.image, configured.image) &&
          /^sha256:[a-f0-9]{64}$/.test(request.digest) &&
          plan.image === `${configured.image}@${request.digest}`,
        `rollout of ${configured.name} deploys ${plan.image}, outside ${configured.image}`,
      );
      const refused = unstorable({ ...request, service: configured.name });
      must(refused === undefined, `Firestore would refuse the rollout record: ${refused}`);
    }
  }
}

function checkJobDecision(decision: JobTriggerDecision): void {
  must(decision.outcome === 'start' || decision.outcome === 'rejected', 'unknown outcome', decision);
  if (decision.outcome === 'rejected') {
    checkReason(decision.reason, 'rejected');
    must(namesAField(decision.reason), 'rejection names no field', decision.reason);
    return;
  }
  must(POLICY.jobs.includes(decision.job), 'start of a job that is not in the policy', decision.job?.name);
  must(decision.runId.startsWith(`${decision.job.name}-`), 'run id does not name its job', decision.runId);
  must(usableDocumentId(decision.runId), 'run id is not a Firestore document id', decision.runId);
  const refused = unstorable({ overrides: decision.overrides, scheduledAt: decision.scheduledAt });
  must(refused === undefined, `Firestore would refuse the job run: ${refused}`);
}

/** A document's size as Firestore counts it: UTF-8 strings plus one byte, 8 per number, field names included. */
function firestoreBytes(value: unknown): number {
  let total = 32; // the document name and overhead, roughly
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') total += Buffer.byteLength(v) + 1;
    else if (typeof v === 'number') total += 8;
    else if (v === null || typeof v === 'boolean') total += 1;
    else if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (typeof v === 'object')
      for (const [k, item] of Object.entries(v)) {
        total += Buffer.byteLength(k) + 1;
        stack.push(item);
      }
  }
  return total;
}

/** What recordRejection writes for a rejected message: a valid record with a usable id that fits in a document. */
export function checkRejectionRecord(topic: string, message: PubsubMessage, reason: string): void {
  const id = message.messageId ?? message.message_id;
  const record = {
    id: `rejected-${
      id ??
      createHash('sha256')
        .update(message.data ?? '')
        .digest('hex')
        .slice(0, 24)
    }`,
    kind: 'rejected',
    source: topic,
    reason,
    ...(message.data !== undefined ? { data: message.data } : {}),
    attributes: message.attributes ?? {},
    ...(id ? { messageId: id } : {}),
    createdAt: new Date(0).toISOString(),
    replayed: false,
  };
  const parsed = DeadLetterRecord.safeParse(record);
  must(parsed.success, 'the dead-letter record does not validate', parsed.error?.issues.slice(0, 3));
  must(
    usableDocumentId(record.id),
    'the dead-letter id is not a Firestore document id',
    record.id.slice(0, 100),
  );
  const refused = unstorable(record);
  must(refused === undefined, `Firestore would refuse the dead-letter record: ${refused}`);
  const bytes = firestoreBytes(record);
  must(
    bytes < FIRESTORE_DOCUMENT_BYTES - 4096,
    `the dead-letter record is ${bytes} bytes, more than a Firestore document holds`,
  );
}

// ---------------------------------------------------------------------------
// The properties.

interface FuzzResult {
  name: string;
  /** Cases the property ran (all of them passed: a failure throws). */
  cases: number;
  /** The slowest case's milliseconds, for the bench to hold to CASE_BUDGET_MS (never asserted in tests). */
  slowestCaseMs: number;
}

interface FuzzProperty {
  /** Runs `numRuns` cases; `seed` and `path` replay a reported failure. Throws on a counterexample. */
  (numRuns: number, seed?: number, path?: string): FuzzResult;
  readonly fuzzName: string;
  /** How much of the jest run this property gets, relative to the others. */
  readonly weight: number;
}

/** Makes a fuzz property: `check` throws on a bad case; the property throws with seed and path. */
export function fuzzProperty<T>(
  name: string,
  weight: number,
  arb: fc.Arbitrary<T>,
  check: (value: T) => void,
): FuzzProperty {
  const run = (numRuns: number, seed?: number, path?: string): FuzzResult => {
    let cases = 0;
    let slowestCaseMs = 0;
    const details = fc.check(
      fc.property(arb, (value) => {
        cases++;
        const started = performance.now();
        check(value);
        assertNotPolluted();
        slowestCaseMs = Math.max(slowestCaseMs, performance.now() - started);
      }),
      { numRuns, ...(seed !== undefined ? { seed } : {}), ...(path !== undefined ? { path } : {}) },
    );
    if (details.failed) {
      // fast-check's own report prints the whole counterexample, megabytes of it here: show a bounded preview.
      const error = details.errorInstance as Error | undefined;
      const preview = boundedJson(details.counterexample?.[0], 1500);
      throw new Error(
        [
          `${name}: ${error?.name ?? 'failure'}: ${error?.message ?? String(details.errorInstance)}`,
          `  after ${details.numRuns} case(s); replay with seed ${details.seed}, path "${details.counterexamplePath}"`,
          `  counterexample: ${preview.text}${preview.truncated ? ' ...' : ''}`,
          ...(error instanceof PropertyViolation
            ? []
            : [`  ${error?.stack?.split('\n').slice(1, 6).join('\n  ')}`]),
        ].join('\n'),
      );
    }
    return { name, cases, slowestCaseMs: Math.round(slowestCaseMs) };
  };
  return Object.assign(run, { fuzzName: name, weight });
}

/** A gcr event's digest and tag must agree: a mutation of one may be reported on the other. */
const RELATED: Record<string, string[]> = { digest: ['tag'], tag: ['digest'] };

const intakeProperty = (topic: (typeof INTAKE_TOPICS)[number]) =>
  fuzzProperty(
    `intake: hostile messages on ${topic}`,
    3,
    fc.tuple(topicData(topic), hostileMessage(fc.constant(undefined))),
    ([{ data, blame }, envelope]) => {
      const message = { ...envelope, ...(data !== undefined ? { data } : {}) };
      const decision = decideIntake(POLICY, topic, message);
      checkIntakeDecision(
        decision,
        blame === undefined ? undefined : { field: blame, related: RELATED[blame] ?? [] },
      );
    },
  );

/** One hostile image in one of the three formats, for one service of the policy. */
const imageMessage = fc
  .tuple(service, fc.constantFrom(...INTAKE_TOPICS), digest, fc.boolean())
  .chain(([s, topic, d, withTag]) =>
    fc
      .tuple(
        hostileImageRef(s.image),
        fc.oneof(digest, fc.constantFrom(GOOD_DIGEST, `sha256:${'A'.repeat(64)}`, 'sha256:..')),
      )
      .map(([ref, otherDigest]) => {
        const payload =
          topic === TOPICS.gcr
            ? { action: 'INSERT', digest: ref, ...(withTag ? { tag: `${ref.split('@')[0]}:${TAG}` } : {}) }
            : topic === TOPICS.cloudBuilds
              ? {
                  id: 'b-1',
                  status: 'SUCCESS',
                  results: { images: [{ name: ref, digest: withTag ? d : otherDigest }] },
                }
              : { service: s.name, image: ref, reason: 'fuzz', requestedBy: 'fuzz' };
        return { service: s, topic, ref, payload };
      }),
  );

const imageNeverLeavesRepository = fuzzProperty(
  'intake: an image outside its service repository never deploys',
  3,
  imageMessage,
  ({ service: s, topic, ref, payload }) => {
    const decision = decideIntake(POLICY, topic, { data: b64(JSON.stringify(payload)), messageId: '1' });
    checkIntakeDecision(decision);
    if (decision.outcome !== 'rollout') return;
    for (const request of decision.requests) {
      const configured = POLICY.services.find((x) => x.name === request.service.name)!;
      // The message itself named an image inside that repository.
      must(insideRepository(ref, configured.image), `${ref} started a rollout of ${configured.name}`);
      if (topic === TOPICS.deployRequests)
        must(configured.name === s.name, 'a manual request deployed another service');
    }
  },
);

const jobTriggerProperty = fuzzProperty(
  `job trigger: hostile messages on ${TOPICS.jobTriggers}`,
  3,
  fc.tuple(
    topicData(TOPICS.jobTriggers),
    hostileMessage(fc.constant(undefined)),
    fc.option(fc.constantFrom(...POLICY.jobs.map((j) => j.name), 'nightly-report ', 'NIGHTLY-REPORT')),
  ),
  ([{ data, blame }, envelope, jobAttribute]) => {
    const attributes = { ...envelope.attributes, ...(jobAttribute ? { job: jobAttribute } : {}) };
    const message = { ...envelope, attributes, ...(data !== undefined ? { data } : {}) };
    const decision = decideJobTrigger(POLICY, message);
    checkJobDecision(decision);
    if (decision.outcome === 'rejected' && blame !== undefined)
      must(
        namesField(decision.reason, blame) || /^(?:messageId|publishTime): /.test(decision.reason),
        `rejection does not name ${blame}`,
        decision.reason,
      );
  },
);

const envelopeProperty = fuzzProperty(
  'pubsub envelope: hostile CloudEvents are unwrapped, decided and recorded without throwing',
  3,
  hostileCloudEvent,
  (event) => {
    const unwrapped = unwrapPubsubEvent(event);
    const known = Object.values(TOPICS) as string[];
    must(
      unwrapped.topic === undefined || known.includes(unwrapped.topic),
      'unwrapped an unknown topic',
      unwrapped.topic,
    );
    // Whatever came in, what goes on is a well-formed message (it may be recorded as it is).
    const valid = PubsubMessage.safeParse(unwrapped.message);
    must(
      valid.success,
      'the unwrapped message is not a valid Pub/Sub message',
      valid.error?.issues.slice(0, 3),
    );
    const topic = unwrapped.topic ?? 'unknown';
    if (!unwrapped.ok) {
      const kept = Buffer.from(unwrapped.message.data ?? '', 'base64').length;
      must(kept <= MAX_PAYLOAD_BYTES, `the kept payload is ${kept} bytes, over the limit`);
      checkReason(unwrapped.reason, 'unreadable envelope');
      must(
        unwrapped.reason.startsWith('message'),
        'the envelope rejection does not name message',
        unwrapped.reason,
      );
      checkRejectionRecord(topic, unwrapped.message, unwrapped.reason);
      return;
    }
    if (unwrapped.topic === TOPICS.jobTriggers) {
      const decision = decideJobTrigger(POLICY, unwrapped.message);
      checkJobDecision(decision);
      if (decision.outcome === 'rejected') checkRejectionRecord(topic, unwrapped.message, decision.reason);
    } else {
      const decision = decideIntake(POLICY, unwrapped.topic, unwrapped.message);
      checkIntakeDecision(decision);
      if (decision.outcome === 'rejected') checkRejectionRecord(topic, unwrapped.message, decision.reason);
    }
  },
);

/** Every problem line names its field; all of them together stay readable. */
const MAX_BODY_ERROR = 5000;
const FIELD_LINE = new RegExp(String.raw`^(?:${FIELD_PATH}: |\.\.\. and \d+ more problem\(s\)$)`);

const actionProperty = (name: string) =>
  fuzzProperty(`actions: hostile ${name} bodies`, 1, hostileBody(name), ({ text, blame }) => {
    const body = JSON.parse(text) as unknown;
    const schema = ACTIONS[name].schema;
    const parsed = schema.safeParse(body, { reportInput: true });
    if (!parsed.success) {
      const lines = describeIssues(parsed.error);
      must(lines.length > 0, 'a failed parse with no problems');
      for (const line of lines) must(FIELD_LINE.test(line), 'a problem that names no field', line);
      const error = `invalid ${name} body: ${lines.join('; ')}`;
      must(error.length <= MAX_BODY_ERROR, `a body error of ${error.length} characters`, error.slice(0, 200));
      if (blame !== undefined && ACTION_SAMPLES[name])
        must(
          namesField(`invalid ${name} body: ${lines.join('; ')}`, blame) ||
            lines.some((l) => l.startsWith('(root)')),
          `the error does not name ${blame}`,
          error,
        );
      return;
    }
    const keys = prototypeKeysIn(parsed.data);
    must(keys.length === 0, 'a parsed body kept prototype keys', keys);
    const refused = unstorable(parsed.data);
    must(refused === undefined, `a parsed body Firestore would refuse: ${refused}`);
    for (const [key, value] of Object.entries(parsed.data as Record<string, unknown>)) {
      if (/Id$/.test(key) && value !== undefined)
        must(
          typeof value === 'string' && usableDocumentId(value),
          `${key} is not a usable Firestore document id`,
          value,
        );
    }
  });

const POLICY_PROBLEM = new RegExp(String.raw`^(?:${FIELD_PATH}: |\.\.\. and \d+ more problem\(s\)$)`);

const policyProperty = fuzzProperty('policy: hostile glidepath.yaml documents', 2, hostileYaml, (text) => {
  let policy: Policy | undefined;
  const emitWarning = process.emitWarning;
  try {
    process.emitWarning = () => undefined; // the yaml library warns about odd tags on stderr; noise here
    policy = parsePolicyYaml(text);
  } catch (e) {
    must(
      e instanceof ValidationError,
      `parsePolicyYaml threw ${(e as Error)?.name}, not a ValidationError`,
      (e as Error)?.message?.slice(0, 300),
    );
    must(
      e.message.startsWith('invalid policy: '),
      'a policy error that does not say so',
      e.message.slice(0, 200),
    );
    must(
      e.problems.length > 0 && e.problems.every((p) => POLICY_PROBLEM.test(p)),
      'a policy problem that names no field',
      e.problems.find((p) => !POLICY_PROBLEM.test(p)),
    );
    return;
  } finally {
    process.emitWarning = emitWarning;
  }
  must(Array.isArray(policy.services) && Array.isArray(policy.jobs), 'a policy without services and jobs');
  must(prototypeKeysIn(policy).length === 0, 'a policy kept prototype keys', prototypeKeysIn(policy));
});

export const FUZZ_PROPERTIES: FuzzProperty[] = [
  ...INTAKE_TOPICS.map(intakeProperty),
  imageNeverLeavesRepository,
  jobTriggerProperty,
  envelopeProperty,
  ...Object.keys(ACTIONS).map(actionProperty),
  policyProperty,
];

/** Runs every property with `numRuns` cases each (the bench passes e.g. 20,000); returns what each tried. */
export function runAllFuzz(numRuns: number, seed?: number): { results: FuzzResult[]; totalCases: number } {
  const results = FUZZ_PROPERTIES.map((p) => p(numRuns, seed));
  return { results, totalCases: results.reduce((n, r) => n + r.cases, 0) };
}
