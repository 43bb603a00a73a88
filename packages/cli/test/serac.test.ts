/**
 * `medit train serac` (a few steps on fact-tiny: artefact layout, refusing to overwrite) and
 * `medit eval --method serac|ike` reading what it wrote.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ROOT, runCli } from './helpers/run';

const TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const TRAIN = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-train.json');
const EVAL = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-eval.json');
const VALIDATION = path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-validation.json');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-cli-serac-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('train serac writes the artefact directory; eval --method serac and --method ike use it', async () => {
  const out = path.join(tmp, 'serac');
  const base = ['train', 'serac', '--model', TINY, '--dataset', TRAIN, '--validation', VALIDATION, '--out', out, '--components', 'scope-embedding,counterfactual', '--scope-steps', '2', '--cf-steps', '2', '--json'];
  const r = await runCli(base);
  expect(r.code).toBe(0);
  expect(r.result).toMatchObject({ method: 'SERAC', components: ['scope-embedding', 'counterfactual'] });
  for (const f of ['serac.json', 'scope-embedding/scope.json', 'scope-embedding/model.safetensors', 'counterfactual/model.safetensors', 'counterfactual/training.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
  // the classifier trains on the train split and is calibrated on the validation split; the counterfactual model trains only
  const training = (c: string) => JSON.parse(fs.readFileSync(path.join(out, c, 'training.json'), 'utf8'));
  const records = (f: string) => (JSON.parse(fs.readFileSync(f, 'utf8')) as { case_id: number }[]).map((x) => String(x.case_id));
  expect(training('scope-embedding').data.map((d: { use: string; file: string }) => [d.use, d.file])).toEqual([
    ['train', 'test-fixtures/factworld/edits-tiny/counterfact-train.json'],
    ['validation', 'test-fixtures/factworld/edits-tiny/counterfact-validation.json'],
  ]);
  expect(training('scope-embedding').data[1].caseIds).toEqual(records(VALIDATION));
  expect(training('scope-embedding').validation).toMatchObject({ split: true, cases: records(VALIDATION).length });
  expect(training('counterfactual').data.map((d: { use: string }) => d.use)).toEqual(['train']);
  expect(training('counterfactual').data[0].caseIds).toEqual(records(TRAIN));
  const again = await runCli(base);
  expect(again.code).toBe(2);
  expect(again.stdout + again.stderr).toMatch(/already holds scope-embedding, counterfactual/);
  const bad = await runCli(['train', 'serac', '--model', TINY, '--dataset', TRAIN, '--out', out, '--components', 'nope']);
  expect(bad.code).toBe(2);

  const ev = await runCli(['eval', '--model', TINY, '--dataset', EVAL, '--method', 'serac', '--editor', out, '--limit', '2', '--out', path.join(tmp, 'serac-eval'), '--json']);
  expect(ev.code).toBe(0);
  expect(Object.keys(ev.result!.summary)).toEqual(['unedited', 'SERAC']);
  const ike = await runCli(['eval', '--model', TINY, '--dataset', EVAL, '--method', 'ike', '--editor', path.join(out, 'scope-embedding'), '--pool', TRAIN, '--k', '4', '--limit', '2', '--out', path.join(tmp, 'ike-eval'), '--json']);
  expect(ike.code).toBe(0);
  expect(Object.keys(ike.result!.summary)).toEqual(['unedited', 'IKE']);
  const noPool = await runCli(['eval', '--model', TINY, '--dataset', EVAL, '--method', 'ike', '--editor', path.join(out, 'scope-embedding')]);
  expect(noPool.code).toBe(2);
  expect(noPool.stderr).toMatch(/--pool/);
});
