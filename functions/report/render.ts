/**
 * Renders a rollout's report as one self-contained HTML page: the header, and
 * per region the charts of charts.ts, compiled by Vega-Lite to Vega and drawn
 * by Vega to SVG here in Node (no browser, no canvas). The page loads
 * nothing at view time: no script, font or image from anywhere.
 *
 * Why Vega-Lite + Vega (see docs/report.md for the comparison): a declarative
 * grammar with layered panels on one shared time scale, encodings for dash
 * and shape as well as colour, and an SVG renderer that runs in Node and
 * emits an aria-label per mark, which become hover titles below.
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { formatDuration } from '../domain/duration';
import { regionChart } from './charts';
import type { RegionReport, ReportModel } from './model';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * Vega's SVG gives each described mark an aria-label; browsers show an SVG
 * element's `<title>` child on hover, so each such mark gets one with the
 * same (already escaped) text.
 */
export function withHoverTitles(svg: string): string {
  return svg.replace(
    /<(path|line)( aria-label="([^"]*)" role="graphics-symbol"[^>]*?)\/>/g,
    '<$1$2><title>$3</title></$1>',
  );
}

/** One region's charts as SVG. */
async function regionSvg(model: ReportModel, region: RegionReport): Promise<string> {
  const view = new vega.View(vega.parse(compile(regionChart(model, region)).spec), { renderer: 'none' });
  try {
    return withHoverTitles(await view.toSVG());
  } finally {
    view.finalize();
  }
}

const seconds = (s: number | undefined) => (s === undefined ? '—' : formatDuration(Math.max(0, s)));
const percent = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x * 1000) / 10}%`);

function header(m: ReportModel): string {
  const d = m.dora;
  const rows: Array<[string, string]> = [
    ['Image', `<code>${escapeHtml(m.image)}</code>`],
    ['Trigger', escapeHtml(m.trigger)],
    ['Started by', escapeHtml(m.startedBy)],
    ...(m.commit
      ? ([['Commit', `<code>${escapeHtml(m.commit.slice(0, 12))}</code>`]] as Array<[string, string]>)
      : []),
    ['Started', escapeHtml(m.createdAt)],
    ['Duration', `${seconds(m.seconds)}${m.endedAt ? '' : ' (still running)'}`],
    [
      'Outcome',
      `<strong class="status status-${escapeHtml(m.status)}">${escapeHtml(m.status)}</strong>${m.outcomeReason ? `: ${escapeHtml(m.outcomeReason)}` : ''}`,
    ],
    [
      `DORA of ${escapeHtml(m.service)} (last ${d.rollouts} rollout${d.rollouts === 1 ? '' : 's'}, ${d.window.days} d)`,
      [
        `deployment frequency ${d.deploymentFrequency.perDay}/day`,
        `lead time median ${d.leadTime.medianSeconds === null ? 'n/a' : seconds(Math.round(d.leadTime.medianSeconds))}`,
        `change failure rate ${percent(d.changeFailureRate.rate)}`,
        `time to restore median ${d.timeToRestore.medianSeconds === null ? 'n/a' : seconds(Math.round(d.timeToRestore.medianSeconds))}`,
      ].join(' · '),
    ],
  ];
  return `<header>
<h1>${escapeHtml(m.service)} rollout <code>${escapeHtml(m.id)}</code></h1>
<dl>${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
${m.logUrl ? `<p><a href="${escapeHtml(m.logUrl)}">Build log</a></p>` : ''}
</header>`;
}

function looksTable(region: RegionReport): string {
  if (!region.looks.length) return '<p class="muted">The judge did not look in this region.</p>';
  const rows = region.looks
    .map(
      (l) =>
        `<tr><td>${new Date(l.t).toISOString().slice(11, 19)}</td><td>${l.step + 1} (${l.percent}%)</td><td class="verdict verdict-${l.verdict}">${l.verdict}</td><td>${l.reasons.map(escapeHtml).join('<br>')}</td></tr>`,
    )
    .join('\n');
  return `<details open><summary>Looks (${region.looks.length})</summary>
<table class="looks"><thead><tr><th>time (UTC)</th><th>step</th><th>verdict</th><th>reasons</th></tr></thead>
<tbody>
${rows}
</tbody></table></details>`;
}

async function regionSection(model: ReportModel, region: RegionReport): Promise<string> {
  const facts = [
    `status <strong>${escapeHtml(region.status)}</strong>`,
    ...(region.candidate ? [`candidate <code>${escapeHtml(region.candidate)}</code>`] : []),
    ...(region.stable ? [`stable <code>${escapeHtml(region.stable)}</code>`] : []),
    `duration ${seconds(region.seconds)}`,
  ];
  return `<section class="region" data-region="${escapeHtml(region.region)}">
<h2>${escapeHtml(region.region)}</h2>
<p>${facts.join(' · ')}${region.reason ? `<br>${escapeHtml(region.reason)}` : ''}</p>
<figure class="chart">${await regionSvg(model, region)}</figure>
${looksTable(region)}
</section>`;
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #ffffff; --muted: #5f5f5f; --rule: #d0d0d0; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8e8; --bg: #15171a; --muted: #a8a8a8; --rule: #444; } }
body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 1.5rem auto; max-width: 62rem; padding: 0 1rem; }
code { font-size: 0.92em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
section.region { border-top: 1px solid var(--rule); margin-top: 1.5rem; }
.muted { color: var(--muted); }
figure.chart { margin: 0.5rem 0; overflow-x: auto; }
/* Vega draws axis text and lines in fixed colours: follow the page's instead. */
figure.chart svg text { fill: var(--fg); }
figure.chart svg .role-axis-domain line, figure.chart svg .role-axis-tick line { stroke: var(--muted); }
figure.chart svg .role-axis-grid line { stroke: var(--rule); }
table.looks { border-collapse: collapse; width: 100%; }
table.looks td, table.looks th { border-bottom: 1px solid var(--rule); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
.verdict-FAIL::before { content: "✖ "; } .verdict-PASS::before { content: "● "; } .verdict-INCONCLUSIVE::before { content: "◆ "; }
.status-ROLLED_BACK, .status-FAILED, .verdict-FAIL { color: #D55E00; }
.status-PROMOTED, .verdict-PASS { color: #009E73; }
`;

/** The whole page. */
export async function renderReport(model: ReportModel): Promise<string> {
  const sections: string[] = [];
  for (const region of model.regions) sections.push(await regionSection(model, region));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escapeHtml(`${model.service} rollout ${model.id}: ${model.status}`)}</title>
<style>${STYLE}</style>
</head>
<body>
${header(model)}
${sections.join('\n') || '<p class="muted">No region was started.</p>'}
<footer class="muted"><p>Generated ${escapeHtml(model.generatedAt)} by Glidepath from the rollout’s Firestore record; hover a mark for its details.</p></footer>
</body>
</html>
`;
}
