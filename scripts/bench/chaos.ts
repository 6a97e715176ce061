/**
 * `npm run bench -- chaos [--seed 1] [--rollouts 200] [--job-runs 100]
 * [--services 6] [--jobs 5] [--only <index>] [--fuzz-runs 2000]`: the full
 * chaos run (issue #9) on the local cloud. Every rollout and job run gets
 * its own seeded faults; afterwards the safety invariants are checked.
 * Prints one JSON document; a failing scenario is printed with the command
 * that replays it. Exits 1 on any invariant violation.
 */
import { runChaos } from '../../emulators/chaos/run';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? arg('only', 0) : undefined;
  const report = await runChaos({
    seed: arg('seed', 1),
    rollouts: arg('rollouts', 200),
    jobRuns: arg('job-runs', 100),
    services: arg('services', 6),
    jobs: arg('jobs', 5),
    ...(only !== undefined ? { only } : {}),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  if (report.violations.length) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
