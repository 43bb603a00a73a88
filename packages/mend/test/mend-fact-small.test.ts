/**
 * The committed MEND editor for fact-small (trained on the train splits only, by
 * packages/mend/scripts/train-fact-small.sh) meets the bars on a sample of the eval split,
 * through the metrics harness: rewrite ≥ 0.90, paraphrase ≥ 0.70, neighbourhood/locality ≥ 0.85.
 * The full eval-split numbers are in bench/RESULTS.md.
 */
import * as path from 'node:path';

import { type CausalLM, loadModel } from '@medit/core';
import { readDataset } from '@medit/data';
import { evaluate } from '@medit/metrics';

import { MendEditor } from '../src';

const FIX = path.join(__dirname, '../../../test-fixtures');
const SAMPLE = 30;

let model: CausalLM;
let mend: MendEditor;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/fact-small'));
  mend = await MendEditor.load(path.join(FIX, 'editors/mend-fact-small.safetensors'), model);
});
afterAll(() => {
  mend.dispose();
  model.dispose();
});

const means = async (dataset: string) => {
  const cases = readDataset(path.join(FIX, `factworld/edits/${dataset}-eval.json`)).cases.slice(0, SAMPLE);
  const report = await evaluate({ editor: mend, model, cases, includeRows: false });
  return Object.fromEntries(Object.entries(report.methods[1].aggregates).map(([k, a]) => [k, a.mean]));
};

test('zsRE eval sample: efficacy ≥ 0.90, paraphrase ≥ 0.70, specificity ≥ 0.85', async () => {
  const m = await means('zsre');
  expect(m.efficacy).toBeGreaterThanOrEqual(0.9);
  expect(m.paraphrase).toBeGreaterThanOrEqual(0.7);
  expect(m.specificity).toBeGreaterThanOrEqual(0.85);
});

test('CounterFact eval sample: efficacy ≥ 0.90, paraphrase ≥ 0.70, neighbourhood ≥ 0.85', async () => {
  const m = await means('counterfact');
  expect(m.efficacyScore).toBeGreaterThanOrEqual(0.9);
  expect(m.paraphraseScore).toBeGreaterThanOrEqual(0.7);
  expect(m.neighborhoodScore).toBeGreaterThanOrEqual(0.85);
});
