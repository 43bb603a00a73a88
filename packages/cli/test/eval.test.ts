/**
 * `medit eval`: a CounterFact file × ROME (or no method) through the metrics harness, written
 * as a valid EvalReport (JSON) and its HTML view.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { validateEvalReport } from '@medit/metrics';

import { markdownSummary } from '../src/markdown';
import { counterfactRecord } from './helpers/records';
import { FIX, PARITY_MODEL, runCli } from './helpers/run';

const DATASET = path.join(FIX, 'counterfact-parity.json');
const FAST = ['--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json')];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-eval-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('eval --method rome writes <out>.json (a valid EvalReport) and <out>.html', async () => {
  const out = path.join(tmp, 'run1', 'cf');
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--out', out, '--json']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ cases: 2, mode: 'single', method: 'rome', report: `${out}.json`, html: `${out}.html` });
  const report = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')));
  expect(report.model.name).toBe('gpt2-trained-wordlevel');
  expect(report.methods.map((m) => m.name)).toEqual(['unedited', 'ROME']);
  const rome = report.methods[1];
  expect(rome.hparams).toMatchObject({ layers: [0], v_num_grad_steps: 4, mom2_adjustment: false });
  expect(rome.aggregates.efficacyScore.n).toBe(2);
  expect(rome.rows!.map((row) => row.id)).toEqual(['0', '1']);
  expect(rome.efficiency!.edits).toBe(2);
  // the unedited model prefers "Paris" for the Eiffel Tower: efficacy 0 before any edit
  expect(report.methods[0].rows![0].metrics.efficacyScore).toBe(0);
  expect(r.result!.summary.ROME.efficacyScore).toBe(rome.aggregates.efficacyScore.mean);
  const html = fs.readFileSync(`${out}.html`, 'utf8');
  expect(html).toMatch(/^<!DOCTYPE html>/i);
  expect(html).toContain('gpt2-trained-wordlevel');
  expect(html).toContain('efficacyScore');
});

test('eval --method none --limit 1 into a directory evaluates the unedited model only', async () => {
  const dir = path.join(tmp, 'run2') + path.sep;
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'none', '--limit', '1', '--out', dir]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^evaluating the unedited model on 1 counterfact case of .*counterfact-parity\.json \(single\)$/m);
  expect(r.stdout).toMatch(/^efficacyScore\s+0\.000 \(0\.000–0\.793\) n=1$/m);
  const report = validateEvalReport(JSON.parse(fs.readFileSync(path.join(dir, 'report.json'), 'utf8')));
  expect(report.methods.map((m) => m.name)).toEqual(['unedited']);
  expect(report.dataset.cases).toBe(1);
  expect(fs.existsSync(path.join(dir, 'report.html'))).toBe(true);
});

test('eval --mode sequential reports the sequential rates', async () => {
  const out = path.join(tmp, 'seq');
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--mode', 'sequential', '--batch-size', '1', '--out', out, '--json']);
  expect(r.code).toBe(0);
  const report = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')));
  const rome = report.methods[1];
  expect(rome.hparams.protocol).toEqual({ mode: 'sequential', batchSize: 1, evalAfter: 'each', localityInScope: 0, localityInScopeFinal: 0 });
  expect(Object.keys(rome.aggregates)).toEqual(expect.arrayContaining(['SR', 'GR', 'ER', 'TestR']));
  expect(rome.sequentialCurve!.map((p) => p.step)).toEqual([1, 2]);
  // --curve-every 2: the curve is measured after the second (last) batch only
  const sparse = path.join(tmp, 'seq-sparse');
  const r2 = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--mode', 'sequential', '--batch-size', '1', '--curve-every', '2', '--out', sparse]);
  expect(r2.code).toBe(0);
  expect(validateEvalReport(JSON.parse(fs.readFileSync(`${sparse}.json`, 'utf8'))).methods[1].sequentialCurve!.map((p) => p.step)).toEqual([2]);
  const bad = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--curve-every', '2', '--out', sparse]);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--curve-every applies to --mode sequential');
});

test('eval --offset/--limit shards joined by report --shards equal one run; report without --shards puts methods side by side', async () => {
  const whole = path.join(tmp, 'run1', 'cf.json'); // the first test's run over both cases
  const shards = [0, 1].map((i) => path.join(tmp, `shard${i}`));
  for (const [i, out] of shards.entries()) {
    const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--offset', String(i), '--limit', '1', '--out', out]);
    expect(r.code).toBe(0);
  }
  const joined = path.join(tmp, 'joined');
  const r = await runCli(['report', '--reports', shards.map((s) => `${s}.json`).join(','), '--shards', '--out', joined]);
  expect(r.code).toBe(0);
  const a = validateEvalReport(JSON.parse(fs.readFileSync(`${joined}.json`, 'utf8')));
  const b = validateEvalReport(JSON.parse(fs.readFileSync(whole, 'utf8')));
  expect(a.dataset.cases).toBe(2);
  expect(a.methods[1].rows!.map((row) => row.id)).toEqual(['0', '1']);
  expect(a.methods[1].aggregates.efficacyScore).toEqual(b.methods[1].aggregates.efficacyScore);
  expect(fs.existsSync(`${joined}.html`)).toBe(true);
  // Without --shards the same files are refused: methods side by side need the same cases.
  const side = await runCli(['report', '--reports', shards.map((s) => `${s}.json`).join(','), '--out', path.join(tmp, 'side')]);
  expect(side.code).toBe(2);
  expect(side.stderr).toMatch(/shard1\.json covers 1 cases \(1 … 1\) but .*shard0\.json 1 \(0 … 0\): methods are compared on the same cases .*joined with --shards/);
  // On the same cases, two runs of one method are refused: both hold a method named ROME.
  const twice = await runCli(['report', '--reports', `${whole},${whole}`, '--out', path.join(tmp, 'side')]);
  expect(twice.code).toBe(1);
  expect(twice.stderr).toMatch(/method "ROME" appears in two reports/);
  const beyond = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--offset', '5', '--out', path.join(tmp, 'none')]);
  expect(beyond.code).toBe(2);
  expect(beyond.stderr).toMatch(/--offset 5 skips all 2 cases/);
});

test('a dataset whose format cannot be detected is an error naming the file', async () => {
  const bad = path.join(tmp, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify([{ question: 'x' }]));
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', bad, '--method', 'none', '--out', path.join(tmp, 'bad')]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`${bad}: cannot detect the dataset format`);
  expect(fs.existsSync(path.join(tmp, 'bad.json.json'))).toBe(false);
});

test('eval --generation --snippets: the Reference Score against the snippets of (relation, target_new); --snippets needs --generation', async () => {
  const snippets = path.join(tmp, 'snippets.json');
  fs.writeFileSync(snippets, JSON.stringify([{ relation_id: 'P131', target_id: 'Q1490', samples: [{ name: 'Tokyo Tower', text: 'The Tokyo Tower is located in Tokyo.' }] }]));
  const out = path.join(tmp, 'rs');
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'none', '--limit', '1', '--generation', '--snippets', snippets, '--out', out]);
  expect(r.code).toBe(0);
  const [base] = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'))).methods;
  expect(base.rows![0].metrics.referenceScore).toEqual(expect.any(Number));
  expect(base.rows![0].metrics.generationEntropy).toEqual(expect.any(Number));
  const bad = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'none', '--snippets', snippets, '--out', out]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--snippets applies to --generation');
});

test('the console table: Wilson intervals as (low–high), a legend always, definitions with --explain; reports go to reports/ by default', async () => {
  const dir = path.join(tmp, 'cwd');
  fs.mkdirSync(dir);
  const r = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--explain'], { cwd: dir });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^metric +unedited +ROME$/m);
  expect(r.stdout).toMatch(/^efficacyScore +0\.000 \(0\.000–0\.658\) n=2 +\d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\) n=2$/m);
  expect(r.stdout).not.toContain('±');
  expect(r.stdout).toContain('Each cell: the mean over the cases (its 95% confidence interval: Wilson score for proportions, normal otherwise) and n, the number of cases the metric is defined for.');
  expect(r.stdout).toMatch(/^  efficacyScore +CounterFact ES \(reliability\): share of edit prompts where P\(new target\) > P\(true answer\)$/m);
  expect(r.stdout).toMatch(/^  locality\/neighborhood +EasyEdit locality: /m);
  // every metric of the table has a definition
  expect(r.stdout).not.toContain('(no definition recorded)');
  expect(r.stdout).toMatch(/wrote reports\/gpt2-trained-wordlevel-rome\.json and reports\/gpt2-trained-wordlevel-rome\.html$/m);
  expect(fs.readdirSync(dir)).toEqual(['reports']);
  expect(fs.readdirSync(path.join(dir, 'reports')).sort()).toEqual(['gpt2-trained-wordlevel-rome.html', 'gpt2-trained-wordlevel-rome.json']);
  const brief = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, '--method', 'none', '--limit', '1'], { cwd: dir });
  expect(brief.stdout).toContain('Run with --explain for what each metric measures (also in the HTML report).');
  expect(brief.stdout).not.toContain('CounterFact ES (reliability)');
});

test('eval --load: load edits in the batch, never scored; a neighbour asking a load fact left out; the load recorded in JSON, HTML and Markdown', async () => {
  // the Big Ben record rewrites the fact case 0's neighbour "The Big Ben is located in" asks
  const loadFile = path.join(tmp, 'counterfact-train.json');
  fs.writeFileSync(loadFile, JSON.stringify([counterfactRecord(10, 'The {} is located in', 'P131', 'Big Ben', 'Tokyo', 'London'), counterfactRecord(11, '{} is a citizen of', 'P27', 'Frida Kahlo', 'Japan', 'Mexico')]));
  const out = path.join(tmp, 'load');
  const args = ['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--mode', 'batch', '--batch-size', '2', '--load', loadFile];
  const r = await runCli([...args, '--out', out, '--json']);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ cases: 2, mode: 'batch', load: { file: loadFile, cases: 2 } });
  const report = validateEvalReport(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')));
  const sha256 = createHash('sha256').update(fs.readFileSync(loadFile)).digest('hex');
  expect(report.dataset.load).toEqual({ name: 'counterfact-train.json', cases: 2, file: loadFile, sha256, limit: null });
  const rome = report.methods[1];
  for (const m of report.methods) expect(m.rows!.map((row) => row.id)).toEqual(['0', '1']);
  expect(rome.aggregates.efficacyScore.n).toBe(2);
  expect(rome.efficiency).toMatchObject({ batches: 1, edits: 4 });
  expect(rome.hparams.protocol).toEqual({ mode: 'batch', batchSize: 2, loadEdits: 2, localityInScope: 1 });
  const html = fs.readFileSync(`${out}.html`, 'utf8');
  expect(html).toContain(`load: <b>2 edits</b> of ${loadFile} (sha256 ${sha256.slice(0, 12)}…), edited in the same calls as the cases and not scored`);
  expect(markdownSummary(report)).toContain('| batch of 2 + 2 load edits |');
  // --load-limit 1: the Big Ben record alone; without load, nothing is left out
  const one = await runCli([...args, '--load-limit', '1', '--out', path.join(tmp, 'load1')]);
  expect(one.code).toBe(0);
  expect(one.stdout).toMatch(/^with 1 load edit of .*counterfact-train\.json: edited beside the cases, not scored$/m);
  const r1 = validateEvalReport(JSON.parse(fs.readFileSync(path.join(tmp, 'load1.json'), 'utf8')));
  expect(r1.dataset.load).toMatchObject({ cases: 1, limit: 1 });
  expect(r1.methods[1].hparams.protocol).toEqual({ mode: 'batch', batchSize: 2, loadEdits: 1, localityInScope: 1 });
  const none = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--mode', 'batch', '--batch-size', '2', '--out', path.join(tmp, 'load0')]);
  expect(none.code).toBe(0);
  const r0 = validateEvalReport(JSON.parse(fs.readFileSync(path.join(tmp, 'load0.json'), 'utf8')));
  expect(r0.dataset).not.toHaveProperty('load');
  expect(r0.methods[1].hparams.protocol).toEqual({ mode: 'batch', batchSize: 2, localityInScope: 0 });
});

test('eval --load is refused in single mode, on a subject a case edits, and --load-limit without --load', async () => {
  const loadFile = path.join(tmp, 'overlap-train.json');
  fs.writeFileSync(loadFile, JSON.stringify([counterfactRecord(10, 'The {} is located in', 'P131', 'Big Ben', 'Tokyo', 'London'), counterfactRecord(20, '{} was born in', 'P19', 'Eiffel Tower', 'Tokyo', 'Paris')]));
  const base = ['eval', '--model', PARITY_MODEL, '--dataset', DATASET, ...FAST, '--out', path.join(tmp, 'refused')];
  const single = await runCli([...base, '--load', loadFile]);
  expect(single.code).toBe(2);
  expect(single.stderr).toContain('--load applies to --mode batch or sequential');
  const overlap = await runCli([...base, '--mode', 'sequential', '--load', loadFile]);
  expect(overlap.code).toBe(2);
  expect(overlap.stderr).toContain('1 load case edit a subject the measured cases edit (load case "20"');
  expect(overlap.stderr).toContain('and case "0"');
  expect(overlap.stderr).toContain('both edit "Eiffel Tower")');
  const limitAlone = await runCli([...base, '--mode', 'batch', '--load-limit', '1']);
  expect(limitAlone.code).toBe(2);
  expect(limitAlone.stderr).toContain('--load-limit applies to --load');
  // refused before anything is written; the first record alone does not overlap
  expect(fs.existsSync(path.join(tmp, 'refused.json'))).toBe(false);
  expect((await runCli([...base, '--mode', 'sequential', '--load', loadFile, '--load-limit', '1'])).code).toBe(0);
});
