/**
 * Renders a report in headless Chromium (a 1,200 px window) and checks that every inline-SVG plot
 * drew marks, the page fits the window, and the page logged no errors. Needs `/usr/bin/chromium` (CI: `apt-get install -y chromium`); override
 * the binary with MEDIT_CHROMIUM, or skip with MEDIT_SKIP_BROWSER=1.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtmlReport } from '@medit/metrics';
import { sampleReport } from './sample-report';

const CHROMIUM = process.env.MEDIT_CHROMIUM ?? '/usr/bin/chromium';
const skip = process.env.MEDIT_SKIP_BROWSER === '1';
const d = skip ? describe.skip : describe;
if (skip) console.log('report.browser.test: skipped because MEDIT_SKIP_BROWSER=1');

function dumpDom(file: string, profile: string): Promise<{ dom: string; log: string }> {
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    '--enable-logging=stderr',
    '--v=0',
    '--window-size=1200,900',
    '--dump-dom',
    pathToFileURL(file).href,
  ];
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, args, { timeout: 60000, maxBuffer: 64 << 20, env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: 'disabled:' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${CHROMIUM} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve({ dom: stdout, log: stderr });
    });
  });
}

d('HTML report in headless Chromium', () => {
  let dir = '';
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws every plot and logs no errors', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium), point MEDIT_CHROMIUM at a binary, or set MEDIT_SKIP_BROWSER=1 to skip this test`);
    }
    dir = mkdtempSync(join(tmpdir(), 'medit-report-'));
    // As wide as medit eval's CounterFact runs: 13 aggregates per method.
    const report = sampleReport();
    for (const m of report.methods) {
      for (const k of ['rewriteAcc', 'rephraseAcc', 'locality/neighborhood', 'locality', 'portability/one_hop', 'portability', 'score']) m.aggregates[k] = m.aggregates.efficacyScore;
    }
    expect(Object.keys(report.methods[0].aggregates)).toHaveLength(13);
    const html = renderHtmlReport(report);
    const nPlots = (html.match(/<svg data-plot=/g) ?? []).length;
    expect(nPlots).toBeGreaterThan(10);
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const { dom, log } = await dumpDom(file, join(dir, 'profile'));

    // The page's own self-check ran after load: every plot has a mark with a non-empty bounding box.
    const body = /<body([^>]*)>/.exec(dom)?.[1] ?? '';
    expect(body).toContain(`data-medit-plots="${nPlots}/${nPlots}"`);
    expect(body).toContain('data-medit-errors="0"');
    // Bars and paths actually carry geometry in the rendered DOM.
    const rects = [...dom.matchAll(/<rect data-mark="" [^>]*width="([\d.]+)" height="([\d.]+)"/g)];
    expect(rects.length).toBeGreaterThan(0);
    expect(rects.some((m) => Number(m[1]) > 0 && Number(m[2]) > 1)).toBe(true);
    expect([...dom.matchAll(/<path data-mark="" d="M[\d.]+ [\d.]+L/g)].length).toBeGreaterThan(0);
    // The page fits a 1,200 px window (the summary has one row per metric, with its definition).
    expect(Number(/data-medit-width="(\d+)"/.exec(body)?.[1])).toBeLessThanOrEqual(1200);
    expect(dom).toContain('<td class="def">CounterFact ES (reliability): share of edit prompts where P(new target) &gt; P(true answer)</td>');
    // No console output at all from the page (Chromium logs each as "CONSOLE...] msg, source: file://...").
    const consoleLines = log.split('\n').filter((l) => l.includes(':CONSOLE') && l.includes('report.html'));
    expect(consoleLines).toEqual([]);
  });
});
