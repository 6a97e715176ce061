/**
 * `glidepath status | redeploy | abort | history`: rollouts as Firestore
 * holds them (design brief §4), a manual deploy request, an abort, and the
 * past rollouts of a service with its DORA figures (functions/domain/dora.ts).
 * Every document read is validated with the records' zod schemas.
 */
import { execFileSync } from 'node:child_process';
import type { Command } from 'commander';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { FirestoreRolloutStore } from '../../functions/adapters/firestore-store';
import { listRollouts } from '../../functions/adapters/report-source';
import { decideIntake } from '../../functions/domain/intake';
import { DeployRequest, TOPICS } from '../../functions/domain/messages';
import type { RolloutRecord } from '../../functions/domain/records';
import { doraFigures, type DoraFigures } from '../../functions/domain/dora';
import { formatDuration } from '../../functions/domain/duration';
import { describeIssues } from '../../functions/domain/validation';
import { configureRuntime, runtime } from '../../functions/entry/runtime';
import { gateDecisionDeps, rolloutDeps } from '../../functions/actions/rollout';
import { abort } from '../../functions/usecases/rollout';
import { decideGate } from '../../functions/usecases/gates';
import { describeDecider, type GateDecision } from '../../functions/domain/gates';
import { createLogger, silentLogger } from '../../functions/shared/log';
import { UsageError, printJson, readPolicy } from '../io';
import { cloudOptions, projectFirestore, requireProject, type CloudOptions } from './jobs';
import { pubsubEmulatorOptions } from '../../functions/shared/endpoint';

// ---------------------------------------------------------------- reading

async function withFirestore<T>(opts: CloudOptions, fn: (db: Firestore) => Promise<T>): Promise<T> {
  const db = projectFirestore(opts);
  try {
    return await fn(db);
  } finally {
    await db.terminate();
  }
}

// ---------------------------------------------------------------- views

interface RegionView {
  status: string;
  stableRevision?: string | null;
  candidateRevision?: string;
  traffic: Record<string, number>;
  reason?: string;
  steps: Array<{ index: number; percent: number; verdict?: string; reasons: string[]; extensions: number }>;
}

interface RolloutView {
  id: string;
  service: string;
  image: string;
  digest: string;
  source: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  endedAt?: string;
  outcomeReason?: string;
  executionName?: string;
  regions: Record<string, RegionView>;
  /** Approval gates: who may answer a waiting one and until when, who answered the others. */
  gates?: GateView[];
}

interface GateView {
  name: string;
  status: string;
  approvers: string[];
  expiresAt: string;
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

function rolloutView(r: RolloutRecord): RolloutView {
  const regions: Record<string, RegionView> = {};
  for (const [name, region] of Object.entries(r.regions)) {
    regions[name] = {
      status: region.status,
      ...(region.stableRevision !== undefined ? { stableRevision: region.stableRevision } : {}),
      ...(region.candidateRevision ? { candidateRevision: region.candidateRevision } : {}),
      traffic: region.traffic,
      ...(region.reason ? { reason: region.reason } : {}),
      steps: region.steps.map((s) => ({
        index: s.index,
        percent: s.percent,
        ...(s.verdict ? { verdict: s.verdict } : {}),
        reasons: s.reasons,
        extensions: s.extensions,
      })),
    };
  }
  return {
    id: r.id,
    service: r.service,
    image: r.image,
    digest: r.digest,
    source: r.source,
    status: r.status,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.endedAt ? { endedAt: r.endedAt } : {}),
    ...(r.outcomeReason ? { outcomeReason: r.outcomeReason } : {}),
    ...(r.executionName ? { executionName: r.executionName } : {}),
    regions,
    ...(r.gates
      ? {
          gates: Object.values(r.gates).map((g) => ({
            name: g.name,
            status: g.status,
            approvers: g.approvers,
            expiresAt: g.expiresAt,
            ...(g.decidedBy ? { decidedBy: describeDecider(g.decidedBy) } : {}),
            ...(g.decidedAt ? { decidedAt: g.decidedAt } : {}),
            ...(g.reason ? { reason: g.reason } : {}),
          })),
        }
      : {}),
  };
}

/** One line per gate: a waiting one says who may approve it and when it expires. */
function gateLines(r: RolloutView): string[] {
  return (r.gates ?? []).map((g) =>
    g.status === 'WAITING'
      ? `  gate ${g.name}: WAITING for one of ${g.approvers.join(', ')} until ${g.expiresAt} (glidepath approve|reject ${r.id})`
      : `  gate ${g.name}: ${g.status}${g.decidedBy ? ` by ${g.decidedBy} at ${g.decidedAt}` : ''}${g.reason ? `: ${g.reason}` : ''}`,
  );
}

export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 13);
}

export function formatTraffic(traffic: Record<string, number>): string {
  const entries = Object.entries(traffic).sort((a, b) => b[1] - a[1]);
  return entries.length ? entries.map(([rev, pct]) => `${rev} ${pct}%`).join(', ') : '-';
}

function pad(s: string, n: number): string {
  return s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length);
}

/** The human table of one rollout. */
function rolloutText(r: RolloutView): string {
  const lines = [
    `rollout ${r.id}  ${r.status}  (${r.service}, from ${r.source}, started ${r.createdAt}${r.endedAt ? `, ended ${r.endedAt}` : ''})`,
    `  image: ${r.image}`,
  ];
  if (r.outcomeReason) lines.push(`  outcome: ${r.outcomeReason}`);
  lines.push(...gateLines(r));
  const regions = Object.entries(r.regions);
  if (!regions.length) {
    lines.push('  no region started yet');
    return lines.join('\n');
  }
  const width = Math.max(6, ...regions.map(([n]) => n.length)) + 2;
  lines.push(`  ${pad('REGION', width)}${pad('STATUS', 13)}TRAFFIC`);
  for (const [name, region] of regions) {
    lines.push(`  ${pad(name, width)}${pad(region.status, 13)}${formatTraffic(region.traffic)}`);
    if (region.reason) lines.push(`  ${' '.repeat(width)}reason: ${region.reason}`);
    for (const s of region.steps) {
      const ext = s.extensions ? ` (+${s.extensions} bake extension${s.extensions > 1 ? 's' : ''})` : '';
      const reasons = s.reasons.length ? `: ${s.reasons.join('; ')}` : '';
      lines.push(
        `  ${' '.repeat(width)}step ${s.index} ${s.percent}%  ${s.verdict ?? 'pending'}${ext}${reasons}`,
      );
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- history

interface HistoryRow {
  id: string;
  digest: string;
  source: string;
  status: string;
  createdAt: string;
  endedAt?: string;
  /** createdAt → endedAt, or → now while it runs. */
  seconds: number;
  outcomeReason?: string;
}

function historyRow(r: RolloutRecord, now: Date): HistoryRow {
  const end = r.endedAt ? Date.parse(r.endedAt) : now.getTime();
  return {
    id: r.id,
    digest: shortDigest(r.digest),
    source: r.source,
    status: r.status,
    createdAt: r.createdAt,
    ...(r.endedAt ? { endedAt: r.endedAt } : {}),
    seconds: Math.max(0, Math.round((end - Date.parse(r.createdAt)) / 1000)),
    ...(r.outcomeReason ? { outcomeReason: r.outcomeReason } : {}),
  };
}

const seconds = (s: number | null): string => (s === null ? 'n/a' : formatDuration(Math.round(s)));

function doraText(d: DoraFigures): string {
  const cfr = d.changeFailureRate;
  return [
    `DORA over ${d.rollouts} rollout(s), ${d.window.days} day(s) since ${d.window.from ?? '-'}:`,
    `  deployment frequency: ${d.deploymentFrequency.perDay}/day (${d.deploymentFrequency.promoted} promoted)`,
    `  lead time: median ${seconds(d.leadTime.medianSeconds)}, mean ${seconds(d.leadTime.meanSeconds)} over ${d.leadTime.measured} (${d.leadTime.measures})`,
    `  change failure rate: ${cfr.rate === null ? 'n/a' : `${Math.round(cfr.rate * 1000) / 10}%`} (${cfr.failed} of ${cfr.finished} finished; ${cfr.excluded} superseded/aborted left out)`,
    `  time to restore: median ${seconds(d.timeToRestore.medianSeconds)}, mean ${seconds(d.timeToRestore.meanSeconds)} over ${d.timeToRestore.measured} (${d.timeToRestore.measures})`,
  ].join('\n');
}

// ---------------------------------------------------------------- approve / reject

/** Decides the rollout's gate (the waiting one unless `gate` is given) as `by`, through decideGate. */
async function decideRollout(
  rt: ReturnType<typeof runtime>,
  rolloutId: string,
  decision: GateDecision,
  by: string,
  opts: { gate?: string; reason?: string } = {},
) {
  const rollout = await rt.store.getRollout(rolloutId);
  if (!rollout) throw new UsageError(`rollout ${rolloutId} not found`);
  const gate = opts.gate ?? Object.values(rollout.gates ?? {}).find((g) => g.status === 'WAITING')?.name;
  if (!gate)
    return {
      kind: 'unchanged' as const,
      message: `rollout ${rolloutId} (${rollout.status}) has no gate waiting`,
    };
  return decideGate(gateDecisionDeps({ rt, log: rt.log }), {
    rolloutId,
    gate,
    decision,
    by: { via: 'cli', id: by, ...(by.includes('@') ? { email: by } : {}) },
    ...(opts.reason ? { reason: opts.reason } : {}),
  });
}

// ---------------------------------------------------------------- redeploy

/** Who asks: --requested-by, else $USER, else `git config user.email`. */
export function defaultRequester(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.USER) return env.USER;
  try {
    const email = execFileSync('git', ['config', 'user.email'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return email || undefined;
  } catch {
    return undefined;
  }
}

interface RedeployOptions {
  service: string;
  image: string;
  reason: string;
  regions?: string;
  requestedBy?: string;
  config?: string;
}

/** The deploy request, validated as intake validates it; throws UsageError when it would be refused. */
export function buildDeployRequest(
  opts: RedeployOptions,
  requester: () => string | undefined = () => defaultRequester(),
): DeployRequest {
  const regions = opts.regions
    ?.split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (opts.regions !== undefined && !regions?.length) throw new UsageError('--regions: expected a,b,…');
  const requestedBy = opts.requestedBy ?? requester();
  if (!requestedBy)
    throw new UsageError('--requested-by: expected who asks (USER and git user.email are unset)');
  const candidate = {
    service: opts.service,
    image: opts.image,
    reason: opts.reason,
    requestedBy,
    ...(regions ? { regions } : {}),
  };
  const parsed = DeployRequest.safeParse(candidate);
  if (!parsed.success) throw new UsageError(`deploy request: ${describeIssues(parsed.error).join('; ')}`);
  if (opts.config) {
    const policy = readPolicy(opts.config);
    const decision = decideIntake(policy, TOPICS.deployRequests, {
      data: Buffer.from(JSON.stringify(parsed.data)).toString('base64'),
      attributes: {},
      messageId: 'glidepath-cli-check',
      publishTime: new Date().toISOString(),
    });
    if (decision.outcome !== 'rollout')
      throw new UsageError(
        `refused by the policy ${opts.config} (intake would say ${decision.outcome}): ${decision.reason}`,
      );
  }
  return parsed.data;
}

// ---------------------------------------------------------------- commands

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag}: expected a positive integer, got ${value}`);
  return n;
}

export function registerRollouts(program: Command): void {
  cloudOptions(
    program
      .command('status [target]')
      .description('live progress of a rollout (by id), of a service (by name), or of every active rollout'),
  ).action(async (target: string | undefined, opts: CloudOptions) => {
    const out = await withFirestore(opts, async (db) => {
      // The store's own reads (validated the same way), not copies of them.
      const store = new FirestoreRolloutStore(db);
      if (!target) {
        const active: RolloutView[] = [];
        for (const service of await store.listServices()) {
          if (!service.activeRollout) continue;
          const r = await store.getRollout(service.activeRollout);
          if (r) active.push(rolloutView(r));
        }
        return { kind: 'all' as const, rollouts: active };
      }
      const rollout = await store.getRollout(target);
      if (rollout) return { kind: 'rollout' as const, rollout: rolloutView(rollout) };
      const service = await store.getService(target);
      const active = service?.activeRollout ? await store.getRollout(service.activeRollout) : undefined;
      const latest = active ?? (await listRollouts(db, target, 1))[0];
      if (!service && !latest)
        throw new UsageError(`${target}: no rollout or service of that name in ${opts.project}`);
      return {
        kind: 'service' as const,
        service: {
          name: target,
          activeRollout: service?.activeRollout ?? null,
          queue: service?.queue ?? [],
          lastGood: service?.lastGood ?? {},
          lastFailedDigest: service?.lastFailedDigest ?? null,
        },
        rollout: latest ? rolloutView(latest) : null,
      };
    });
    if (opts.json) {
      return printJson(Object.fromEntries(Object.entries(out).filter(([k]) => k !== 'kind')));
    }
    if (out.kind === 'all') {
      if (!out.rollouts.length) return void process.stdout.write('no active rollouts\n');
      return void process.stdout.write(out.rollouts.map(rolloutText).join('\n\n') + '\n');
    }
    if (out.kind === 'rollout') return void process.stdout.write(rolloutText(out.rollout) + '\n');
    const s = out.service;
    const lastGood = Object.entries(s.lastGood).map(([region, rev]) => `${region}=${rev}`);
    const lines = [
      `service ${s.name}`,
      `  lease: ${s.activeRollout ?? 'free'}${s.queue.length ? `  (queued: ${s.queue.join(', ')})` : ''}`,
      `  last good: ${lastGood.join(', ') || 'none'}`,
      ...(s.lastFailedDigest ? [`  last failed digest: ${s.lastFailedDigest}`] : []),
      out.rollout
        ? `${s.activeRollout ? 'active' : 'latest'} ${rolloutText(out.rollout)}`
        : '  no rollouts yet',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  });

  cloudOptions(
    program
      .command('redeploy')
      .description('publish a manual deploy request to glidepath-deploy-requests (GLIDEPATH_DEPLOY_TOPIC)'),
  )
    .requiredOption('--service <name>', 'the service to deploy')
    .requiredOption('--image <ref>', 'the image, repository@sha256:… or repository:tag')
    .requiredOption('--reason <text>', 'why (recorded on the rollout)')
    .option('--regions <a,b>', 'only these regions')
    .option('--requested-by <who>', 'who asks (default: $USER, then git config user.email)')
    .option('--config <file>', 'check the request against this policy first, as intake would')
    .action(async (opts: CloudOptions & RedeployOptions) => {
      const request = buildDeployRequest(opts);
      const project = requireProject(opts);
      const topic = process.env.GLIDEPATH_DEPLOY_TOPIC || TOPICS.deployRequests;
      const pubsub = new PubSub({
        projectId: project,
        ...pubsubEmulatorOptions(),
      });
      let messageId: string;
      try {
        messageId = await pubsub.topic(topic).publishMessage({ json: request });
      } finally {
        await pubsub.close();
      }
      if (opts.json) return printJson({ messageId, topic, request });
      process.stdout.write(
        `published deploy request ${messageId} to ${topic}: ${request.service} ← ${request.image}\n`,
      );
    });

  cloudOptions(
    program
      .command('abort <rollout>')
      .description('abort a rollout: cancel its workflow execution and roll back every region not promoted'),
  )
    .option('--by <who>', 'who aborts (default: $USER, then git config user.email)')
    .option('--config <file>', 'the policy file (GLIDEPATH_POLICY_FILE)')
    .option('--verbose', 'structured logs to stderr')
    .action(async (id: string, opts: CloudOptions & { by?: string; config?: string; verbose?: boolean }) => {
      process.env.GLIDEPATH_PROJECT = requireProject(opts);
      if (opts.config) process.env.GLIDEPATH_POLICY_FILE = opts.config;
      const by = opts.by ?? defaultRequester() ?? 'glidepath-cli';
      // The runtime reads its environment when built: forget any built before.
      configureRuntime({
        log: opts.verbose
          ? createLogger({ component: 'glidepath-cli' }, (line) => process.stderr.write(line + '\n'))
          : silentLogger,
      });
      const rt = runtime();
      try {
        const ended = await abort(rolloutDeps({ rt, log: rt.log }), id, by);
        const view = rolloutView(ended);
        if (opts.json) return printJson(view);
        process.stdout.write(rolloutText(view) + '\n');
      } finally {
        await rt.firestore.terminate().catch(() => undefined);
      }
    });

  for (const decision of ['approve', 'reject'] as const) {
    cloudOptions(
      program
        .command(`${decision} <rollout>`)
        .description(
          `${decision} the rollout's waiting approval gate (you must be one of its approvers; recorded as redeploy records who asks)`,
        ),
    )
      .option('--reason <text>', 'why (recorded with the decision)')
      .option('--gate <name>', 'the gate (default: the one waiting)')
      .option('--by <who>', 'who decides (default: $USER, then git config user.email)')
      .option('--config <file>', 'the policy file (GLIDEPATH_POLICY_FILE)')
      .action(
        async (
          id: string,
          opts: CloudOptions & { reason?: string; gate?: string; by?: string; config?: string },
        ) => {
          process.env.GLIDEPATH_PROJECT = requireProject(opts);
          if (opts.config) process.env.GLIDEPATH_POLICY_FILE = opts.config;
          const by = opts.by ?? defaultRequester();
          if (!by) throw new UsageError('--by: expected who decides (USER and git user.email are unset)');
          configureRuntime({ log: silentLogger });
          const rt = runtime();
          try {
            const result = await decideRollout(rt, id, decision, by, opts);
            if (opts.json) printJson(result);
            else process.stdout.write(`${result.message}\n`);
            if (result.kind !== 'decided') process.exitCode = result.kind === 'not_allowed' ? 3 : 1;
          } finally {
            await rt.firestore.terminate().catch(() => undefined);
          }
        },
      );
  }

  cloudOptions(
    program
      .command('history <service>')
      .description('past rollouts of a service, newest first, with DORA figures'),
  )
    .option('--limit <n>', 'how many rollouts', '20')
    .action(async (service: string, opts: CloudOptions & { limit: string }) => {
      const limit = positiveInt(opts.limit, '--limit');
      const records = await withFirestore(opts, (db) => listRollouts(db, service, limit));
      const now = new Date();
      const rows = records.map((r) => historyRow(r, now));
      const dora = doraFigures(records, now);
      if (opts.json) return printJson({ service, rollouts: rows, dora });
      if (!rows.length) return void process.stdout.write(`no rollouts of ${service}\n`);
      for (const r of rows) {
        process.stdout.write(
          `${r.createdAt}  ${r.id}  ${r.digest}  ${pad(r.source, 12)}${pad(r.status, 12)}${pad(r.endedAt ? formatDuration(r.seconds) : `${formatDuration(r.seconds)}…`, 8)}${r.outcomeReason ?? ''}\n`,
        );
      }
      process.stdout.write('\n' + doraText(dora) + '\n');
    });
}
