/**
 * The policy file, `glidepath.yaml` (design brief §2).
 *
 * Parsing happens in two passes: each part is validated on its own (so an
 * error names the path the user wrote, `defaults.steps[0]` or
 * `services[1].steps[0]`), then `defaults` are merged into every service,
 * and built-in defaults fill whatever neither one set.
 */
import { z } from 'zod';
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { Duration } from './duration';
import { parseRepository } from './image';
import { GLIDEPATH_TAG_PREFIX, MAX_SERVICE_NAME_WITH_TAG, MAX_TAG_AND_SERVICE, MIN_TAG_HEX } from './tags';
import { ValidationError, describeIssues, parseOrThrow, show } from './validation';
import { FAILURE_CLASSES } from './job-failures';
import { rolloutOverBudget } from './step-budget';
import { blindFirstStep } from './analysis/looks';

const Percent = z.number().int().min(1, { error: 'expected 1–99' }).max(99, { error: 'expected 1–99' });
const Fraction = z.number().min(0).max(1);

const Step = z.strictObject({ percent: Percent, bake: Duration });
const AnySteps = z
  .array(Step)
  .max(20)
  .superRefine((steps, ctx) => {
    for (let i = 1; i < steps.length; i++) {
      if (steps[i].percent <= steps[i - 1].percent) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'percent'],
          message: `expected percents in ascending order, got ${steps[i].percent} after ${steps[i - 1].percent}`,
        });
      }
    }
  });
const Steps = AnySteps.min(1);

const ErrorRate = z.strictObject({ maxAbsolute: Fraction, maxIncrease: Fraction });
const Latency = z.strictObject({
  percentile: z.union([z.literal(50), z.literal(90), z.literal(95), z.literal(99)]),
  maxMs: z.number().positive(),
  maxRatio: z.number().min(1),
});
/** The judge's settings, as the policy resolves them (also the plan's `analysis`). */
export const Analysis = z.strictObject({
  minRequests: z.number().int().min(1),
  maxExtensions: z.number().int().min(0).max(50),
  onInconclusive: z.enum(['fail', 'hold']),
  errorRate: ErrorRate,
  latency: Latency,
});
const Smoke = z.strictObject({
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'expected an absolute URL path such as "/health"'),
  expectStatus: z.number().int().min(100).max(599),
  attempts: z.number().int().min(1).max(20),
  timeout: Duration,
});
const OnNewImage = z.enum(['supersede', 'queue', 'ignore']);

/** The settings a service inherits from `defaults` and may override. */
const SettingsOverride = z.strictObject({
  steps: Steps.optional(),
  analysis: z
    .strictObject({
      ...Analysis.shape,
      errorRate: ErrorRate.partial().optional(),
      latency: Latency.partial().optional(),
    })
    .partial()
    .optional(),
  smoke: Smoke.partial().optional(),
  onNewImage: OnNewImage.optional(),
});

const Settings = z.strictObject({
  steps: Steps,
  analysis: Analysis,
  smoke: Smoke,
  onNewImage: OnNewImage,
});
type Settings = z.output<typeof Settings>;
export type AnalysisSettings = z.output<typeof Analysis>;

/** Built-in defaults: the values from the design brief's example. */
export const BUILT_IN_DEFAULTS = {
  steps: [
    { percent: 10, bake: '5m' },
    { percent: 50, bake: '5m' },
  ],
  analysis: {
    minRequests: 200,
    maxExtensions: 3,
    onInconclusive: 'fail',
    errorRate: { maxAbsolute: 0.01, maxIncrease: 0.005 },
    latency: { percentile: 99, maxMs: 1000, maxRatio: 1.25 },
  },
  smoke: { path: '/health', expectStatus: 200, attempts: 3, timeout: '5s' },
  onNewImage: 'supersede',
} as const;

// Cloud Run service and job names: lowercase letters, digits and hyphens, 1-49 chars.
const ResourceName = z
  .string()
  .regex(
    /^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$/,
    'expected a Cloud Run name (lowercase letters, digits, hyphens; max 49)',
  );
const ProjectId = z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'expected a GCP project id');
const Region = z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'expected a region such as "us-central1"');
const Repository = z.string().superRefine((value, ctx) => {
  const r = parseRepository(value);
  if (!r.ok)
    ctx.addIssue({
      code: 'custom',
      message: `expected an image repository path without tag or digest: ${r.error}`,
    });
});
const TagPattern = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: `expected a regular expression: ${(e as Error).message}` });
  }
});
const SlackTarget = z.strictObject({
  channel: z.string().regex(/^#[a-z0-9._-]{1,80}$/, 'expected a channel such as "#deploys"'),
});

const SlackUserId = z
  .string()
  .regex(
    /^[UW][A-Z0-9]{2,}$/,
    'expected a Slack user id such as "U024BE7LH" (Slack: profile → Copy member ID)',
  );

// A service also needs room for its candidate's tag in the tag URL (see ./tags).
const ServiceName = ResourceName.superRefine((name, ctx) => {
  if (name.length > MAX_SERVICE_NAME_WITH_TAG)
    ctx.addIssue({
      code: 'custom',
      message: `expected at most ${MAX_SERVICE_NAME_WITH_TAG} characters: Cloud Run limits a traffic tag and the service name together to ${MAX_TAG_AND_SERVICE} characters, and Glidepath's candidate tag needs at least ${MAX_TAG_AND_SERVICE - MAX_SERVICE_NAME_WITH_TAG} ("${GLIDEPATH_TAG_PREFIX}" and ${MIN_TAG_HEX} hex of the digest), got ${name} (${name.length} characters)`,
    });
});

/** events.await_callback's limit is the execution's own: Workflows ends an execution after a year. */
const MAX_APPROVAL_TIMEOUT_SECONDS = 365 * 24 * 3600;
export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 24 * 3600;

/** Where a stage's approval gate stands (see `Approval.before`). */
export const APPROVAL_POSITIONS = ['stage', 'promotion'] as const;
export type ApprovalPosition = (typeof APPROVAL_POSITIONS)[number];

const Approver = z
  .string()
  .regex(
    /^(U|W)[A-Z0-9]{2,20}$|^[^@\s]+@[^@\s]+\.[^@\s]+$/,
    'expected a Slack user id such as "U024BE7LH" or an email address',
  );
const Approval = z.strictObject({
  approvers: z.array(Approver).min(1).max(50),
  timeout: Duration.pipe(
    z
      .number()
      .min(60, { error: 'expected at least 60 seconds' })
      .max(MAX_APPROVAL_TIMEOUT_SECONDS, {
        error: `expected at most ${MAX_APPROVAL_TIMEOUT_SECONDS} seconds (a year: a Workflows execution's longest life)`,
      }),
  ).default(DEFAULT_APPROVAL_TIMEOUT_SECONDS),
  /**
   * Where the gate stands: before the stage starts (`stage`), or before the
   * stage's final promotion (`promotion`: every region of the stage holds its
   * canary at the last traffic step until the gate is answered).
   */
  before: z
    .enum(APPROVAL_POSITIONS, { error: `expected one of ${APPROVAL_POSITIONS.join(', ')}` })
    .default('stage'),
});
type ApprovalPolicy = z.output<typeof Approval>;

const Waves = z
  .array(z.array(Region).min(1))
  .min(1)
  .superRefine((waves, ctx) => {
    const seen = new Set<string>();
    waves.forEach((wave, w) =>
      wave.forEach((region, r) => {
        if (seen.has(region))
          ctx.addIssue({
            code: 'custom',
            path: [w, r],
            message: `expected each region once, got ${region} again`,
          });
        seen.add(region);
      }),
    );
  });

const StageName = z
  .string()
  .regex(
    /^[a-z](?:[a-z0-9-]{0,28}[a-z0-9])?$/,
    'expected a stage name (lowercase letters, digits, hyphens; max 30)',
  );

/** One stage of a staged service: its own project, waves, steps and analysis, and an optional gate before it or before its final promotion. */
const Stage = z.strictObject({
  name: StageName,
  project: ProjectId,
  waves: Waves,
  /** May be empty: deploy at 0%, smoke, then 100%. */
  steps: AnySteps.optional(),
  analysis: SettingsOverride.shape.analysis,
  approval: Approval.optional(),
});

const Service = z
  .strictObject({
    name: ServiceName,
    /** Without `stages`: the project and the waves. With `stages`, each stage has its own. */
    project: ProjectId.optional(),
    image: Repository,
    tags: z.array(TagPattern).optional(),
    waves: Waves.optional(),
    stages: z.array(Stage).min(1).max(10).optional(),
    rollbackPromotedRegions: z.boolean().default(false),
    maxParallelRegions: z.number().int().min(1).max(50).default(10),
    slack: SlackTarget.optional(),
    /** Who may press Abort / Roll back now on the service's Slack messages: Slack user ids. */
    operators: z.array(SlackUserId).min(1).optional(),
    ...SettingsOverride.shape,
  })
  .superRefine((service, ctx) => {
    if (!service.stages) {
      if (!service.project)
        ctx.addIssue({
          code: 'custom',
          path: ['project'],
          message: 'expected a GCP project id (or `stages`)',
        });
      if (!service.waves)
        ctx.addIssue({ code: 'custom', path: ['waves'], message: 'expected waves of regions (or `stages`)' });
      return;
    }
    for (const key of ['project', 'waves'] as const)
      if (service[key] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `expected no ${key} beside \`stages\`: each stage has its own`,
        });
    const names = new Set<string>();
    // Region records, candidate slots and lastGood are keyed by region (docs/deploy.md, "Stages"):
    // one region belongs to one stage.
    const regions = new Map<string, string>();
    service.stages.forEach((stage, i) => {
      if (names.has(stage.name))
        ctx.addIssue({
          code: 'custom',
          path: ['stages', i, 'name'],
          message: `expected a unique stage name, got ${JSON.stringify(stage.name)} again`,
        });
      names.add(stage.name);
      stage.waves.forEach((wave, w) =>
        wave.forEach((region, r) => {
          const other = regions.get(region);
          if (other && other !== stage.name)
            ctx.addIssue({
              code: 'custom',
              path: ['stages', i, 'waves', w, r],
              message: `expected each region in one stage only, got ${region} again (already in stage ${other})`,
            });
          regions.set(region, stage.name);
        }),
      );
    });
  });

/** A stage as the policy resolves it: steps and analysis filled from the service's. */
interface StagePolicy {
  name: string;
  project: string;
  waves: string[][];
  steps: Settings['steps'];
  analysis: AnalysisSettings;
  approval?: ApprovalPolicy;
}

const Job = z
  .strictObject({
    name: ResourceName,
    project: ProjectId,
    region: Region,
    schedule: z
      .string()
      .regex(/^(\S+\s+){4}\S+$/, 'expected a five-field cron expression such as "0 2 * * *"'),
    timeZone: z.string().min(1).default('Etc/UTC'),
    retry: z
      .strictObject({
        maxAttempts: z.number().int().min(1).max(20),
        initialBackoff: Duration,
        multiplier: z.number().min(1).max(10),
        maxBackoff: Duration,
        /** The failure classes worth retrying; by default all but `configuration`. */
        on: z.array(z.enum(FAILURE_CLASSES)).min(1).optional(),
      })
      .default({ maxAttempts: 3, initialBackoff: 30, multiplier: 2, maxBackoff: 600 }),
    timeout: Duration.default(3600),
    /** What a trigger message may override: nothing unless listed here. */
    overridable: z
      .strictObject({
        args: z.boolean().default(false),
        env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an env var name')).default([]),
      })
      .default({ args: false, env: [] }),
    slack: SlackTarget.optional(),
    /** Image rollouts (docs/jobs.md): pushes to this repository update the job's template, wave by wave. */
    image: Repository.optional(),
    tags: z.array(TagPattern).optional(),
    /** The regions the job exists in, in the order an image reaches them; by default `[[region]]`. */
    waves: Waves.optional(),
    /** The execution that must succeed in each region before the image counts as good there. */
    verify: z
      .strictObject({
        args: z.array(z.string()).optional(),
        env: z
          .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an env var name'), z.string())
          .optional(),
        timeout: Duration.default(600),
      })
      .optional(),
  })
  .superRefine((job, ctx) => {
    if (!job.image) {
      for (const field of ['tags', 'waves', 'verify'] as const)
        if (job[field] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `expected only with jobs[].image (the repository whose pushes roll out), got ${field} without image`,
          });
      return;
    }
    if (job.waves && !job.waves.flat().includes(job.region))
      ctx.addIssue({
        code: 'custom',
        path: ['waves'],
        message: `expected the job's own region ${job.region} in one of its waves (its scheduled runs use that region's template), got ${job.waves.flat().join(', ')}`,
      });
  });
export type JobPolicy = z.output<typeof Job>;

/** The regions a job's image reaches, wave by wave. */
export function jobWaves(job: Pick<JobPolicy, 'region' | 'waves'>): string[][] {
  return job.waves ?? [[job.region]];
}

const PolicyFile = z.strictObject({
  defaults: SettingsOverride.optional(),
  services: z.array(z.unknown()).default([]),
  jobs: z.array(z.unknown()).default([]),
});

/**
 * A service as the policy resolves it. A staged service's `project` and
 * `waves` are its last stage's (production's), so what reads them without
 * knowing stages (intake's region filter, `status`) sees production.
 */
export type ServicePolicy = Omit<z.output<typeof Service>, keyof Settings | 'project' | 'waves' | 'stages'> &
  Settings & { project: string; waves: string[][]; stages?: StagePolicy[] };

export interface Policy {
  services: ServicePolicy[];
  jobs: JobPolicy[];
}

type Override = z.output<typeof SettingsOverride>;

function merge(base: Settings, o: Override | undefined): Settings {
  if (!o) return base;
  return {
    steps: o.steps ?? base.steps,
    analysis: {
      ...base.analysis,
      ...o.analysis,
      errorRate: { ...base.analysis.errorRate, ...o.analysis?.errorRate },
      latency: { ...base.analysis.latency, ...o.analysis?.latency },
    },
    smoke: { ...base.smoke, ...o.smoke },
    onNewImage: o.onNewImage ?? base.onNewImage,
  };
}

function unique(names: string[], what: string): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  names.forEach((n, i) => {
    if (seen.has(n))
      problems.push(`${what}[${i}].name: expected a unique name, got ${JSON.stringify(n)} again`);
    seen.add(n);
  });
  return problems;
}

/** Validates a parsed policy document. Throws ValidationError listing every problem. */
export function parsePolicy(doc: unknown): Policy {
  const file = parseOrThrow(PolicyFile, doc ?? {}, 'invalid policy');
  const builtIn = parseOrThrow(Settings, BUILT_IN_DEFAULTS, 'built-in defaults');
  const defaults = merge(builtIn, file.defaults);
  const problems: string[] = [];
  const services: ServicePolicy[] = [];
  file.services.forEach((raw, i) => {
    const r = Service.safeParse(raw, { reportInput: true });
    if (!r.success) return problems.push(...describeIssues(r.error, `services[${i}]`));
    const { steps, analysis, smoke, onNewImage, stages, project, waves, ...rest } = r.data;
    const settings = merge(defaults, { steps, analysis, smoke, onNewImage });
    const resolved = stages?.map((stage): StagePolicy => ({
      name: stage.name,
      project: stage.project,
      waves: stage.waves,
      steps: stage.steps ?? settings.steps,
      analysis: merge(settings, { analysis: stage.analysis }).analysis,
      ...(stage.approval ? { approval: stage.approval } : {}),
    }));
    const last = resolved?.[resolved.length - 1];
    const service: ServicePolicy = {
      ...rest,
      ...settings,
      project: last?.project ?? project!,
      waves: last?.waves ?? waves!,
      ...(resolved ? { stages: resolved } : {}),
    };
    // Every stage runs in the one execution: their steps add up.
    const overBudget = rolloutOverBudget(
      (resolved ?? [{ ...service, approval: undefined }]).map((stage) => ({
        waves: stage.waves,
        bakes: stage.steps.map((s) => s.bake),
        analysis: stage.analysis,
        ...(stage.approval ? { gate: stage.approval.before } : {}),
      })),
    );
    if (overBudget) problems.push(`services[${i}] (${service.name}): ${overBudget}`);
    (resolved ?? [{ ...service, name: undefined }]).forEach((stage, j) => {
      const blind = blindFirstStep(
        stage.steps.map((s) => s.bake),
        stage.analysis,
      );
      const where = stage.name === undefined ? '' : `stages[${j}] (${stage.name}) `;
      if (blind) problems.push(`services[${i}] (${service.name}): ${where}${blind}`);
    });
    services.push(service);
  });
  const jobs: JobPolicy[] = [];
  file.jobs.forEach((raw, i) => {
    const r = Job.safeParse(raw, { reportInput: true });
    if (!r.success) return problems.push(...describeIssues(r.error, `jobs[${i}]`));
    jobs.push(r.data);
  });
  problems.push(
    ...unique(
      services.map((s) => s.name),
      'services',
    ),
    ...unique(
      jobs.map((j) => j.name),
      'jobs',
    ),
  );
  if (problems.length) throw new ValidationError('invalid policy', problems);
  return { services, jobs };
}

/** The largest policy file read: parsing time grows with size, and no real policy comes near it. */
export const MAX_POLICY_BYTES = 512 * 1024;

/** Parses the YAML text of `glidepath.yaml`. Throws ValidationError, and only that, for any text. */
export function parsePolicyYaml(text: string): Policy {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_POLICY_BYTES)
    throw new ValidationError('invalid policy', [
      `(root): expected at most ${MAX_POLICY_BYTES} bytes of YAML, got ${bytes}`,
    ]);
  let doc: unknown;
  try {
    doc = readYaml(text);
  } catch (e) {
    const message = String((e as Error)?.message ?? e).split('\n')[0];
    // The parser recurses per level of nesting: a document nested thousands deep overflows its stack.
    const where = /\bat (line \d+, column \d+)/.exec(message)?.[1];
    throw new ValidationError('invalid policy', [
      /Maximum call stack size exceeded/.test(message)
        ? `(root): expected YAML nested at most a few hundred levels deep, got deeper nesting${where ? ` at ${where}` : ''}`
        : `(root): expected YAML, got a parse error: ${message}`,
    ]);
  }
  return parsePolicy(doc);
}

/**
 * YAML text to plain data, as `yaml`'s `parse` does, except for duplicate
 * keys: the library compares each key with every earlier one (over a minute
 * for a mapping of 60,000 keys), so they are checked here, once each.
 */
function readYaml(text: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter });
  if (doc.errors.length > 0) throw doc.errors[0];
  for (const warning of doc.warnings) process.emitWarning(warning);
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isSeq(node)) for (const item of node.items) stack.push(item);
    else if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const { key, value } of node.items) {
        if (isScalar(key)) {
          if (seen.has(key.value)) {
            const { line, col } = lineCounter.linePos(key.range?.[0] ?? 0);
            throw new Error(
              `Map keys must be unique; ${show(key.value)} appears again at line ${line}, column ${col}`,
            );
          }
          seen.add(key.value);
        }
        stack.push(key, value);
      }
    }
  }
  return doc.toJS();
}
