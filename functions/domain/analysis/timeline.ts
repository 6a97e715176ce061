/**
 * How long a service's rollout takes, wave by wave and step by step, as the
 * `rollout` workflow runs it: shift, bake, analyze; INCONCLUSIVE extends the
 * bake up to maxExtensions times. Cloud Monitoring data arrives up to 180 s
 * late, so a step's first analysis covering its whole bake can only happen
 * that much after the bake ends.
 */
import type { ServicePolicy } from '../policy';

/** The worst ingestion delay of Cloud Monitoring metrics, per its documentation. */
export const INGESTION_DELAY_SECONDS = 180;

export interface StepTimeline {
  step: number;
  percent: number;
  bakeSeconds: number;
  /** From the start of the step: the earliest PASS (bake + ingestion delay). */
  earliestPassSeconds: number;
  /** From the start of the step: its last analysis, after every extension. A regression present
   * during this step is rolled back by then at the latest (or held, with onInconclusive: hold). */
  worstRollbackSeconds: number;
  /** From the start of the region: when this step begins, at the earliest and at the latest. */
  earliestStartSeconds: number;
  latestStartSeconds: number;
}

export interface WaveTimeline {
  wave: number;
  regions: string[];
  /** Regions run in parallel, at most maxParallelRegions at a time. */
  batches: number;
  earliestStartSeconds: number;
  latestStartSeconds: number;
  earliestPromotedSeconds: number;
  latestPromotedSeconds: number;
}

export interface Timeline {
  service: string;
  ingestionDelaySeconds: number;
  maxExtensions: number;
  onInconclusive: 'fail' | 'hold';
  steps: StepTimeline[];
  /** One region, all steps passing: earliest, and with every extension used. */
  regionEarliestSeconds: number;
  regionLatestSeconds: number;
  waves: WaveTimeline[];
  earliestCompleteSeconds: number;
  latestCompleteSeconds: number;
}

export function planTimeline(service: ServicePolicy): Timeline {
  const { maxExtensions, onInconclusive } = service.analysis;
  let earliest = 0;
  let latest = 0;
  const steps = service.steps.map((s, i): StepTimeline => {
    const earliestPassSeconds = s.bake + INGESTION_DELAY_SECONDS;
    const worstRollbackSeconds = s.bake * (1 + maxExtensions) + INGESTION_DELAY_SECONDS;
    const step = {
      step: i + 1,
      percent: s.percent,
      bakeSeconds: s.bake,
      earliestPassSeconds,
      worstRollbackSeconds,
      earliestStartSeconds: earliest,
      latestStartSeconds: latest,
    };
    earliest += earliestPassSeconds;
    latest += worstRollbackSeconds;
    return step;
  });
  let waveEarliest = 0;
  let waveLatest = 0;
  const waves = service.waves.map((regions, i): WaveTimeline => {
    const batches = Math.ceil(regions.length / service.maxParallelRegions);
    const wave = {
      wave: i + 1,
      regions,
      batches,
      earliestStartSeconds: waveEarliest,
      latestStartSeconds: waveLatest,
      earliestPromotedSeconds: waveEarliest + batches * earliest,
      latestPromotedSeconds: waveLatest + batches * latest,
    };
    waveEarliest = wave.earliestPromotedSeconds;
    waveLatest = wave.latestPromotedSeconds;
    return wave;
  });
  return {
    service: service.name,
    ingestionDelaySeconds: INGESTION_DELAY_SECONDS,
    maxExtensions,
    onInconclusive,
    steps,
    regionEarliestSeconds: earliest,
    regionLatestSeconds: latest,
    waves,
    earliestCompleteSeconds: waveEarliest,
    latestCompleteSeconds: waveLatest,
  };
}
