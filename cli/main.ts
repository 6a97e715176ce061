/**
 * The `glidepath` command line. Each command lives in cli/commands/ and
 * registers itself on the program; output is JSON or human text.
 */
import { Command } from 'commander';
import { registerPlan } from './commands/plan';
import { registerAnalyze } from './commands/analyze';
import { registerTimeline } from './commands/timeline';
import { registerWorkflows } from './commands/workflows';
import { registerJobs } from './commands/jobs';
import { registerDlq } from './commands/dlq';
import { registerRollouts } from './commands/rollouts';
import { registerSimulate } from './commands/simulate';
import { registerReport } from './commands/report';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('glidepath')
    .description('Event-driven progressive delivery for Google Cloud Run')
    .showHelpAfterError()
    .exitOverride((err) => {
      // Usage errors exit 2; --help and --version exit 0.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  registerPlan(program);
  registerAnalyze(program);
  registerTimeline(program);
  registerWorkflows(program);
  registerJobs(program);
  registerDlq(program);
  registerRollouts(program);
  registerSimulate(program);
  registerReport(program);
  await program.parseAsync(argv);
}
