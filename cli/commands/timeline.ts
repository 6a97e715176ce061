/**
 * `glidepath timeline`: the plan of a service's rollout in time, wave by
 * wave and step by step, with the earliest promotion and the worst-case time
 * to roll back (Cloud Monitoring's ingestion delay and every extension counted).
 */
import type { Command } from 'commander';
import { formatDuration } from '../../functions/domain/duration';
import { planTimeline, type Timeline } from '../../functions/domain/analysis/timeline';
import {
  describeReach,
  minRequestsReach,
  quietestRecentRate,
  recentTrafficWindow,
  type Reach,
} from '../../functions/domain/analysis/reach';
import { createMonitoringMetricsSource } from '../../functions/adapters/monitoring';
import { localClientOptions } from '../../functions/shared/endpoint';
import type { ServicePolicy } from '../../functions/domain/policy';
import { UsageError, printJson, readPolicy } from '../io';

/** The service's traffic the check used: from Cloud Monitoring (the quietest first-wave region) or given. */
interface TimelineTraffic {
  source: string;
  reach: Reach;
}

/** Requests per minute over the past hour in the service's quietest first-wave region, and which region. */
async function readQuietestRate(service: ServicePolicy): Promise<{ perMinute: number; region: string }> {
  const metrics = createMonitoringMetricsSource({
    clientOptions: localClientOptions(process.env.GLIDEPATH_MONITORING_ENDPOINT),
  });
  try {
    const window = recentTrafficWindow(Date.now());
    const counts = await Promise.all(
      service.waves[0].map(async (region) => ({
        region,
        traffic: await metrics.serviceRequests(
          { project: service.project, region, service: service.name },
          window,
        ),
      })),
    );
    return quietestRecentRate(counts, window);
  } finally {
    await metrics.close();
  }
}

function formatTraffic(traffic: TimelineTraffic): string {
  return [`  traffic: ${traffic.source}`, ...describeReach(traffic.reach).map((l) => `    ${l}`)].join('\n');
}

export function formatTimeline(t: Timeline): string {
  const d = (seconds: number) => (seconds === 0 ? '0s' : formatDuration(seconds));
  const lines = [
    `${t.service}: ${t.waves.length} wave(s), steps ${t.steps.map((s) => `${s.percent}%`).join(' → ')} → 100%`,
    `  Cloud Monitoring delay ${d(t.ingestionDelaySeconds)} after each 60s sample; a look every minute judges the data that has arrived, so a clear regression (a 503 storm) is rolled back within ${d(t.judgedWithinSeconds)} of its start`,
    `  up to ${t.maxExtensions} extension(s) per step; onInconclusive: ${t.onInconclusive}; the last step passes only once its last minute's data has arrived`,
    `  each region, from its start:`,
    ...t.steps.map(
      (s) =>
        `    step ${s.step}: ${s.percent}% for ${d(s.bakeSeconds)}, starts +${d(s.earliestStartSeconds)}..+${d(s.latestStartSeconds)}; ` +
        `passes ${d(s.earliestPassSeconds)} in at the earliest; a regression not yet significant is rolled back within ${d(s.worstRollbackSeconds)}`,
    ),
    `    promoted +${d(t.regionEarliestSeconds)} at the earliest, +${d(t.regionLatestSeconds)} at the latest`,
    ...t.waves.map(
      (w) =>
        `  wave ${w.wave}: ${w.regions.join(', ')}${w.batches > 1 ? ` (${w.batches} batches)` : ''}: ` +
        `starts +${d(w.earliestStartSeconds)}..+${d(w.latestStartSeconds)}, promoted +${d(w.earliestPromotedSeconds)}..+${d(w.latestPromotedSeconds)}`,
    ),
    `  whole rollout: ${d(t.earliestCompleteSeconds)} at the earliest, ${d(t.latestCompleteSeconds)} at the latest`,
  ];
  return lines.join('\n');
}

export function registerTimeline(program: Command): void {
  program
    .command('timeline')
    .description(
      'print the rollout plan of a service in time: waves, regions, steps, earliest promotion, worst-case rollback',
    )
    .requiredOption('--config <file>', 'glidepath.yaml')
    .requiredOption('--service <name>', 'the service in the policy')
    .option('--rate <requests/min>', 'check minRequests against this request rate of the whole service')
    .option('--recent', "check minRequests against the service's past hour in Cloud Monitoring")
    .option('--json', 'print JSON instead of text')
    .action(
      async (opts: { config: string; service: string; rate?: string; recent?: boolean; json?: boolean }) => {
        const policy = readPolicy(opts.config);
        const service = policy.services.find((s) => s.name === opts.service);
        if (!service) {
          throw new UsageError(
            `--service: no service ${JSON.stringify(opts.service)} in ${opts.config} (expected one of ${policy.services.map((s) => s.name).join(', ') || 'none'})`,
          );
        }
        const timeline = planTimeline(service);
        const steps = service.steps.map((s) => ({ percent: s.percent, bakeSeconds: s.bake }));
        let traffic: TimelineTraffic | undefined;
        if (opts.rate !== undefined) {
          const rate = Number(opts.rate);
          if (!Number.isFinite(rate) || rate < 0)
            throw new UsageError(
              `--rate: expected requests per minute, a number ≥ 0, got ${JSON.stringify(opts.rate)}`,
            );
          traffic = {
            source: `${rate} requests/min (--rate)`,
            reach: minRequestsReach(steps, service.analysis, rate),
          };
        } else if (opts.recent) {
          const { perMinute, region } = await readQuietestRate(service);
          traffic = {
            source: `${perMinute.toFixed(1)} requests/min in ${region} (the quietest region of wave 1, past hour, Cloud Monitoring)`,
            reach: minRequestsReach(steps, service.analysis, perMinute),
          };
        }
        if (opts.json) printJson(traffic ? { ...timeline, traffic } : timeline);
        else
          process.stdout.write(
            formatTimeline(timeline) + (traffic ? `\n${formatTraffic(traffic)}` : '') + '\n',
          );
      },
    );
}
