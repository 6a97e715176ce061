/**
 * Image profiles: how a container image behaves on the Cloud Run emulator.
 * A JSON file maps image references to behaviour; unknown images are healthy.
 * Lookup tries the exact reference (`repository:tag` or `repository@digest`),
 * then the plain repository.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const serviceProfileSchema = z
  .object({
    /** Share of requests answered 500/503. */
    errorRate: z.number().min(0).max(1).default(0),
    latencyMs: z
      .object({ p50: z.number().positive(), p99: z.number().positive() })
      .refine((l) => l.p99 >= l.p50, { message: 'p99 must be >= p50' })
      .default({ p50: 20, p99: 80 }),
    /** The container never listens: the revision never becomes Ready. */
    startupFailure: z.boolean().default(false),
    /** Added to the revision's readiness delay and to its first request's latency. */
    coldStartMs: z.number().min(0).default(0),
    /** Status of GET /health; by default 200. */
    healthStatus: z.number().int().min(100).max(599).optional(),
  })
  .strict();

/**
 * How a failing task fails, each with Cloud Run's own condition message
 * (emulators/cloudrun/jobs-api.ts; sources in docs/jobs.md).
 */
export const JOB_FAILURES = [
  'exit-code',
  'out-of-memory',
  'timeout',
  'network',
  'image-missing',
  'image-permission',
] as const;
export type JobFailure = (typeof JOB_FAILURES)[number];

const jobProfileSchema = z
  .object({
    /** Chance that one task fails. */
    failRate: z.number().min(0).max(1).default(0),
    durationMs: z.number().min(0).default(100),
    /** How a failing task fails. */
    failure: z.enum(JOB_FAILURES).default('exit-code'),
  })
  .strict();

export type ServiceProfile = z.output<typeof serviceProfileSchema>;
type JobProfile = z.output<typeof jobProfileSchema>;
export type ServiceProfileInput = z.input<typeof serviceProfileSchema>;
export type JobProfileInput = z.input<typeof jobProfileSchema>;

/** A profile file entry is a service profile, a job profile, or both (the same image may serve either). */
const entrySchema = z
  .object({
    errorRate: z.unknown(),
    latencyMs: z.unknown(),
    startupFailure: z.unknown(),
    coldStartMs: z.unknown(),
    healthStatus: z.unknown(),
    failRate: z.unknown(),
    durationMs: z.unknown(),
    failure: z.unknown(),
  })
  .partial()
  .strict();

export interface ImageProfile {
  service: ServiceProfile;
  job: JobProfile;
}

const SERVICE_KEYS = ['errorRate', 'latencyMs', 'startupFailure', 'coldStartMs', 'healthStatus'] as const;
const JOB_KEYS = ['failRate', 'durationMs', 'failure'] as const;

function pick(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}

function describeIssues(error: z.ZodError, where: string): string {
  return error.issues
    .map((i) => {
      const path = [where, ...i.path.map(String)].join('.');
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** Validates one profile entry; throws an Error naming the image, the field and what was expected. */
export function parseImageProfile(image: string, raw: unknown): ImageProfile {
  const where = `profiles[${JSON.stringify(image)}]`;
  const entry = entrySchema.safeParse(raw);
  if (!entry.success) throw new Error(`invalid image profile: ${describeIssues(entry.error, where)}`);
  const service = serviceProfileSchema.safeParse(pick(entry.data, SERVICE_KEYS));
  if (!service.success) throw new Error(`invalid image profile: ${describeIssues(service.error, where)}`);
  const job = jobProfileSchema.safeParse(pick(entry.data, JOB_KEYS));
  if (!job.success) throw new Error(`invalid image profile: ${describeIssues(job.error, where)}`);
  return { service: service.data, job: job.data };
}

function parseProfiles(raw: unknown, source: string): Map<string, ImageProfile> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(
      `${source}: expected a JSON object mapping image references to profiles, got ${JSON.stringify(raw)}`,
    );
  const profiles = new Map<string, ImageProfile>();
  for (const [image, entry] of Object.entries(raw)) profiles.set(image, parseImageProfile(image, entry));
  return profiles;
}

export function loadProfilesFile(path: string): Map<string, ImageProfile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read image profiles file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`image profiles file ${path} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseProfiles(json, path);
}

/** `repo:tag` or `repo@digest` without the tag or digest; a `:` before the last `/` is a registry port. */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const colon = noDigest.indexOf(':', noDigest.lastIndexOf('/') + 1);
  return colon >= 0 ? noDigest.slice(0, colon) : noDigest;
}

export const HEALTHY: ImageProfile = parseImageProfile('<default>', {});

export function lookupProfile(profiles: ReadonlyMap<string, ImageProfile>, image: string): ImageProfile {
  return profiles.get(image) ?? profiles.get(imageRepository(image)) ?? HEALTHY;
}

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// z-score of the 99th percentile of the standard normal distribution.
const Z99 = 2.3263478740408408;

/**
 * A lognormal latency sampler fitted to the profile's p50 and p99:
 * ln(X) ~ N(mu, sigma) with exp(mu) = p50 and exp(mu + Z99 * sigma) = p99.
 */
export function lognormalSampler(latency: { p50: number; p99: number }, random: () => number): () => number {
  const mu = Math.log(latency.p50);
  const sigma = Math.log(latency.p99 / latency.p50) / Z99;
  return () => {
    // Box-Muller; 1 - random() keeps the logarithm's argument in (0, 1].
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.exp(mu + sigma * normal);
  };
}
