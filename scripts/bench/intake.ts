/**
 * `npm run bench -- intake [--events 500] [--rate 50]`: publishes events, paced
 * at --rate per second (0 = all at once), through the real
 * Pub/Sub emulator to the intake function (push), with 20% duplicates and
 * 10% malformed, and measures publish → execution-start request latency,
 * throughput, duplicates started and messages lost; then the cold import
 * time of each bundled function (median of 10 fresh processes).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { Firestore } from '@google-cloud/firestore';
import { startGoogleEmulators } from '../../emulators/google';
import { hostFunction, pushEndpoint } from '../../emulators/functions-host';
import { ensurePushSubscription } from '../../emulators/pubsub-setup';
import { startSlackSink } from '../../emulators/slack-sink';
import { waitFor } from '../../emulators/util';
import { startRecordingExecutions } from '../../test/helpers/recording-executions';
import { createLogger } from '../../functions/shared/log';
import { buildFunctions, FUNCTIONS } from '../build';
import { configureRuntime } from '../../functions/entry/runtime';
import '../../functions/entry/intake';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
const SERVICES = 25;

async function main(): Promise<void> {
  const total = arg('events', 500);
  const rate = arg('rate', 50);
  const project = 'bench-intake';
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-bench-'));
  const policyFile = join(dir, 'glidepath.yaml');
  writeFileSync(
    policyFile,
    `services:\n${Array.from({ length: SERVICES }, (_, i) => `  - { name: svc-${i}, project: ${project}, image: us-docker.pkg.dev/${project}/apps/svc-${i}, waves: [[us-central1]] }`).join('\n')}\n`,
  );

  const google = await startGoogleEmulators();
  Object.assign(process.env, google.env);
  const executions = await startRecordingExecutions();
  const slack = await startSlackSink();
  Object.assign(process.env, {
    GLIDEPATH_PROJECT: project,
    GLIDEPATH_POLICY_FILE: policyFile,
    GLIDEPATH_WORKFLOWS_ENDPOINT: executions.host,
    SLACK_WEBHOOK_URL: slack.url,
  });
  const outcomes = new Map<string, string>();
  configureRuntime({
    log: createLogger({}, (line) => {
      const e = JSON.parse(line);
      if (e.outcome && e.messageId) outcomes.set(e.messageId, e.outcome);
    }),
  });
  const fn = await hostFunction('intake');
  const pubsub = new PubSub({ projectId: project });
  await ensurePushSubscription(pubsub, {
    topic: 'gcr',
    name: 'gcr-intake',
    endpoint: pushEndpoint(fn, project, 'gcr'),
  });

  // 70% unique images, 20% duplicates of earlier ones, 10% malformed.
  const events: Array<{ kind: 'unique' | 'duplicate' | 'malformed'; payload: Buffer; digest?: string }> = [];
  const uniques: Array<{ payload: Buffer; digest: string }> = [];
  for (let i = 0; i < total; i++) {
    const r = i % 10;
    if (r === 9)
      events.push({
        kind: 'malformed',
        payload: Buffer.from(i % 20 === 9 ? '{"action":"INSERT","digest":"nope"}' : 'not json'),
      });
    else if ((r === 3 || r === 6) && uniques.length) {
      const u = uniques[(i * 7) % uniques.length];
      events.push({ kind: 'duplicate', payload: u.payload, digest: u.digest });
    } else {
      const digest = `sha256:${i.toString(16).padStart(64, '0')}`;
      const repo = `us-docker.pkg.dev/${project}/apps/svc-${i % SERVICES}`;
      const payload = Buffer.from(
        JSON.stringify({ action: 'INSERT', digest: `${repo}@${digest}`, tag: `${repo}:b${i}` }),
      );
      uniques.push({ payload, digest });
      events.push({ kind: 'unique', payload, digest });
    }
  }

  const publishedAt = new Map<string, number>();
  const t0 = Date.now();
  const ids = await Promise.all(
    events.map(async (e, i) => {
      if (rate > 0) await new Promise((r) => setTimeout(r, (i * 1000) / rate));
      const at = Date.now();
      const id = await pubsub.topic('gcr').publishMessage({ data: e.payload });
      if (e.kind === 'unique' && e.digest && !publishedAt.has(e.digest)) publishedAt.set(e.digest, at);
      return id;
    }),
  );
  await waitFor(() => ids.every((id) => outcomes.has(id)), {
    timeoutMs: 180_000,
    what: 'every message to reach an outcome',
    intervalMs: 100,
  });
  const elapsed = (Date.now() - t0) / 1000;

  const startsByDigest = new Map<string, number[]>();
  for (const e of executions.created) {
    const digest = (e.argument as { digest: string }).digest;
    startsByDigest.set(digest, [...(startsByDigest.get(digest) ?? []), e.at]);
  }
  const latencies = [...publishedAt].flatMap(([digest, at]) =>
    (startsByDigest.get(digest) ?? []).slice(0, 1).map((s) => s - at),
  );
  const count = (o: string) => [...outcomes.values()].filter((x) => x === o).length;

  await fn.stop();
  await pubsub.close();
  await executions.stop();
  await slack.stop();
  await google.stop();

  // Cold start: import each bundle in fresh processes.
  const outDir = join(dir, 'dist');
  await buildFunctions(outDir);
  const importMs: Record<string, number> = {};
  for (const f of FUNCTIONS) {
    const runs = Array.from({ length: 10 }, () =>
      Number(
        execFileSync(
          process.execPath,
          [
            '-e',
            `const t=process.hrtime.bigint();require(${JSON.stringify(join(outDir, f.name, 'index.js'))});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`,
          ],
          {
            cwd: join(__dirname, '..', '..'),
            env: { ...process.env, NODE_PATH: join(__dirname, '..', '..', 'node_modules') },
          },
        ).toString(),
      ),
    );
    importMs[f.name] = Math.round(quantile(runs, 0.5) * 10) / 10;
  }
  // Baseline in the same process: the bare functions-framework import.
  const frameworkMs = quantile(
    Array.from({ length: 10 }, () =>
      Number(
        execFileSync(process.execPath, [
          '-e',
          `const t=process.hrtime.bigint();require('@google-cloud/functions-framework');process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`,
        ]).toString(),
      ),
    ),
    0.5,
  );

  process.stdout.write(
    JSON.stringify({
      events: total,
      ratePerSecond: rate || 'burst',
      published: {
        unique: uniques.length,
        duplicates: events.filter((e) => e.kind === 'duplicate').length,
        malformed: events.filter((e) => e.kind === 'malformed').length,
      },
      outcomes: { rollout: count('rollout'), ignored: count('ignored'), rejected: count('rejected') },
      publishToExecutionStartMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) },
      eventsPerSecond: Math.round((total / elapsed) * 10) / 10,
      duplicatesStarted: [...startsByDigest.values()].filter((s) => s.length > 1).length,
      messagesLost: ids.filter((id) => !outcomes.has(id)).length,
      rolloutsWithoutExecution: uniques.filter((u) => !startsByDigest.has(u.digest)).length,
      importMsMedian: importMs,
      baselineFrameworkImportMsMedian: Math.round(frameworkMs * 10) / 10,
      targets: { p99Ms: 500, importMs: 250 },
    }) + '\n',
  );
  // Firestore's client keeps sockets open; the figures are printed, so leave.
  void Firestore;
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench intake failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
