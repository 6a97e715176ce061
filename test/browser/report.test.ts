/**
 * The report as a person sees it: rendered by headless Chromium (Debian's
 * `chromium` package, driven by puppeteer-core: nothing here can download a
 * browser). From the DOM: every region's charts have marks, the looks carry
 * their reasons as hover titles, the rollback marker is there, and the page
 * asks the network for nothing. From a screenshot: the page is not blank and
 * shows the canary's and the stable's colours. Then in dark mode: the text
 * follows the page.
 *
 * Without Chromium the suite skips with a message, except under CI=true,
 * where it fails (.ci/run installs Chromium).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { PNG } from 'pngjs';
import { reportModel } from '../../functions/report/model';
import { renderReport } from '../../functions/report/render';
import { PALETTE, ROLES } from '../../functions/report/charts';
import { reportInput } from '../unit/report/fixture';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const chromium = CANDIDATES.find((p): p is string => Boolean(p && existsSync(p)));

/** The launch flags of a browser that must stay off the network and need no GPU or sandbox (root in CI). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const describeWithChromium: jest.Describe =
  chromium || process.env.CI === 'true'
    ? describe
    : (Object.assign(
        (name: string, fn: () => void) =>
          describe.skip(`${name} (Chromium missing: apt-get install chromium, or set CHROMIUM_PATH)`, fn),
        describe,
      ) as jest.Describe);

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

describeWithChromium('the rollout report in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  const requested: string[] = [];
  const file = join(mkdtempSync(join(tmpdir(), 'glidepath-report-browser-')), 'report.html');

  beforeAll(async () => {
    if (!chromium) throw new Error(`CI=true but no Chromium at ${CANDIDATES.filter(Boolean).join(', ')}`);
    writeFileSync(file, await renderReport(reportModel(reportInput())));
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: CHROMIUM_FLAGS });
    page = await browser.newPage();
    page.on('request', (r) => void requested.push(r.url()));
    await page.setViewport({ width: 1000, height: 1400 });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('loads nothing but the page itself', () => {
    expect(requested).toEqual([pathToFileURL(file).href]);
  });

  it('draws marks in each region’s charts, and the looks’ reasons on hover', async () => {
    const regions = await page.$$eval(
      'section.region',
      (sections, roles) =>
        sections.map((s) => ({
          region: s.getAttribute('data-region'),
          looks: s.querySelectorAll(`svg [aria-roledescription="${roles.look}"]`).length,
          points: s.querySelectorAll(`svg [aria-roledescription="${roles.line}"]`).length,
          lines: s.querySelectorAll('svg .mark-line path').length,
          bands: s.querySelectorAll(`svg [aria-roledescription="${roles.band}"]`).length,
          rollback: s.querySelectorAll(`svg [aria-roledescription="${roles.outcome.rollback}"]`).length,
          lookTitles: [...s.querySelectorAll(`svg [aria-roledescription="${roles.look}"] > title`)].map(
            (t) => t.textContent,
          ),
          // Drawn, not just present: each chart has a size on the screen.
          chartHeight: s.querySelector('svg')!.getBoundingClientRect().height,
        })),
      ROLES,
    );
    expect(regions.map((r) => r.region)).toEqual(['us-central1', 'europe-west1']);
    const [us, eu] = regions;
    // Bands and the rollback marker are drawn in each of the three panels.
    expect(us).toMatchObject({ looks: 3, bands: 9, rollback: 3 });
    expect(eu).toMatchObject({ looks: 1, bands: 3, rollback: 3 });
    // us-central1: 7 minutes of canary and stable, in the 5xx and the latency panels; europe-west1: 2.
    expect(us.points).toBeGreaterThanOrEqual(28);
    expect(eu.points).toBeGreaterThanOrEqual(8);
    // The traffic share, and per metric panel canary, stable and a limit.
    for (const r of regions) expect(r.lines).toBe(7);
    for (const r of regions) expect(r.chartHeight).toBeGreaterThan(300);
    expect(us.lookTitles[2]).toBe(
      'step 2 (50%) FAIL: 5xx 6.00% vs stable 1.00% (+5.00pp > +0.50pp), p<0.001',
    );
  });

  it('looks like a report: a screenshot that is not blank and shows canary and stable', async () => {
    const png = PNG.sync.read(Buffer.from(await page.screenshot({ type: 'png', fullPage: true })));
    const near = (i: number, [r, g, b]: number[]) =>
      Math.abs(png.data[i] - r) < 12 &&
      Math.abs(png.data[i + 1] - g) < 12 &&
      Math.abs(png.data[i + 2] - b) < 12;
    let ink = 0;
    let canary = 0;
    let stable = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      if (!near(i, [255, 255, 255])) ink++;
      if (near(i, rgb(PALETTE.canary))) canary++;
      if (near(i, rgb(PALETTE.stable))) stable++;
    }
    const pixels = png.width * png.height;
    expect(ink / pixels).toBeGreaterThan(0.03);
    expect(canary).toBeGreaterThan(500);
    expect(stable).toBeGreaterThan(500);
  });

  it('follows dark mode: a dark page, and chart text in the page’s light colour', async () => {
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    const colours = await page.evaluate(() => ({
      background: getComputedStyle(document.body).backgroundColor,
      axisText: getComputedStyle(document.querySelector('svg .role-axis-label text')!).fill,
    }));
    expect(colours).toEqual({ background: 'rgb(21, 23, 26)', axisText: 'rgb(232, 232, 232)' });
  });
});
