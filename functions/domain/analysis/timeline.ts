/**
 * How long a service's rollout takes, wave by wave and step by step, as the
 * `rollout` workflow runs it (looks.ts): a look every minute; PASS at the end
 * of the bake or of an extension, the last step once its last minute's data
 * has arrived (bake + 240 s: 60 s sampling, 180 s ingestion); FAIL at the
 * first look after the data showing it has arrived.
 */
import type { ServicePolicy } from '../policy';
import {
  DATA_DELAY_SECONDS,
  INGESTION_DELAY_SECONDS,
  LOOK_SECONDS,
  passPointSeconds,
  passPoints,
} from './looks';

interface StepTimeline {
  step: number;
  percent: number;
  bakeSeconds: number;
  /** From the start of the step: the earliest PASS (the bake; on the last step, + 240 s for its data). */
  earliestPassSeconds: number;
  /** From the start of the step: its last look, after every extension. A regression present
   * during this step is rolled back by then at the latest (or held, with onInconclusive: hold). */
  worstRollbackSeconds: number;
  /** From the start of the region: when this step begins, at the earliest and at the latest. */
  earliestStartSeconds: number;
  latestStartSeconds: number;
}

interface WaveTimeline {
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
  /** A request is judged at most this long after it was served: sampling, ingestion, the next look. */
  judgedWithinSeconds: number;
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
    const schedule = {
      bakeSeconds: s.bake,
      last: i === service.steps.length - 1,
      analysis: { maxExtensions, onInconclusive },
    };
    const earliestPassSeconds = passPointSeconds(schedule, 1);
    const worstRollbackSeconds = passPointSeconds(schedule, passPoints(schedule));
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
    judgedWithinSeconds: DATA_DELAY_SECONDS + LOOK_SECONDS,
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
