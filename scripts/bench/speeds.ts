/**
 * `npm run bench -- speeds [--speeds 1,2,5,10,20,40,60] [--rate 20] [--runs 1]`:
 * issue #15's "a healthy image must promote in every region under simulate at
 * any speed from 1 to 60". At each speed, a fresh local cloud with Monitoring's
 * sampling and ingestion delay scaled to it, a healthy image pushed over a
 * stable one, the load at `--rate` real requests per second per region (the
 * judge sees `speed` times as many: evidencePerRequest). Prints each run's
 * outcome, the extensions it needed and its real and policy durations.
 */
import { join } from 'node:path';
import { simulate } from '../../emulators/simulate';
import { startLocalCloud } from '../../emulators/local-cloud';
import { startGoogleEmulators } from '../../emulators/google';

function listOption(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const values = String(process.argv[i + 1] ?? '')
    .split(',')
    .map(Number);
  if (!values.length || values.some((v) => !(v >= 1 && v <= 60)))
    throw new Error(
      `--${name}: expected numbers from 1 to 60 separated by commas, got ${process.argv[i + 1]}`,
    );
  return values;
}
const speeds = listOption('speeds', [1, 2, 5, 10, 20, 40, 60]);
const [rate] = listOption('rate', [20]);
const [runs] = listOption('runs', [1]);

async function once(speed: number, run: number) {
  const dir = join(__dirname, 'speeds');
  const policyFile = join(dir, 'policy.yaml');
  const profilesFile = join(dir, 'profiles.json');
  const cloud = await startLocalCloud({
    projectId: `bench-speeds-${speed}-${run}`,
    policyFile,
    speed,
    reuseGoogleEmulators: true,
    cloudRun: { profilesPath: profilesFile, readyDelayMs: 300, simulateLatency: false },
  });
  try {
    const image = 'us-docker.pkg.dev/bench-project/apps/sweep';
    const started = Date.now();
    const { rollouts } = await simulate({
      policyFile,
      profilesFile,
      pushes: [`${image}:v1`, `${image}:v2`],
      cloud,
      ratePerSecond: rate,
      // The policy's worst case (both steps to their last extension, plus the data delay), and a margin.
      rolloutTimeoutMs: ((2 * 3 * 120 + 240) * 1000 * 1.5) / speed + 120_000,
    });
    const [r] = rollouts;
    const doc = (await cloud.firestore.doc(`rollouts/${r.id}`).get()).data()!;
    const regions = doc.regions as Record<string, { status: string; steps: Array<{ extensions?: number }> }>;
    return {
      speed,
      status: r.status,
      reason: r.reason,
      regions: Object.fromEntries(Object.entries(regions).map(([k, v]) => [k, v.status])),
      extensions: Object.values(regions).reduce(
        (n, reg) => n + reg.steps.reduce((m, s) => m + (s.extensions ?? 0), 0),
        0,
      ),
      realSeconds: Math.round((Date.now() - started) / 100) / 10,
      policySeconds: Math.round(((Date.now() - started) / 1000) * speed),
    };
  } finally {
    await cloud.stop();
  }
}

async function main(): Promise<void> {
  // One pair of Google emulators for every run: each local cloud has its own project id.
  const google = await startGoogleEmulators();
  Object.assign(process.env, google.env);
  const results = [];
  try {
    for (const speed of speeds) for (let run = 1; run <= runs; run++) results.push(await once(speed, run));
  } finally {
    await google.stop();
  }
  const promoted = results.filter((r) => r.status === 'PROMOTED').length;
  process.stdout.write(JSON.stringify({ rate, runs: results.length, promoted, results }) + '\n');
  process.exit(promoted === results.length ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`bench speeds failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
