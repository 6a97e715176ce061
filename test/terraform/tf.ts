/**
 * Runs the terraform binary offline (fmt, console on a provider-less
 * directory). Where it is absent the tests that need it are skipped with a
 * message, except under CI=true, where that is a failure.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..');
export const TERRAFORM_DIR = join(REPO, 'terraform');

const env = {
  ...process.env,
  TF_CLI_CONFIG_FILE: '/dev/null',
  TF_IN_AUTOMATION: '1',
  CHECKPOINT_DISABLE: '1',
};

function terraformAvailable(): boolean {
  const r = spawnSync('terraform', ['version'], { env, encoding: 'utf8' });
  return r.status === 0;
}

/** Whether tests needing terraform should run; throws under CI=true when it is missing. */
export function requireTerraform(what: string): boolean {
  if (terraformAvailable()) return true;
  if (process.env.CI === 'true') throw new Error(`terraform is not installed, and CI=true: cannot ${what}`);
  process.stderr.write(`\n[glidepath] terraform not found on PATH: SKIPPING ${what}\n\n`);
  return false;
}

export function terraform(
  args: string[],
  opts: { cwd?: string; input?: string } = {},
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('terraform', args, {
    env,
    encoding: 'utf8',
    cwd: opts.cwd,
    input: opts.input,
    timeout: 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
