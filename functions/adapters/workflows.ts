import { ExecutionsClient } from '@google-cloud/workflows';
import type { WorkflowLauncher } from '../ports';
import type { ExecutionState, ExecutionView } from '../domain/sweep';
import { fromSdkError } from '../shared/errors';

/** Starts executions of the deployed `rollout`, `job-run` and `job-rollout` workflows. */
export class WorkflowsLauncher implements WorkflowLauncher {
  constructor(
    private readonly client: ExecutionsClient,
    private readonly project: string,
    private readonly location: string,
  ) {}

  async start(
    workflow: 'rollout' | 'job-run' | 'job-rollout',
    argument: unknown,
    labels: Record<string, string>,
  ): Promise<string> {
    try {
      const [execution] = await this.client.createExecution({
        parent: this.client.workflowPath(this.project, this.location, workflow),
        execution: { argument: JSON.stringify(argument), labels, callLogLevel: 'LOG_ERRORS_ONLY' },
      });
      return execution.name!;
    } catch (err) {
      throw fromSdkError(err, `start ${workflow} workflow`);
    }
  }

  async cancel(executionName: string): Promise<void> {
    try {
      await this.client.cancelExecution({ name: executionName });
    } catch (err) {
      const e = fromSdkError(err, `cancel ${executionName}`);
      // Already finished or gone: nothing to cancel.
      if (e.code !== 'not_found' && e.code !== 'invalid') throw e;
    }
  }

  async state(executionName: string): Promise<ExecutionView> {
    try {
      // FULL: the BASIC view carries no `error`, and the error is the sweeper's reason.
      const [execution] = await this.client.getExecution({ name: executionName, view: 'FULL' });
      const state = String(execution.state ?? 'STATE_UNSPECIFIED');
      const known: ExecutionState[] = ['ACTIVE', 'QUEUED', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
      return {
        state: known.includes(state as ExecutionState) ? (state as ExecutionState) : 'UNKNOWN',
        ...(execution.error?.payload ? { error: execution.error.payload.slice(0, 300) } : {}),
      };
    } catch (err) {
      const e = fromSdkError(err, `read ${executionName}`);
      if (e.code === 'not_found') return { state: 'MISSING' };
      throw e;
    }
  }
}
