/**
 * Integrated gradients on a tiny random GPT-2: the completeness axiom (Σ_i Attr_i ≈ P(w) − P(0),
 * Sundararajan et al. 2017 Prop. 1) with no weight gradient computed, and the threshold/refinement
 * rules on hand-made scores.
 */
import * as path from 'node:path';

import { argmax, loadModel, memory, noGrad, tidy } from '@medit/core';

import { coarseNeurons, integratedGradients, linspace01, refineNeurons } from '../src';
import { kernelCalls, weightGradientCalls } from '../../core/test-utils/kernel-calls';

const MODEL = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');

test('linspace01 matches torch.linspace(0, 1, m) (both ends included; m = 1 gives [0])', () => {
  expect(linspace01(5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  expect(linspace01(1)).toEqual([0]);
});

test('IG sums to the change in P(answer) between the activation and zero (completeness)', async () => {
  const model = await loadModel(MODEL);
  const before = memory();
  const ids = [9, 93, 19, 3, 10, 4, 43];
  const answer = noGrad(() => tidy(() => argmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data()[0] as number));
  for (const layer of [0, 1]) {
    const { result: fine, calls } = await kernelCalls('linearBackward', () => integratedGradients(model, ids, answer, layer, { steps: 200, batchSize: 50 }));
    expect(calls.length).toBeGreaterThan(0);
    expect(weightGradientCalls(calls)).toHaveLength(0); // gradients for the scaled activations only
    const coarse = integratedGradients(model, ids, answer, layer, { steps: 50, batchSize: 50 });
    // the path's end points: the original activation and zero
    expect(fine.probs[0]).toBeCloseTo(coarse.probs[0], 5);
    const diff = fine.probs[199] - fine.probs[0];
    expect(Math.abs(diff)).toBeGreaterThan(0.1); // the layer matters for the answer
    const err = (r: { scores: Float32Array }) => Math.abs(r.scores.reduce((s, x) => s + x, 0) - diff);
    // linspace(0,1,m) includes both ends, so (1/m)·Σ is the path integral up to O(1/m):
    // measured 0.068 (m=50), 0.017 (m=200), 0.004 (m=800) for layer 0
    expect(err(fine)).toBeLessThan(0.05 * Math.abs(diff));
    expect(err(fine)).toBeLessThan(0.4 * err(coarse));
  }
  expect(memory().numTensors).toBe(before.numTensors);
  model.dispose();
});

test('coarse selection keeps scores above threshold·max; refinement keeps neurons shared by > p·n prompts', () => {
  const scores = [Float32Array.from([0.1, 1.0, 0.3]), Float32Array.from([0.25, -2, 0.5])];
  expect(coarseNeurons(scores, [3, 5], 0.3)).toEqual([
    { layer: 3, index: 1 },
    { layer: 3, index: 2 },
    { layer: 5, index: 2 },
  ]);
  const a = { layer: 0, index: 1 };
  const b = { layer: 1, index: 4 };
  const c = { layer: 1, index: 7 };
  // n = 3, p = 0.5 → kept when selected by more than 1.5 prompts
  expect(refineNeurons([[a, b], [a, c], [a, b]], 0.5)).toEqual([a, b]);
  expect(refineNeurons([[a], [b], [c]], 0.5)).toEqual([]);
});
