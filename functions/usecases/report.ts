/**
 * A rollout's report: built from Firestore alone (ReportSource), rendered
 * to one HTML page, and at the end of a rollout published (ReportPublisher)
 * for the final Slack message to link.
 */
import { doraFigures } from '../domain/dora';
import type { RolloutRecord } from '../domain/records';
import type { Clock, ReportPublisher, ReportSource } from '../ports';
import { reportModel } from '../report/model';
import type * as renderModule from '../report/render';
import { GlidepathError } from '../shared/errors';
import type { Logger } from '../shared/log';

/** How many of the service's latest rollouts its DORA figures are computed from (as `glidepath history`'s default). */
const DORA_HISTORY = 20;

export async function buildReport(
  source: ReportSource,
  rolloutId: string,
  now: Date,
): Promise<{ rollout: RolloutRecord; html: string }> {
  const rollout = await source.rollout(rolloutId);
  if (!rollout) throw new GlidepathError('not_found', `rollout ${rolloutId} not found`);
  const [events, looks, history] = await Promise.all([
    source.events(rolloutId),
    source.looks(rolloutId),
    source.history(rollout.service, DORA_HISTORY),
  ]);
  // Vega loads on the first report, not on the actions function's cold start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { renderReport } = require('../report/render') as typeof renderModule;
  const html = await renderReport(
    reportModel({ rollout, events, looks, dora: doraFigures(history, now), now }),
  );
  return { rollout, html };
}

/**
 * Writes the report of a finished rollout and returns its URL; undefined when
 * no publisher is configured or the report could not be written (logged: the
 * rollout's end and its Slack message must not wait on a chart).
 */
export async function publishReport(
  deps: { reportSource: ReportSource; reports?: ReportPublisher; clock: Clock; log: Logger },
  rolloutId: string,
): Promise<string | undefined> {
  if (!deps.reports) return undefined;
  try {
    const { rollout, html } = await buildReport(deps.reportSource, rolloutId, deps.clock.now());
    const { url } = await deps.reports.publish(rollout, html);
    deps.log.info('report written', { rolloutId, service: rollout.service, url });
    return url;
  } catch (err) {
    deps.log.warn('report not written', { rolloutId, error: (err as Error).message });
    return undefined;
  }
}
