/**
 * `glidepath workflows run FILE`: runs a Workflows definition in the local
 * engine and prints one JSON line with its final state. Exit 0 if it
 * succeeded, 1 if it failed, 2 if the file is invalid or unsupported.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { CallbackServer } from '../../emulators/workflows/callbacks';
import { compileWorkflow, executeProgram, WorkflowDefinitionError } from '../../emulators/workflows';
import { createLogger } from '../../functions/shared/log';
import { UsageError, parseEnvPairs, printJson, readText } from '../io';

export function registerWorkflows(program: Command): void {
  const workflows = program.command('workflows').description('the local Cloud Workflows engine');
  workflows
    .command('run <file>')
    .description('run a workflow (YAML or JSON) to completion and print {state, result|error} as JSON')
    .option('--data <json>', 'the execution argument, as JSON', 'null')
    .option('--env <KEY=VALUE...>', 'user env vars read with sys.get_env', [])
    .option('--sleep-scale <n>', 'divide every sys.sleep and retry backoff by n (local speedup)', '1')
    .action(async (file: string, opts: { data: string; env: string[]; sleepScale: string }) => {
      let argument: unknown;
      try {
        argument = JSON.parse(opts.data);
      } catch (e) {
        throw new UsageError(`--data: expected JSON (${(e as Error).message})`);
      }
      const sleepScale = Number(opts.sleepScale);
      if (!(sleepScale > 0))
        throw new UsageError(`--sleep-scale: expected a positive number, got ${opts.sleepScale}`);
      const source = readText(file, 'workflow file');
      let program;
      try {
        program = compileWorkflow(source);
      } catch (e) {
        if (e instanceof WorkflowDefinitionError) throw new UsageError(`${file}: ${e.message}`);
        throw e;
      }
      const workflowId = basename(file).replace(/\.(workflows\.)?(ya?ml|json)$/, '');
      const callbacks = new CallbackServer();
      await callbacks.listen();
      try {
        const run = await executeProgram(program, argument, {
          env: {
            ...parseEnvPairs(opts.env),
            GOOGLE_CLOUD_WORKFLOW_ID: workflowId,
            GOOGLE_CLOUD_PROJECT_ID: 'local',
            GOOGLE_CLOUD_LOCATION: 'local',
          },
          sleepScale,
          callbacks,
          // Workflow logs (sys.log) go to stderr so stdout stays one JSON line.
          logger: createLogger({ workflow: workflowId }, (line) => process.stderr.write(line + '\n')),
        });
        if (run.state === 'SUCCEEDED') printJson({ state: run.state, result: run.result, stats: run.stats });
        else if (run.state === 'FAILED')
          printJson({
            state: run.state,
            error: run.error.value,
            context: run.error.context,
            stats: run.stats,
          });
        else printJson({ state: run.state, stats: run.stats });
        process.exitCode = run.state === 'SUCCEEDED' ? 0 : 1;
      } finally {
        await callbacks.close();
      }
    });
}
