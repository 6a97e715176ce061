/**
 * The report's charts as Vega-Lite specs (https://vega.github.io/vega-lite/),
 * one per region: three panels on the rollout's shared time axis (the
 * candidate's traffic share with the judge's looks, the 5xx rate, the
 * latency percentile with the policy's limits), each with the bake and
 * extension bands and the moment of promotion or rollback.
 *
 * Readable without colour: canary and stable differ in dash and point shape
 * as well as colour, verdicts in shape and label; colours are Okabe–Ito's
 * colour-blind-safe palette. Marks carry `description` (an aria-label) and an
 * `ariaRoleDescription` saying what they are: render.ts turns the looks'
 * descriptions into hover titles, and the browser test finds marks by them.
 * Pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RegionReport, ReportModel } from './model';

export const PALETTE = {
  canary: '#D55E00',
  stable: '#0072B2',
  limit: '#999999',
  PASS: '#009E73',
  FAIL: '#D55E00',
  INCONCLUSIVE: '#E69F00',
  bake: '#56B4E9',
  extension: '#E69F00',
} as const;

/** What the browser test and the hover titles look for (aria-roledescription). */
export const ROLES = {
  look: 'look',
  band: 'bake band',
  outcome: { promotion: 'promotion', rollback: 'rollback', failure: 'failure' },
  line: 'series point',
} as const;

const WIDTH = 720;
type Layer = Record<string, unknown>;

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function timeAxis(model: ReportModel, title: boolean) {
  return {
    field: 't',
    type: 'temporal',
    scale: { type: 'utc', domain: model.domain },
    axis: title ? { title: 'time (UTC)', format: '%H:%M:%S' } : { title: null, labels: false },
  };
}

function bandsLayer(region: RegionReport): Layer {
  return {
    data: {
      values: region.bands.map((b) => ({
        ...b,
        label: `${b.kind} of step ${b.step + 1} (${b.percent}%)`,
      })),
    },
    mark: { type: 'rect', opacity: 0.15, ariaRoleDescription: ROLES.band },
    encoding: {
      x: { field: 'start', type: 'temporal' },
      x2: { field: 'end' },
      // fill, not color: a scale of its own, apart from the series' colours in the same panel.
      fill: {
        field: 'kind',
        type: 'nominal',
        scale: { domain: ['bake', 'extension'], range: [PALETTE.bake, PALETTE.extension] },
        legend: { title: 'bands', orient: 'right' },
      },
      description: { field: 'label' },
    },
  };
}

function outcomeLayer(region: RegionReport, label: boolean): Layer[] {
  const o = region.outcome;
  if (!o) return [];
  const colour = o.kind === 'promotion' ? PALETTE.PASS : PALETTE.FAIL;
  const data = {
    values: [
      {
        t: o.t,
        text: o.text,
        name: o.kind === 'promotion' ? 'promoted' : o.kind === 'rollback' ? 'rolled back' : 'failed',
      },
    ],
  };
  return [
    {
      data,
      mark: {
        type: 'rule',
        strokeWidth: 2.5,
        strokeDash: [2, 2],
        color: colour,
        ariaRoleDescription: ROLES.outcome[o.kind],
      },
      encoding: { x: { field: 't', type: 'temporal' }, description: { field: 'text' } },
    },
    ...(label
      ? [
          {
            data,
            mark: {
              type: 'text',
              align: 'right',
              baseline: 'top',
              dx: -4,
              dy: 2,
              y: 0,
              fontWeight: 'bold',
              color: colour,
            },
            encoding: { x: { field: 't', type: 'temporal' }, text: { field: 'name' } },
          },
        ]
      : []),
  ];
}

/** Canary and stable lines: colour, dash and point shape all differ. */
function seriesEncoding(y: Record<string, unknown>) {
  return {
    y,
    color: {
      field: 'series',
      type: 'nominal',
      scale: {
        domain: ['canary', 'stable', 'limit'],
        range: [PALETTE.canary, PALETTE.stable, PALETTE.limit],
      },
      legend: { title: 'series', orient: 'right' },
    },
    strokeDash: {
      field: 'series',
      type: 'nominal',
      scale: {
        domain: ['canary', 'stable', 'limit'],
        range: [
          [1, 0],
          [6, 3],
          [2, 2],
        ],
      },
      legend: { title: 'series', orient: 'right' },
    },
    shape: {
      field: 'series',
      type: 'nominal',
      scale: { domain: ['canary', 'stable', 'limit'], range: ['triangle-up', 'circle', 'stroke'] },
      legend: { title: 'series', orient: 'right' },
    },
    description: { field: 'label' },
  };
}

function trafficPanel(model: ReportModel, region: RegionReport): Layer {
  const traffic = region.traffic.length
    ? [...region.traffic, { t: model.domain[1], percent: region.traffic.at(-1)!.percent }]
    : [];
  return {
    width: WIDTH,
    height: 90,
    title: { text: 'candidate traffic share, and the judge’s looks', anchor: 'start', fontSize: 12 },
    layer: [
      bandsLayer(region),
      {
        data: { values: traffic.map((p) => ({ ...p, label: `candidate at ${p.percent}%` })) },
        mark: { type: 'line', interpolate: 'step-after', color: PALETTE.canary, strokeWidth: 2 },
        encoding: {
          x: timeAxis(model, false),
          y: { field: 'percent', type: 'quantitative', scale: { domain: [0, 100] }, title: 'candidate %' },
        },
      },
      {
        data: {
          values: region.looks.map((l) => ({
            ...l,
            label: `step ${l.step + 1} (${l.percent}%) ${l.verdict}: ${l.reasons.join('; ')}`,
          })),
        },
        mark: { type: 'point', filled: true, size: 140, ariaRoleDescription: ROLES.look, strokeWidth: 1 },
        encoding: {
          x: { field: 't', type: 'temporal' },
          y: { field: 'percent', type: 'quantitative' },
          color: {
            field: 'verdict',
            type: 'nominal',
            scale: {
              domain: ['PASS', 'INCONCLUSIVE', 'FAIL'],
              range: [PALETTE.PASS, PALETTE.INCONCLUSIVE, PALETTE.FAIL],
            },
            legend: { title: 'look verdict', orient: 'right' },
          },
          shape: {
            field: 'verdict',
            type: 'nominal',
            scale: { domain: ['PASS', 'INCONCLUSIVE', 'FAIL'], range: ['circle', 'diamond', 'cross'] },
            legend: { title: 'look verdict', orient: 'right' },
          },
          description: { field: 'label' },
        },
      },
      ...outcomeLayer(region, true),
    ],
  };
}

function ratePanel(model: ReportModel, region: RegionReport): Layer {
  const rows = region.minutes
    .filter((m) => m.errorRate !== null)
    .map((m) => ({
      t: m.t,
      series: m.revision,
      value: m.errorRate,
      label: `${m.revision} ${pct(m.errorRate!)} 5xx (${m.errors} of ${m.requests})`,
    }));
  const ceiling = region.limits?.errorMaxAbsolute;
  const limit =
    ceiling !== undefined
      ? model.domain.map((t) => ({
          t,
          series: 'limit',
          value: ceiling,
          label: `5xx ceiling ${pct(ceiling)}`,
        }))
      : [];
  return {
    width: WIDTH,
    height: 130,
    title: { text: '5xx rate per minute, canary and stable', anchor: 'start', fontSize: 12 },
    layer: [
      bandsLayer(region),
      {
        data: { values: [...rows, ...limit] },
        mark: {
          type: 'line',
          point: { filled: true, size: 36, ariaRoleDescription: ROLES.line },
          strokeWidth: 2,
        },
        encoding: {
          x: timeAxis(model, false),
          ...seriesEncoding({
            field: 'value',
            type: 'quantitative',
            axis: { format: '.1%' },
            title: '5xx rate',
          }),
        },
      },
      ...outcomeLayer(region, false),
    ],
  };
}

function latencyPanel(model: ReportModel, region: RegionReport): Layer {
  const p = region.percentile ?? 99;
  const rows = region.minutes
    .filter((m) => m.latencyMs !== null)
    .map((m) => ({
      t: m.t,
      series: m.revision,
      value: m.latencyMs,
      label: `${m.revision} p${p} ${Math.round(m.latencyMs!)} ms`,
    }));
  const limits = region.limits;
  const ratio = limits
    ? region.minutes
        .filter((m) => m.revision === 'stable' && m.latencyMs !== null)
        .map((m) => ({
          t: m.t,
          series: 'limit',
          value: m.latencyMs! * limits.latencyMaxRatio,
          label: `limit: stable × ${limits.latencyMaxRatio}`,
        }))
    : [];
  return {
    width: WIDTH,
    height: 130,
    title: {
      text: `p${p} latency per minute, with the limits (${limits ? `${limits.latencyMaxMs} ms, stable × ${limits.latencyMaxRatio}` : 'no look yet'})`,
      anchor: 'start',
      fontSize: 12,
    },
    layer: [
      bandsLayer(region),
      {
        data: { values: [...rows, ...ratio] },
        mark: {
          type: 'line',
          point: { filled: true, size: 36, ariaRoleDescription: ROLES.line },
          strokeWidth: 2,
        },
        encoding: {
          x: timeAxis(model, true),
          ...seriesEncoding({
            field: 'value',
            type: 'quantitative',
            scale: { type: 'log' },
            title: `p${p} ms (log scale)`,
          }),
        },
      },
      ...(limits
        ? [
            {
              data: { values: [{ y: limits.latencyMaxMs, label: `ceiling ${limits.latencyMaxMs} ms` }] },
              mark: { type: 'rule', color: PALETTE.limit, strokeDash: [2, 2], strokeWidth: 1.5 },
              encoding: { y: { field: 'y', type: 'quantitative' }, description: { field: 'label' } },
            },
          ]
        : []),
      ...outcomeLayer(region, false),
    ],
  };
}

/** The Vega-Lite spec of one region's three panels. */
export function regionChart(model: ReportModel, region: RegionReport): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: `${model.service} in ${region.region}: traffic share, 5xx rate and latency of canary and stable`,
    background: null,
    vconcat: [trafficPanel(model, region), ratePanel(model, region), latencyPanel(model, region)],
    resolve: {
      scale: { color: 'independent', shape: 'independent', strokeDash: 'independent', fill: 'independent' },
    },
    config: {
      font: 'system-ui, sans-serif',
      view: { stroke: null },
      axis: { gridOpacity: 0.35, labelFontSize: 11, titleFontSize: 11 },
      legend: { labelFontSize: 11, titleFontSize: 11, symbolStrokeWidth: 2 },
    },
  } as unknown as TopLevelSpec;
}
