/**
 * `npm run local-cloud [-- --policy FILE] [--profiles FILE] [--speed N]`:
 * starts the whole local cloud, prints every endpoint and the environment
 * for the CLI, and runs until Ctrl-C.
 */
import { join } from 'node:path';
import { startLocalCloud } from '../emulators/local-cloud';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};

async function main(): Promise<void> {
  const demo = join(__dirname, 'demo');
  const speed = Number(arg('speed', '1'));
  const cloud = await startLocalCloud({
    policyFile: arg('policy', join(demo, 'policy.yaml')),
    speed,
    // As Cloud Scheduler does: every 5 minutes of (scaled) time.
    sweepEveryMs: 300_000 / speed,
    cloudRun: { profilesPath: arg('profiles', join(demo, 'profiles.json')) },
    logLine: (line) => process.stderr.write(line + '\n'),
  });
  for (const [name, url] of Object.entries(cloud.endpoints()))
    process.stdout.write(`${name.padEnd(44)} ${url}\n`);
  process.stdout.write('\nEnvironment for the CLI:\n');
  for (const [k, v] of Object.entries(cloud.env)) process.stdout.write(`export ${k}=${v}\n`);
  process.stdout.write('\nRunning; Ctrl-C stops everything.\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await cloud.stop();
}

main().catch((err) => {
  process.stderr.write(`local cloud failed: ${err?.message ?? err}\n`);
  process.exit(1);
});
