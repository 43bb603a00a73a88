/**
 * `medit tune`: a grid swept on a validation split with medit eval's machinery, the best point
 * written with its provenance (`tuned`), resuming from finished points, and the eval split refused.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { bestPoint, gridPoints, objective, pointKey } from '../src/commands/tune';
import { counterfactRecord } from './helpers/records';
import { FIX, PARITY_MODEL, runCli } from './helpers/run';

let tmp: string;
let validation: string;
let grid: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-tune-'));
  // a validation split for the parity model (same records: the command reads only the name)
  validation = path.join(tmp, 'counterfact-validation.json');
  fs.copyFileSync(path.join(FIX, 'counterfact-parity.json'), validation);
  grid = path.join(tmp, 'grid.json');
  // "_why" is a note, not a field
  fs.writeFileSync(grid, JSON.stringify({ _why: 'two step counts', v_num_grad_steps: [1, 4] }));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('gridPoints: every combination, the last field fastest', () => {
  expect(gridPoints({ a: [1, 2], b: ['x', 'y'] })).toEqual([
    { a: 1, b: 'x' },
    { a: 1, b: 'y' },
    { a: 2, b: 'x' },
    { a: 2, b: 'y' },
  ]);
});

test('bestPoint: the highest value; among ties the one keeping most base values, then the earlier point', () => {
  const r = (lr: number, value: number | null) => ({ point: { lr }, value });
  expect(bestPoint([r(1, 0.5), r(2, 0.9), r(3, null)], {}).point).toEqual({ lr: 2 });
  expect(bestPoint([r(1, 0.9), r(2, 0.9), r(3, 0.1)], {}).point).toEqual({ lr: 1 });
  expect(bestPoint([r(1, 0.9), r(2, 0.9), r(3, 0.1)], { lr: 2 }).point).toEqual({ lr: 2 });
  expect(bestPoint([r(1, 0.9), r(2, 0.5)], { lr: 2 }).point).toEqual({ lr: 1 });
  const p = (w: number, c: number, value: number) => ({ point: { w, c }, value });
  expect(bestPoint([p(30, 4, 0.7), p(30, 8, 0.7), p(10, 8, 0.6)], { w: 10, c: 8 }).point).toEqual({ w: 30, c: 8 });
});

test('objective: one aggregate, or the harmonic mean of several; null when one is missing', () => {
  const means = { efficacyScore: 0.9, paraphraseScore: 0.6, locality: null };
  expect(objective(means, 'efficacyScore')).toBe(0.9);
  expect(objective(means, 'efficacyScore,paraphraseScore')).toBeCloseTo(2 / (1 / 0.9 + 1 / 0.6), 12);
  expect(objective(means, 'efficacyScore,locality')).toBeNull();
  expect(objective(means, 'efficacyScore,nope')).toBeNull();
});

test('tune sweeps the grid on the validation split, writes base + best point + tuned, and resumes', async () => {
  const out = path.join(tmp, 'rome.json');
  const args = ['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', validation, '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json'), '--grid', grid, '--out', out, '--json'];
  const r = await runCli(args);
  expect(r.code).toBe(0);
  const written = JSON.parse(fs.readFileSync(out, 'utf8'));
  const base = JSON.parse(fs.readFileSync(path.join(FIX, 'hparams-fast.json'), 'utf8'));
  expect(written).toMatchObject({ ...base, v_num_grad_steps: written.tuned.chosen.v_num_grad_steps });
  expect(written.tuned).toMatchObject({
    split: 'validation',
    model: 'gpt2-trained-wordlevel',
    caseIds: ['0', '1'],
    method: 'rome',
    protocol: { mode: 'single' },
    metric: 'score',
    grid: { v_num_grad_steps: [1, 4] },
  });
  expect(written.tuned.results.map((x: { point: unknown }) => x.point)).toEqual([{ v_num_grad_steps: 1 }, { v_num_grad_steps: 4 }]);
  const values = written.tuned.results.map((x: { value: number }) => x.value);
  expect(written.tuned.value).toBe(Math.max(...values));
  expect(r.result).toMatchObject({ out, metric: 'score', points: 2 });
  // a rerun finds both points done and writes the same choice
  const again = await runCli(args.filter((a) => a !== '--json'));
  expect(again.code).toBe(0);
  expect(again.stdout.match(/\(done before\)/g)).toHaveLength(2);
  expect(JSON.parse(fs.readFileSync(out, 'utf8')).tuned.chosen).toEqual(written.tuned.chosen);
  // another --metric reuses the finished points: their aggregates are stored
  const two = await runCli([...args.filter((a) => a !== '--json'), '--metric', 'efficacyScore,neighborhoodScore']);
  expect(two.code).toBe(0);
  expect(two.stdout.match(/\(done before\)/g)).toHaveLength(2);
  const rescored = JSON.parse(fs.readFileSync(out, 'utf8')).tuned;
  expect(rescored.metric).toBe('efficacyScore,neighborhoodScore');
  expect(rescored.value).toBe(Math.max(...rescored.results.map((x: { value: number }) => x.value)));
  fs.writeFileSync(out, JSON.stringify(written, null, 2));
  // medit eval with the tuned file records what it was tuned on
  const ev = await runCli(['eval', '--model', PARITY_MODEL, '--dataset', validation, '--method', 'rome', '--no-covariance', '--hparams', out, '--limit', '1', '--out', path.join(tmp, 'ev')]);
  expect(ev.code).toBe(0);
  const report = JSON.parse(fs.readFileSync(path.join(tmp, 'ev.json'), 'utf8'));
  expect(report.methods[1].hparams.tuned).toMatchObject({ split: 'validation', metric: 'score', cases: 2, chosen: written.tuned.chosen });
  expect(report.methods[1].hparams.tuned.results).toBeUndefined();
});

test('tune refuses the eval split, a grid note that is not text, and a metric the run does not have', async () => {
  const evalSplit = path.join(tmp, 'counterfact-eval.json');
  fs.copyFileSync(validation, evalSplit);
  const r = await runCli(['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', evalSplit, '--grid', grid, '--out', path.join(tmp, 'x.json')]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('is an eval split: settings are chosen on the validation split');
  const badNote = path.join(tmp, 'bad-note.json');
  fs.writeFileSync(badNote, JSON.stringify({ _why: ['not text'], v_num_grad_steps: [1] }));
  const n = await runCli(['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', validation, '--grid', badNote, '--out', path.join(tmp, 'z.json')]);
  expect(n.code).toBe(2);
  expect(n.stderr).toContain('"_why" in');
  expect(n.stderr).toContain('is a note (fields starting with "_" are notes) and must be a string');
  const m = await runCli(['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', validation, '--no-covariance', '--grid', grid, '--metric', 'nope', '--limit', '1', '--out', path.join(tmp, 'y.json')]);
  expect(m.code).toBe(2);
  expect(m.stderr).toMatch(/--metric nope: the run has no aggregate nope/);
});

test('pointKey: the point alone without load (state files of earlier sweeps still match); the load\'s hash and count with it', () => {
  const point = { v_num_grad_steps: 4 };
  expect(pointKey(point)).toBe(createHash('sha256').update(JSON.stringify(point)).digest('hex').slice(0, 16));
  const keys = [pointKey(point), pointKey(point, { sha256: 'a', cases: 1 }), pointKey(point, { sha256: 'a', cases: 2 }), pointKey(point, { sha256: 'b', cases: 1 })];
  expect(new Set(keys).size).toBe(4);
  expect(pointKey(point, { sha256: 'a', cases: 1 })).toBe(keys[1]);
});

test('tune --load: passed through to every point, recorded in tuned.protocol, and points are keyed by the load', async () => {
  const loadFile = path.join(tmp, 'counterfact-train.json');
  fs.writeFileSync(loadFile, JSON.stringify([counterfactRecord(10, 'The {} is located in', 'P131', 'Big Ben', 'Tokyo', 'London'), counterfactRecord(11, '{} is a citizen of', 'P27', 'Frida Kahlo', 'Japan', 'Mexico')]));
  const out = path.join(tmp, 'rome-load.json');
  const base = ['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', validation, '--no-covariance', '--hparams', path.join(FIX, 'hparams-fast.json'), '--grid', grid, '--out', out, '--mode', 'batch', '--batch-size', '2'];
  const done = (r: { stdout: string }) => r.stdout.match(/\(done before\)/g)?.length ?? 0;
  const r = await runCli([...base, '--load', loadFile, '--load-limit', '1']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^with 1 load edit of .*counterfact-train\.json in the batches: edited, not scored$/m);
  const sha256 = createHash('sha256').update(fs.readFileSync(loadFile)).digest('hex');
  const tuned = JSON.parse(fs.readFileSync(out, 'utf8')).tuned;
  expect(tuned.protocol).toEqual({ mode: 'batch', batchSize: 2, load: { file: loadFile, sha256, limit: 1, cases: 1 } });
  expect(done(r)).toBe(0);
  // the same load: both points reused; another limit, or no load: measured again
  expect(done(await runCli([...base, '--load', loadFile, '--load-limit', '1']))).toBe(2);
  const two = await runCli([...base, '--load', loadFile]);
  expect(two.code).toBe(0);
  expect(done(two)).toBe(0);
  expect(JSON.parse(fs.readFileSync(out, 'utf8')).tuned.protocol.load).toEqual({ file: loadFile, sha256, limit: null, cases: 2 });
  const without = await runCli(base);
  expect(without.code).toBe(0);
  expect(done(without)).toBe(0);
  expect(JSON.parse(fs.readFileSync(out, 'utf8')).tuned.protocol).toEqual({ mode: 'batch', batchSize: 2 });
  expect(fs.readdirSync(path.join(tmp, 'rome-load.tune')).filter((f) => f.startsWith('point-'))).toHaveLength(6);
  // the points measured with the load differ from those without it (the Big Ben edit is in the batch)
  const stored = fs.readdirSync(path.join(tmp, 'rome-load.tune')).filter((f) => f.startsWith('point-')).map((f) => JSON.parse(fs.readFileSync(path.join(tmp, 'rome-load.tune', f), 'utf8')));
  expect(new Set(stored.map((x) => JSON.stringify(x.means))).size).toBeGreaterThan(2);
  // refused: single mode, and an eval split as load
  const single = await runCli(['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', validation, '--grid', grid, '--out', path.join(tmp, 'l1.json'), '--load', loadFile]);
  expect(single.code).toBe(2);
  expect(single.stderr).toContain('--load applies to --mode batch or sequential');
  const evalLoad = path.join(tmp, 'load-eval.json');
  fs.copyFileSync(loadFile, evalLoad);
  const leak = await runCli(['tune', '--method', 'rome', '--model', PARITY_MODEL, '--dataset', validation, '--grid', grid, '--out', path.join(tmp, 'l2.json'), '--mode', 'batch', '--load', evalLoad]);
  expect(leak.code).toBe(2);
  expect(leak.stderr).toContain('is an eval split: settings chosen with eval-split edits in the batch would have seen them');
});
