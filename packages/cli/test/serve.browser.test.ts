/**
 * `medit serve` in a real browser: headless Chromium (the Debian package, /usr/bin/chromium;
 * MEDIT_CHROMIUM points at another binary) driven by playwright-core loads fact-small through
 * the page, edits a fact with ROME, and the page shows the new answer; a LoRA export through
 * the page writes an adapter; undo restores the old answer; the page logs no console errors.
 * MEDIT_SERVE_SCREENSHOTS=DIR keeps the screenshots (the package README's come from it).
 */
// The callbacks given to page.evaluateAll / waitForFunction run in the page: they use DOM types.
/// <reference lib="dom" />
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type BrowserContext, type Page, chromium } from 'playwright-core';

import { Args } from '../src/args';
import { Output } from '../src/output';
import { type Playground, startPlayground } from '../src/serve/server';
import { ROOT } from './helpers/run';

const CHROMIUM = process.env.MEDIT_CHROMIUM ?? '/usr/bin/chromium';
const FACT = { prompt: 'The city where Shohun Castle is located is', subject: 'Shohun Castle', target: 'Raifain' };
const PARAPHRASE = 'In which city can Shohun Castle be found?';
const NEIGHBOUR = 'Budra Castle can be found in the city of';
/** ROME with C = I, 20 steps and one context template: an edit in a few seconds. */
const FAST_ROME = JSON.stringify({ mom2_adjustment: false, v_num_grad_steps: 20, context_template_length_params: [[5, 1]] });

let tmp: string;
let playground: Playground;
let browser: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or point MEDIT_CHROMIUM at a binary`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-serve-'));
  const io = { stdout: { write: () => true }, stderr: { write: () => true }, env: { HOME: '/nonexistent-home', MEDIT_CACHE_DIR: path.join(tmp, 'cache') }, cwd: ROOT };
  playground = await startPlayground({ io, out: new Output(io, false, 'serve'), args: new Args({}, [], 'serve'), state: {} }, { port: 0 });
  browser = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
});

afterAll(async () => {
  await browser?.close();
  await playground?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function screenshot(name: string): Promise<void> {
  const file = path.join(process.env.MEDIT_SERVE_SCREENSHOTS ?? tmp, name);
  await page.screenshot({ path: file, fullPage: true });
  // A PNG of the whole page, not an empty one.
  const png = fs.readFileSync(file);
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  expect(png.length).toBeGreaterThan(20000);
}

const nowCell = (kind: string) => page.locator(`#probes tbody tr[data-kind="${kind}"] td.now`);

test('an edit through the page changes the shown answer, export writes an adapter, undo restores it; no console errors', async () => {
  await page.goto(playground.url);
  await page.waitForSelector('#method option[value="rome"]', { state: 'attached' });
  // The page offers the repository's models, fact-small first.
  expect(await page.inputValue('#model-dir')).toBe('test-fixtures/models/fact-small');
  expect(await page.locator('#model-list option').evaluateAll((os: HTMLOptionElement[]) => os.map((o) => o.value))).toEqual(
    expect.arrayContaining(['test-fixtures/models/fact-llama', 'test-fixtures/models/fact-small']),
  );
  await page.click('#model-form button');
  await page.waitForFunction(() => document.getElementById('model-info')!.textContent!.includes('gpt2, 4 layers'));

  await page.fill('#prompt', FACT.prompt);
  await page.fill('#subject', FACT.subject);
  await page.fill('#target', FACT.target);
  await page.fill('#paraphrase', PARAPHRASE);
  await page.fill('#neighbour', NEIGHBOUR);
  await page.click('#edit-form summary');
  await page.fill('#hparams', FAST_ROME);
  await page.click('#edit-button');
  await page.waitForFunction(() => {
    const now = document.querySelector('#probes tbody tr[data-kind="prompt"] td.now');
    return now !== null && now.textContent !== '…';
  }, undefined, { timeout: 60000 });

  const row = page.locator('#probes tbody tr[data-kind="prompt"] td');
  const before = (await row.nth(2).textContent())!;
  const after = (await row.nth(3).textContent())!;
  expect(before.startsWith(FACT.target)).toBe(false);
  expect(after.startsWith(FACT.target)).toBe(true);
  expect(await nowCell('prompt').textContent()).toBe(after);
  expect(await page.locator('#history tbody tr td').nth(4).textContent()).toBe('applied');
  const evalRows = await page.locator('#eval tbody tr td:first-child').allTextContents();
  expect(evalRows).toEqual(['P(target | prompt)', 'rewrite_acc', 'rephrase_acc', 'locality']);
  expect(Number(await page.locator('#eval tbody tr').nth(1).locator('td').nth(2).textContent())).toBe(1);
  await screenshot('serve-edit.png');

  const out = path.join(tmp, 'rome-lora');
  await page.fill('#export-out', out);
  await page.click('#export-form button');
  await page.waitForFunction(() => document.getElementById('export-result')!.textContent!.startsWith('wrote'));
  expect(fs.readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 1 });

  await page.click('#undo');
  await page.waitForFunction(() => document.querySelector('#history tbody tr td:nth-child(5)')?.textContent === 'undone');
  await page.waitForFunction((b) => document.querySelector('#probes tbody tr[data-kind="prompt"] td.now')?.textContent === b, before);
  expect(await nowCell('neighbour').textContent()).toBe(await page.locator('#probes tbody tr[data-kind="neighbour"] td').nth(2).textContent());
  expect(await page.isDisabled('#undo')).toBe(true);
  await screenshot('serve-undo.png');

  expect(consoleErrors).toEqual([]);

  // A refusal shows on the status line; the console has only Chromium's note of the 400 response.
  await page.fill('#hparams', '{not json');
  await page.click('#edit-button');
  await page.waitForFunction(() => document.getElementById('status')!.className === 'error');
  expect(await page.textContent('#status')).toMatch(/^hyperparameters: not JSON/);
  expect(consoleErrors).toEqual(['error: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
});
