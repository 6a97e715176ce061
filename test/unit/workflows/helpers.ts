/** Shared by the Workflows emulator's conformance tests. */
import { runWorkflow, type EngineOptions, type RunResult } from '../../../emulators/workflows';
import type { Clock } from '../../../emulators/workflows/runtime';

/** A clock that never waits: sleeping advances virtual time and records the duration. */
export function virtualClock(start = 1_700_000_000_000): Clock & { sleeps: number[] } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

export async function succeed(
  source: string,
  argument: unknown = null,
  options: EngineOptions = {},
): Promise<Extract<RunResult, { state: 'SUCCEEDED' }>> {
  const run = await runWorkflow(source, argument, { clock: virtualClock(), ...options });
  if (run.state !== 'SUCCEEDED') throw new Error(`expected SUCCEEDED, got ${JSON.stringify(run)}`);
  return run;
}

export async function fail(source: string, options: EngineOptions = {}): Promise<Record<string, unknown>> {
  const run = await runWorkflow(source, null, { clock: virtualClock(), ...options });
  if (run.state !== 'FAILED') throw new Error(`expected FAILED, got ${JSON.stringify(run)}`);
  return run.error.value as Record<string, unknown>;
}

/** A workflow returning one expression. */
export const ret = (expr: string): string => `- r:\n    return: '\${${expr.replace(/'/g, "''")}}'\n`;
