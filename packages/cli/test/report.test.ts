/**
 * `medit report`: methods side by side as a Markdown table (`--markdown`), and the refusal to
 * put side by side runs over different cases.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { FIX, PARITY_MODEL, runCli } from './helpers/run';

const DATASET = path.join(FIX, 'counterfact-parity.json');
const ROME = ['--method', 'rome', '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')];

let tmp: string;
let ftHparams: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-report-'));
  ftHparams = path.join(tmp, 'ft-hparams.json'); // not ft.json: the first test's report is written there
  fs.writeFileSync(ftHparams, JSON.stringify({ num_steps: 3 }));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const evalRun = async (out: string, args: string[]) => {
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...args, '--out', out]);
  expect(r.code).toBe(0);
  return `${out}.json`;
};

test('report --markdown writes methods × reliability, generalisation, NS and EasyEdit locality, portability, ms per edit', async () => {
  const rome = await evalRun(path.join(tmp, 'rome'), ROME);
  const ft = await evalRun(path.join(tmp, 'ft'), ['--method', 'ft-m', '--hparams', ftHparams, '--mode', 'sequential']);
  const md = path.join(tmp, 'docs', 'table.md');
  const r = await runCli(['report', '--reports', `${rome},${ft}`, '--out', path.join(tmp, 'both'), '--markdown', md, '--json']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ markdown: md });
  const report = JSON.parse(fs.readFileSync(path.join(tmp, 'both.json'), 'utf8'));
  const lines = fs.readFileSync(md, 'utf8').split('\n');
  expect(lines[0]).toBe('gpt2-trained-wordlevel on counterfact-parity (2 cases)');
  // no generation: no Reference Score or generation entropy column
  expect(lines[2]).toBe('| method | reliability | rewrite acc | generalisation | rephrase acc | NS | locality (EasyEdit) | portability | ms per edit | protocol |');
  expect(lines[3]).toBe('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  const rows = lines.filter((l) => /^\| (unedited|ROME|FT-M) \|/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
  expect(rows.map((c) => c[0])).toEqual(['unedited', 'ROME', 'FT-M']);
  const romeReport = report.methods.find((m: { name: string }) => m.name === 'ROME');
  const es = romeReport.aggregates.efficacyScore;
  // a proportion: its Wilson interval, inside [0, 1]
  expect(es.ci95[0]).toBeGreaterThanOrEqual(0);
  expect(es.ci95[1]).toBeLessThanOrEqual(1);
  expect(rows[1][1]).toBe(`${es.mean.toFixed(3)} (${es.ci95[0].toFixed(3)}–${es.ci95[1].toFixed(3)})`);
  expect(rows[1][5].startsWith(romeReport.aggregates.neighborhoodScore.mean.toFixed(3))).toBe(true);
  expect(rows[1][6].startsWith(romeReport.aggregates.locality.mean.toFixed(3))).toBe(true);
  // the parity records have no portability prompts; the unedited model has no edit time
  expect(rows.map((c) => c[7])).toEqual(['–', '–', '–']);
  expect(rows[0][8]).toBe('–');
  expect(Number(rows[1][8].replace(/,/g, ''))).toBeGreaterThan(0);
  expect(rows.map((c) => c[9])).toEqual(['', 'single', 'sequential, 2 × 1']);
  expect(lines).toContain(
    'Columns: reliability = `efficacyScore`, rewrite acc = `rewriteAcc`, generalisation = `paraphraseScore`, rephrase acc = `rephraseAcc`, NS = `neighborhoodScore`, locality (EasyEdit) = `locality`, portability = `portability`; mean (95 % interval: Wilson for proportions, normal otherwise); ms per edit = the editor\'s time per edit (metric passes excluded). Not measured in this report: RS, GE.',
  );
});

test('report refuses to put side by side runs over different cases', async () => {
  const a = await evalRun(path.join(tmp, 'a'), [...ROME, '--limit', '1']);
  const b = await evalRun(path.join(tmp, 'b'), ['--method', 'ft', '--hparams', ftHparams]);
  const r = await runCli(['report', '--reports', `${a},${b}`, '--out', path.join(tmp, 'ab')]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`${b} covers 2 cases (0 … 1) but ${a} 1 (0 … 0): methods are compared on the same cases`);
  expect(fs.existsSync(path.join(tmp, 'ab.json'))).toBe(false);
});
