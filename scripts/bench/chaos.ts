/**
 * `npm run bench -- chaos [--seed 1] [--rollouts 200] [--job-runs 100]
 * [--job-rollouts 40] [--services 6] [--jobs 5] [--image-jobs 2] [--approvals 20]
 * [--gated-services 2] [--only <index> [--trace]] [--only-approval <index>] [--fuzz-runs 2000]`: the fuzz properties
 * (test/fuzz/hostile.ts) with large counts, then the full
 * chaos run (issue #9) on the local cloud. Every rollout and job run gets
 * its own seeded faults; afterwards the safety invariants are checked.
 * Prints one JSON document; a failing scenario is printed with the command
 * that replays it. Exits 1 on any invariant violation, or when a fuzz
 * property's slowest case took longer than CASE_BUDGET_MS (timing is held here,
 * not in the tests, where a loaded machine would make it flake).
 */
import { runChaos } from '../../emulators/chaos/run';
// The fuzz properties live with their tests; the bench runs them with larger counts.
import { CASE_BUDGET_MS, runAllFuzz } from '../../test/fuzz/hostile';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function main(): Promise<void> {
  const only = process.argv.includes('--only') ? arg('only', 0) : undefined;
  const onlyApproval = process.argv.includes('--only-approval') ? arg('only-approval', 0) : undefined;
  const fuzzStarted = Date.now();
  const fuzz =
    only === undefined && onlyApproval === undefined
      ? runAllFuzz(arg('fuzz-runs', 2000), arg('seed', 1))
      : undefined;
  const fuzzSeconds = Math.round((Date.now() - fuzzStarted) / 100) / 10;
  const fuzzOverBudget = (fuzz?.results ?? [])
    .filter((r) => r.slowestCaseMs > CASE_BUDGET_MS)
    .map((r) => `${r.name}: slowest case ${r.slowestCaseMs} ms`);
  const report = await runChaos({
    seed: arg('seed', 1),
    rollouts: arg('rollouts', 200),
    jobRuns: arg('job-runs', 100),
    jobRollouts: arg('job-rollouts', 40),
    services: arg('services', 6),
    jobs: arg('jobs', 5),
    imageJobs: arg('image-jobs', 2),
    approvals: arg('approvals', 20),
    gatedServices: arg('gated-services', 2),
    ...(only !== undefined ? { only } : {}),
    ...(onlyApproval !== undefined ? { onlyApproval } : {}),
    trace: process.argv.includes('--trace'),
    ...(process.argv.includes('--trace')
      ? { logLine: (line: string) => process.stderr.write(`${line}\n`) }
      : {}),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  const figures = {
    ...report,
    ...(fuzz
      ? {
          fuzz: {
            casesTried: fuzz.totalCases,
            properties: fuzz.results.length,
            seconds: fuzzSeconds,
            byProperty: Object.fromEntries(fuzz.results.map((r) => [r.name, r.cases])),
            slowestCaseMs: Object.fromEntries(fuzz.results.map((r) => [r.name, r.slowestCaseMs])),
            caseBudgetMs: CASE_BUDGET_MS,
            overBudget: fuzzOverBudget,
          },
        }
      : {}),
  };
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
  if (report.violations.length || fuzzOverBudget.length) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
