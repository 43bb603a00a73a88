/**
 * The committed MEND editor of the image world's VLM (trained on the MMEdit train split only, by
 * scripts/imageworld/train-editors.ts): one edit end to end — the model names the unknown flag
 * after the edit, also for a rephrased question and a re-rendered flag, and text-only answers stay
 * — and the bars on a sample of each eval task through the MMEdit harness. The full
 * eval-split table is in the README of test-fixtures/imageworld.
 */
import * as path from 'node:path';

import { type CausalLM, loadModel, readPng, withImages } from '@medit/core';
import { mmeditRequest, readMmedit, withCaseImages } from '@medit/data';
import { evaluateMmedit, scoreTargets } from '@medit/metrics';

import { MendEditor } from '../src';

const FIX = path.join(__dirname, '../../../test-fixtures');
const SAMPLE = 20;

let model: CausalLM;
let mend: MendEditor;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/image-vlm'));
  mend = await MendEditor.load(path.join(FIX, 'editors/mend-image-vlm.safetensors'), model);
});
afterAll(() => {
  mend.dispose();
  model.dispose();
});

const cases = (task: string) => readMmedit(path.join(FIX, `imageworld/edits/${task}-eval.json`)).cases.map((c) => withCaseImages(c, readPng));

test('one E-VQA edit: the new answer for the image, its rephrase and a re-rendered image; text-only answers unchanged', async () => {
  const c = cases('vqa')[0];
  const exact = () =>
    scoreTargets(model, [
      { image: c.image, prompt: c.src, target: c.alt },
      { image: c.image, prompt: c.rephrase, target: c.alt },
      { image: c.imageRephrase, prompt: c.src, target: c.alt },
      { image: null, prompt: c.loc, target: c.locAns },
    ]).map((s) => s.predicted.join() === s.targetIds.join());
  const before = exact();
  expect(before.slice(0, 3)).toEqual([false, false, false]);
  const delta = await mend.edit(withImages(model, [c.image]), [mmeditRequest(c)]);
  delta.apply(model);
  try {
    expect(exact()).toEqual([true, true, true, before[3]]);
  } finally {
    delta.revert(model);
    delta.dispose();
  }
});

test.each(['vqa', 'caption'])('%s eval sample: Reliability ≥ 0.90, T-Generality ≥ 0.80, M-Generality ≥ 0.70, T-Locality ≥ 0.90', async (task) => {
  const report = await evaluateMmedit({ editor: mend, model, cases: cases(task).slice(0, SAMPLE) });
  const m = Object.fromEntries(Object.entries(report.methods[1].aggregates).map(([k, a]) => [k, a.mean!]));
  expect(m.reliability).toBeGreaterThanOrEqual(0.9);
  expect(m.tGenerality).toBeGreaterThanOrEqual(0.8);
  expect(m.mGenerality).toBeGreaterThanOrEqual(0.7);
  expect(m.tLocality).toBeGreaterThanOrEqual(0.9);
});
