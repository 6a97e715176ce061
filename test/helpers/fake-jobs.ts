/** Cloud Run Jobs (functions/ports.ts, JobRunner) in memory, for the fast job tests. */
import type { GlidepathError } from '../../functions/shared/errors';
import type { JobExecutionState, JobRunner } from '../../functions/ports';

/** Cloud Run Jobs in memory: executions by name, with the env each was started with. */
export class FakeJobs implements JobRunner {
  readonly executions = new Map<string, JobExecutionState & { env: Record<string, string> }>();
  readonly cancelled: string[] = [];
  /** The next run() fails with this error. */
  failNextRun?: GlidepathError;
  private held?: { entered: () => void; released: Promise<void> };

  /**
   * Makes the next run() wait, inside the call, until `release`: `entered`
   * resolves once a caller is in it. A second caller meanwhile is the race.
   */
  holdNextRun(): { entered: Promise<void>; release: () => void } {
    let entered!: () => void;
    let release!: () => void;
    const enteredP = new Promise<void>((resolve) => (entered = resolve));
    this.held = { entered, released: new Promise<void>((resolve) => (release = resolve)) };
    return { entered: enteredP, release };
  }

  async run(
    job: { project: string; region: string; job: string },
    overrides?: { args?: string[]; env?: Record<string, string> },
  ): Promise<string> {
    const held = this.held;
    if (held) {
      this.held = undefined;
      held.entered();
      await held.released;
    }
    if (this.failNextRun) {
      const err = this.failNextRun;
      this.failNextRun = undefined;
      throw err;
    }
    const name = `projects/${job.project}/locations/${job.region}/jobs/${job.job}/executions/x${this.executions.size + 1}`;
    this.executions.set(name, {
      name,
      state: 'RUNNING',
      succeededCount: 0,
      failedCount: 0,
      env: overrides?.env ?? {},
    });
    return name;
  }
  async getExecution(name: string): Promise<JobExecutionState> {
    return this.executions.get(name)!;
  }
  async cancel(name: string): Promise<void> {
    this.cancelled.push(name);
    this.end(name, { state: 'CANCELLED' });
  }
  async findExecution(_job: unknown, marker: { name: string; value: string }): Promise<string | undefined> {
    return [...this.executions.values()].find((e) => e.env[marker.name] === marker.value)?.name;
  }
  end(name: string, how: Partial<JobExecutionState>): void {
    this.executions.set(name, { ...this.executions.get(name)!, ...how });
  }
}
