import { reportModel } from '../../../functions/report/model';
import { renderReport, withHoverTitles } from '../../../functions/report/render';
import { rolloutCompleted } from '../../../functions/domain/slack';
import { lookRecord } from '../../../functions/domain/looks';
import { SETTINGS } from '../analysis/helpers';
import { LOOKS, ROLLOUT, at, reportInput } from './fixture';

const t = (minutes: number) => Date.parse(at(minutes));

describe('reportModel', () => {
  const model = reportModel(reportInput());
  const us = model.regions[0];

  it('orders regions as the plan’s waves and puts every chart on the rollout’s time axis', () => {
    expect(model.regions.map((r) => r.region)).toEqual(['us-central1', 'europe-west1']);
    expect(model.domain).toEqual([t(0), t(9)]);
    expect(model.seconds).toBe(540);
  });

  it('draws the candidate’s share: 0% when deployed, each step, back to 0% at the rollback', () => {
    expect(us.traffic).toEqual([
      { t: t(0.5), percent: 0 },
      { t: t(1), percent: 10 },
      { t: t(5), percent: 50 },
      { t: t(8), percent: 0 },
    ]);
    expect(us.outcome).toEqual({ t: t(8), kind: 'rollback', text: 'rolled back: 5xx 6.00% vs stable 1.00%' });
  });

  it('bands each step’s bake, and the extension of a step that had an INCONCLUSIVE look', () => {
    expect(us.bands).toEqual([
      { start: t(1), end: t(3), kind: 'bake', step: 0, percent: 10 },
      { start: t(3), end: t(5), kind: 'extension', step: 0, percent: 10 },
      { start: t(5), end: t(7), kind: 'bake', step: 1, percent: 50 },
    ]);
    expect(model.regions[1].bands).toEqual([{ start: t(1), end: t(3), kind: 'bake', step: 0, percent: 10 }]);
  });

  it('keeps every look with its verdict and reasons, and per-minute rates of both revisions', () => {
    expect(us.looks.map((l) => [l.t, l.verdict])).toEqual([
      [t(3), 'INCONCLUSIVE'],
      [t(5), 'PASS'],
      [t(8), 'FAIL'],
    ]);
    expect(us.looks[2].reasons).toEqual(LOOKS[2].reasons);
    const minute6 = us.minutes.filter((m) => m.t === t(6));
    expect(minute6.map((m) => [m.revision, m.errorRate, m.latencyMs])).toEqual([
      ['canary', 0.06, 300],
      ['stable', 0.01, 75],
    ]);
    expect(us.limits?.latencyMaxMs).toBe(1000);
  });

  it('takes a minute from the latest look that saw it (late Monitoring data)', () => {
    const early = lookRecord({
      region: 'us-central1',
      step: 0,
      percent: 10,
      at: new Date(at(2)),
      windowStart: new Date(at(1)),
      canary: { revision: 'c', intervals: [{ startTime: at(1), endTime: at(2), requests: { '2xx': 10 } }] },
      settings: SETTINGS,
      judgement: { verdict: 'INCONCLUSIVE', reasons: [] },
    });
    const late = { ...early, at: at(3), canary: { ...early.canary, requests: [50], errors: [5] } };
    const m = reportModel({ ...reportInput(), looks: [early, late] });
    expect(m.regions[0].minutes).toEqual([
      { t: t(1), revision: 'canary', requests: 50, errors: 5, errorRate: 0.1, latencyMs: null },
    ]);
  });
});

describe('renderReport', () => {
  let html: string;
  beforeAll(async () => {
    const input = reportInput();
    input.looks = input.looks.map((l, i) =>
      i === 2 ? { ...l, reasons: [...l.reasons, '<script>alert(1)</script>'] } : l,
    );
    html = await renderReport(reportModel(input));
  }, 60_000);

  it('has the header: service, image, trigger, duration, outcome, DORA', () => {
    expect(html).toContain('<h1>shop rollout <code>shop-abc</code></h1>');
    expect(html).toContain(ROLLOUT.image);
    expect(html).toContain('image push of tag v3-bad');
    expect(html).toContain('<dd>9m</dd>');
    expect(html).toContain('ROLLED_BACK</strong>: us-central1: FAIL at step 2');
    expect(html).toMatch(/change failure rate 100%/);
  });

  it('draws one SVG chart per region, with the looks’ reasons as hover titles and the rollback marker', () => {
    const sections = html.split('<section class="region"').slice(1);
    expect(sections).toHaveLength(2);
    for (const s of sections) {
      expect(s.match(/<svg /g)).toHaveLength(1);
      expect(s).toMatch(/aria-roledescription="rollback"/);
    }
    expect(sections[0]).toMatch(
      /aria-roledescription="look"[^>]*><title>step 2 \(50%\) FAIL: 5xx 6\.00% vs stable 1\.00%/,
    );
  });

  it('escapes what it shows and loads nothing: no script, and a policy that forbids fetching', () => {
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(html).not.toMatch(/<script|<img|<link|src=/);
  });
});

describe('withHoverTitles', () => {
  it('gives every described mark a title with its label, and leaves others alone', () => {
    expect(
      withHoverTitles(
        '<path aria-label="a &amp; b" role="graphics-symbol" d="M0"/><path d="M1"/><line aria-label="x" role="graphics-symbol" x2="1"/>',
      ),
    ).toBe(
      '<path aria-label="a &amp; b" role="graphics-symbol" d="M0"><title>a &amp; b</title></path><path d="M1"/><line aria-label="x" role="graphics-symbol" x2="1"><title>x</title></line>',
    );
  });
});

describe('the final Slack message', () => {
  it('links the report when there is one', () => {
    const url = 'https://storage.cloud.google.com/my-reports/reports/shop/shop-abc.html';
    expect(JSON.stringify(rolloutCompleted(ROLLOUT, url).blocks)).toContain(
      `<${url}|Report: what the judge saw>`,
    );
    expect(JSON.stringify(rolloutCompleted(ROLLOUT).blocks)).not.toContain('Report');
  });
});
