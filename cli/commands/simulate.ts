/**
 * `glidepath simulate`: runs pushes through the whole system on the local
 * cloud (emulators/simulate.ts) and prints one JSON summary on stdout.
 * The local cloud's logs are dropped, or go to stderr with --verbose, so
 * stdout holds nothing but the summary. Exit 0 when the simulation ran,
 * whatever the rollouts' outcomes; 2 on bad input.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { simulate, type SimulatedJobRollout, type SimulatedRollout } from '../../emulators/simulate';
import { parseImageRef } from '../../functions/domain/image';
import type { Policy } from '../../functions/domain/policy';
import { UsageError, printJson, readJson, readPolicy } from '../io';

export interface SimulateOptions {
  config: string;
  profiles: string;
  push: string[];
  speed?: string;
  overlap?: boolean;
  rate?: string;
  verbose?: boolean;
  report?: string;
  /** Answer every approval gate: Approve or Reject (signed clicks through the interaction function). */
  approve?: boolean;
  reject?: boolean;
}

interface SimulationSummary {
  rollouts: Array<{
    service: string;
    image: string;
    status: string;
    regions: Record<string, { status: string; traffic: Record<string, number> }>;
    seconds: number;
    billableSteps?: number;
    report?: string;
  }>;
  /** Job image rollouts: how each ended, and the image each region's job runs afterwards. */
  jobRollouts: Array<{
    job: string;
    image: string;
    status: string;
    reason?: string;
    regions: SimulatedJobRollout['regions'];
    seconds: number;
  }>;
  slack: string[];
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag}: expected a positive number, got ${value}`);
  return n;
}

/** Checks everything that can be checked before starting the local cloud. */
export function validateSimulateOptions(opts: SimulateOptions): {
  policy: Policy;
  speed?: number;
  rate?: number;
} {
  const speed = positive(opts.speed, '--speed');
  const rate = positive(opts.rate, '--rate');
  if (!opts.push?.length) throw new UsageError('--push: expected at least one repository:tag');
  if (opts.approve && opts.reject)
    throw new UsageError('--approve, --reject: expected one of them, got both');
  const policy = readPolicy(opts.config);
  const profiles = readJson(opts.profiles, 'profiles file');
  if (!profiles || typeof profiles !== 'object' || Array.isArray(profiles))
    throw new UsageError(`profiles file ${opts.profiles}: expected a JSON object of image → profile`);
  for (const push of opts.push) {
    const parsed = parseImageRef(push);
    if (!parsed.ok) throw new UsageError(`--push ${push}: ${parsed.error}`);
    if (!parsed.ref.tag || parsed.ref.digest) throw new UsageError(`--push ${push}: expected repository:tag`);
    if (
      !policy.services.some((s) => s.image === parsed.ref.repository) &&
      !policy.jobs.some((j) => j.image === parsed.ref.repository)
    )
      throw new UsageError(
        `--push ${push}: no service or job in ${opts.config} uses the repository ${parsed.ref.repository}`,
      );
  }
  return { policy, speed, rate };
}

export function summarize(result: {
  rollouts: SimulatedRollout[];
  jobRollouts: SimulatedJobRollout[];
  slack: string[];
}): SimulationSummary {
  return {
    rollouts: result.rollouts.map((r) => ({
      service: r.service,
      image: r.image,
      status: r.status,
      regions: Object.fromEntries(
        Object.entries(r.regions).map(([name, region]) => [
          name,
          { status: region.status, traffic: region.traffic },
        ]),
      ),
      seconds: r.seconds,
      ...(r.billableSteps !== undefined ? { billableSteps: r.billableSteps } : {}),
      ...(r.report ? { report: r.report } : {}),
    })),
    jobRollouts: result.jobRollouts.map((r) => ({
      job: r.job,
      image: r.image,
      status: r.status,
      ...(r.reason ? { reason: r.reason } : {}),
      regions: r.regions,
      seconds: r.seconds,
    })),
    slack: result.slack,
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run image pushes through the whole system on the local cloud and print a JSON summary')
    .requiredOption('--config <file>', 'glidepath.yaml')
    .requiredOption('--profiles <file>', 'image profiles JSON (docs/local-cloud.md)')
    .requiredOption(
      '--push <image>',
      'repository:tag of a service or job to push (repeatable, in order)',
      collect,
      [],
    )
    .option('--speed <n>', 'divide every workflow sleep by n (60: a 5-minute bake lasts 5 s)', '60')
    .option('--overlap', 'push the next image while the previous rollout is in its first step')
    .option('--rate <n>', 'requests per second to each service in each region', '40')
    .option(
      '--approve',
      'answer every approval gate with a signed Approve click as soon as its message arrives',
    )
    .option(
      '--reject',
      'answer every approval gate with a signed Reject click as soon as its message arrives',
    )
    .option('--report <dir>', 'write each rollout’s HTML report under this folder (paths in the summary)')
    .option('--verbose', "the local cloud's structured logs to stderr")
    .action(async (opts: SimulateOptions) => {
      const { speed, rate } = validateSimulateOptions(opts);
      if (!existsSync(opts.profiles)) throw new UsageError(`cannot read profiles file ${opts.profiles}`);
      const logLine = opts.verbose
        ? (line: string) => void process.stderr.write(line + '\n')
        : () => undefined;
      // Some emulators log straight to stdout: while the simulation runs, stdout goes to
      // stderr (--verbose) or nowhere, so that it holds nothing but the summary.
      const write = process.stdout.write;
      process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        if (opts.verbose) return (process.stderr.write as (...a: unknown[]) => boolean)(chunk, ...rest);
        const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        done?.();
        return true;
      }) as typeof process.stdout.write;
      let result;
      try {
        result = await simulate({
          policyFile: opts.config,
          profilesFile: opts.profiles,
          pushes: opts.push,
          ...(speed !== undefined ? { speed } : {}),
          ...(rate !== undefined ? { ratePerSecond: rate } : {}),
          overlap: Boolean(opts.overlap),
          ...(opts.approve
            ? { answerGates: 'approve' as const }
            : opts.reject
              ? { answerGates: 'reject' as const }
              : {}),
          ...(opts.report ? { reportDir: opts.report } : {}),
          logLine,
        });
      } catch (err) {
        // The input was fine; the run itself broke (an emulator would not start, a rollout timed out).
        process.stderr.write(`glidepath: simulation failed: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      } finally {
        process.stdout.write = write;
      }
      printJson(summarize(result));
    });
}
