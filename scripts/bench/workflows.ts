/**
 * Workflows engine benchmark: interpreter overhead per step, a 10,000-iteration
 * loop, and executions per second of a 20-step workflow with no I/O. The
 * baseline is the same loop written as plain async TypeScript, in this process.
 */
import { performance } from 'node:perf_hooks';
import { compileWorkflow, executeProgram } from '../../emulators/workflows';

const RUNS = 7;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const loopSource = (n: number): string => `
- init:
    assign:
      - total: 0
- loop:
    for:
      value: i
      range: [1, ${n}]
      steps:
        - add:
            assign:
              - total: \${total + i}
- done:
    return: \${total}
`;
const twentySteps = [
  '- s0:\n    assign:\n      - x: 0\n',
  ...Array.from({ length: 18 }, (_, i) => `- s${i + 1}:\n    assign:\n      - x: \${x + ${i}}\n`),
  '- s19:\n    return: ${x}\n',
].join('');

async function timeRun(program: ReturnType<typeof compileWorkflow>): Promise<{ ms: number; steps: number }> {
  const t0 = performance.now();
  const run = await executeProgram(program, null);
  if (run.state !== 'SUCCEEDED') throw new Error(`benchmark workflow failed: ${JSON.stringify(run)}`);
  return { ms: performance.now() - t0, steps: run.stats.steps };
}

/** The same 10,000 additions as plain async code: one awaited call per step, like the interpreter. */
async function baselineLoop(n: number): Promise<number> {
  const t0 = performance.now();
  const vars = new Map<string, number>([['total', 0]]);
  const step = async (i: number): Promise<void> => void vars.set('total', vars.get('total')! + i);
  for (let i = 1; i <= n; i++) await step(i);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const loop = compileWorkflow(loopSource(10_000));
  await timeRun(loop); // warm-up
  const loopRuns: { ms: number; steps: number }[] = [];
  const baseline: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    loopRuns.push(await timeRun(loop));
    baseline.push(await baselineLoop(10_000));
  }
  const loopMs = median(loopRuns.map((r) => r.ms));
  const steps = loopRuns[0].steps;

  const twenty = compileWorkflow(twentySteps);
  for (let i = 0; i < 200; i++) await timeRun(twenty);
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let count = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 200) {
      await timeRun(twenty);
      count++;
    }
    rates.push(count / ((performance.now() - t0) / 1000));
  }

  process.stdout.write(
    JSON.stringify({
      runs: RUNS,
      loop10kMedianMs: +loopMs.toFixed(2),
      loop10kSteps: steps,
      perStepMedianUs: +((loopMs * 1000) / steps).toFixed(2),
      perStepTargetUs: 50,
      baselineLoop10kMedianMs: +median(baseline).toFixed(2),
      loopVsBaselineRatio: +(loopMs / median(baseline)).toFixed(1),
      executionsPerSecond20Steps: Math.round(median(rates)),
    }) + '\n',
  );
}

void main();
