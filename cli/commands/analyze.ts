/**
 * `glidepath analyze`: a backtest of the canary judge on recorded Cloud
 * Monitoring responses. Prints the judgement as JSON and exits 0 whenever it
 * could judge; unreadable or malformed input exits 2 naming the field.
 */
import type { Command } from 'commander';
import { judge, type Judgement } from '../../functions/domain/analysis/judge';
import { observationsFromMonitoring } from '../../functions/domain/analysis/monitoring';
import type { Policy } from '../../functions/domain/policy';
import { ValidationError } from '../../functions/domain/validation';
import { UsageError, printJson, readJson, readPolicy } from '../io';

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Judges a metrics file `{canary: {requestCount, requestLatencies}, stable?: {...}}`
 * (each a ListTimeSeries response) against the service's analysis settings.
 */
export function analyzeRecorded(
  policy: Policy,
  serviceName: string,
  metrics: unknown,
  elapsedSeconds?: number,
): Judgement {
  const service = policy.services.find((s) => s.name === serviceName);
  if (!service) {
    throw new UsageError(
      `--service: no service ${JSON.stringify(serviceName)} in the policy (expected one of ${policy.services.map((s) => s.name).join(', ') || 'none'})`,
    );
  }
  if (!isObj(metrics))
    throw new UsageError(
      `metrics: expected {canary: {...}, stable: {...}}, got ${JSON.stringify(metrics)?.slice(0, 60)}`,
    );
  const revision = (key: 'canary' | 'stable') => {
    const value = metrics[key];
    if (!isObj(value) || value.requestCount === undefined) {
      throw new UsageError(
        `metrics.${key}: expected {requestCount: <ListTimeSeries response>, requestLatencies?: <...>}, got ${JSON.stringify(value)?.slice(0, 60) ?? 'nothing'}`,
      );
    }
    try {
      return observationsFromMonitoring(
        { requestCount: value.requestCount, requestLatencies: value.requestLatencies },
        `metrics.${key}`,
      );
    } catch (e) {
      if (e instanceof ValidationError) throw new UsageError(e.message);
      throw e;
    }
  };
  const canary = revision('canary');
  const stable = metrics.stable === undefined || metrics.stable === null ? undefined : revision('stable');
  // Without --elapsed, the step is taken to have begun when the canary's first recorded period did.
  const first = canary.intervals[0];
  const last = canary.intervals[canary.intervals.length - 1];
  const span = first ? (Date.parse(last.endTime) - Date.parse(first.startTime)) / 1000 : 0;
  return judge({
    canary,
    ...(stable ? { stable } : {}),
    settings: service.analysis,
    elapsedSeconds: elapsedSeconds ?? span,
  });
}

function parseElapsed(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value))
    throw new UsageError(`--elapsed: expected a number of seconds, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('judge recorded Cloud Monitoring metrics of a canary and its stable revision (backtest)')
    .requiredOption('--config <file>', 'glidepath.yaml')
    .requiredOption('--service <name>', 'the service whose analysis settings apply')
    .requiredOption(
      '--metrics <file>',
      'JSON {canary: {requestCount, requestLatencies}, stable: {...}} of ListTimeSeries responses',
    )
    .option('--elapsed <seconds>', 'seconds since the step began (default: the span of the canary data)')
    .action((opts: { config: string; service: string; metrics: string; elapsed?: string }) => {
      const policy = readPolicy(opts.config);
      const metrics = readJson(opts.metrics, 'metrics file');
      const { verdict, reasons, figures } = analyzeRecorded(
        policy,
        opts.service,
        metrics,
        parseElapsed(opts.elapsed),
      );
      printJson({ verdict, reasons, figures });
    });
}
