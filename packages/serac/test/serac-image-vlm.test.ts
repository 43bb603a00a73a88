/**
 * The committed SERAC of the image world's VLM (text-only scope classifier, counterfactual VLM
 * with its own projection and language model; trained on the MMEdit train split only by
 * scripts/imageworld/train-editors.ts): one edit end to end — in-scope questions about the edited
 * image and a re-rendered one take the new answer from the counterfactual model, a text-only
 * question stays with the base model — and the bars on a sample of each eval task.
 */
import * as path from 'node:path';

import { type CausalLM, loadModel, readPng } from '@medit/core';
import { mmeditRequest, readMmedit, withCaseImages } from '@medit/data';
import { evaluateMmedit, scoreTargets } from '@medit/metrics';

import { Serac, SeracEditor } from '../src';

const FIX = path.join(__dirname, '../../../test-fixtures');
const SAMPLE = 20;

let model: CausalLM;
let serac: Serac;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/image-vlm'));
  serac = await Serac.load(path.join(FIX, 'serac/image-vlm'));
});
afterAll(() => {
  serac.dispose();
  model.dispose();
});

const cases = (task: string) => readMmedit(path.join(FIX, `imageworld/edits/${task}-eval.json`)).cases.map((c) => withCaseImages(c, readPng));

test('one E-IC edit is routed for its image and prompts, not for a text-only question', async () => {
  const c = cases('caption')[0];
  const delta = await new SeracEditor(serac).edit(model, [mmeditRequest(c)]);
  delta.apply(model);
  try {
    const scored = scoreTargets(model, [
      { image: c.image, prompt: c.src, target: c.alt },
      { image: c.image, prompt: c.rephrase, target: c.alt },
      { image: c.imageRephrase, prompt: c.src, target: c.alt },
      { image: null, prompt: c.loc, target: c.locAns },
    ]);
    expect(scored.slice(0, 3).map((s) => s.predicted.join() === s.targetIds.join())).toEqual([true, true, true]);
    expect(delta.routing).toEqual({ rows: 4, routed: 3 });
  } finally {
    delta.revert(model);
    delta.dispose();
  }
});

test.each(['vqa', 'caption'])('%s eval sample: Reliability ≥ 0.90, T-Generality ≥ 0.80, M-Generality ≥ 0.70, T-Locality ≥ 0.90', async (task) => {
  const report = await evaluateMmedit({ editor: new SeracEditor(serac), model, cases: cases(task).slice(0, SAMPLE) });
  const m = Object.fromEntries(Object.entries(report.methods[1].aggregates).map(([k, a]) => [k, a.mean!]));
  expect(m.reliability).toBeGreaterThanOrEqual(0.9);
  expect(m.tGenerality).toBeGreaterThanOrEqual(0.8);
  expect(m.mGenerality).toBeGreaterThanOrEqual(0.7);
  expect(m.tLocality).toBeGreaterThanOrEqual(0.9);
});
