/**
 * One batch of 5 counterfactual edits on the micro-facts model (4-layer GPT-2 trained by the
 * engine on 120 facts; test-fixtures/memit/micro-facts) with MEMIT, EMMET and AlphaEdit:
 * the targets overtake the true objects, AlphaEdit's update is blind to the preserved
 * directions of C and disturbs fewer unrelated facts than MEMIT, every delta reverts
 * bit-exactly and nothing leaks.
 */
import { type CausalLM, type LayerStats, cast, computeLayerStats, loadModel, matmul, memory, modelFingerprint, tidy } from '@medit/core';

import { AlphaEditEditor, EmmetEditor, type MassEditStats, MemitEditor, projector } from '../src';
import { MICRO, argmaxIs, fillerCorpus, microFacts, microRequests, targetLogProb } from './helpers';

const GROUPS = [['{}'], ['The rain stopped by noon. {}']];
let model: CausalLM;
let stats: Map<number, LayerStats>;
const facts = microFacts();
const requests = microRequests(facts, 'P27', 5);
let others: typeof facts = [];

/** log P(new) − log P(true) per request (mean per token). */
const margins = () =>
  requests.map((r) => {
    const p = r.prompt.replace('{}', r.subject);
    return targetLogProb(model, p, r.targetNew) - targetLogProb(model, p, r.targetTrue!);
  });
const unrelatedKept = () => others.filter((f) => argmaxIs(model, f.prompt.replace('{}', f.subject), f.object)).length;

beforeAll(async () => {
  model = await loadModel(MICRO);
  stats = await computeLayerStats(model, { layers: [0, 1], corpus: fillerCorpus() });
  // unrelated facts the unedited model answers greedily (prompts without a leading BOS)
  others = facts.filter((f) => !requests.some((r) => r.subject === f.subject) && argmaxIs(model, f.prompt.replace('{}', f.subject), f.object)).slice(0, 30);
});
afterAll(() => {
  for (const s of stats.values()) s.mom2Sum.dispose();
  model.dispose();
});

test('MEMIT: a batch of 5 edits makes the new objects likelier than the true ones', async () => {
  const before = margins();
  expect(before.every((m) => m < -3)).toBe(true); // the model knows the true objects
  const fingerprint = modelFingerprint(model);
  const tensors = memory().numTensors;
  const editor = new MemitEditor({ layers: [0, 1], mom2_update_weight: 500, v_num_grad_steps: 20 }, { stats, contextTemplates: GROUPS });
  const delta = await editor.edit(model, requests);
  const s = delta.info.stats as unknown as MassEditStats;
  expect(s.layers.map((l) => l.solver)).toEqual(['woodbury', 'woodbury']);
  expect(s.finalResidualNorm).toBeLessThan(0.5 * s.layers[0].residualNorm);
  delta.apply(model);
  const after = margins();
  const won = after.filter((m) => m > 0).length;
  const argmax = requests.filter((r) => argmaxIs(model, r.prompt.replace('{}', r.subject), r.targetNew)).length;
  delta.revert();
  expect(won).toBeGreaterThanOrEqual(4);
  expect(argmax).toBeGreaterThanOrEqual(2);
  expect(after.reduce((s, m, i) => s + m - before[i], 0) / after.length).toBeGreaterThan(5);
  expect(modelFingerprint(model)).toBe(fingerprint);
  delta.dispose();
  editor.dispose();
  expect(memory().numTensors).toBe(tensors);
});

test('EMMET (one layer) moves every target up by several nats', async () => {
  const before = margins();
  const fingerprint = modelFingerprint(model);
  const editor = new EmmetEditor({ layers: [1], mom2_update_weight: 500, v_num_grad_steps: 20 }, { stats, contextTemplates: GROUPS });
  const delta = await editor.edit(model, requests);
  expect(delta.updates.map((u) => u.name)).toEqual(['transformer.h.1.mlp.c_proj.weight']);
  delta.apply(model);
  const after = margins();
  delta.revert();
  after.forEach((m, i) => expect(m - before[i]).toBeGreaterThan(2));
  expect(after.filter((m) => m > 0).length).toBeGreaterThanOrEqual(2);
  delta.dispose();
  expect(modelFingerprint(model)).toBe(fingerprint);
  editor.dispose();
});

test('AlphaEdit: the update ignores the preserved directions of C and spares unrelated facts better than MEMIT', async () => {
  const fingerprint = modelFingerprint(model);
  const hp = { layers: [0, 1], v_num_grad_steps: 20 };
  const memit = new MemitEditor({ ...hp, mom2_update_weight: 500 }, { stats, contextTemplates: GROUPS });
  const alpha = new AlphaEditEditor(hp, { stats, contextTemplates: GROUPS });
  const dm = await memit.edit(model, requests);
  const da = await alpha.edit(model, requests);
  const sa = da.info.stats as unknown as MassEditStats;
  for (const [i, layer] of [0, 1].entries()) {
    const ns = alpha.nullSpace(layer)!;
    expect(sa.layers[i].nullDim).toBe(ns.dim);
    expect(ns.dim).toBeGreaterThan(0);
    expect(ns.dim).toBeLessThan(256);
    // ΔWᵀ = U [F, C] (Conv1D) lies in the null space: U = PU, so vᵀU = 0 for every v in the
    // preserved subspace range(I − P) = span of C's eigenvectors above the threshold.
    const u = da.updates[i];
    const residual = tidy(() => {
      const U = u.delta ?? matmul(u.left!, u.right!);
      const P = cast(projector(ns.basis), 'float32');
      const d = U.data() as Float32Array;
      const pu = matmul(P, U).data() as Float32Array;
      return Math.hypot(...d.map((x, j) => x - pu[j])) / Math.hypot(...d);
    });
    expect(residual).toBeLessThan(1e-5);
  }
  const before = margins();
  const keptBefore = unrelatedKept();
  dm.apply(model);
  const keptMemit = unrelatedKept();
  dm.revert();
  da.apply(model);
  const keptAlpha = unrelatedKept();
  const after = margins();
  da.revert();
  expect(modelFingerprint(model)).toBe(fingerprint);
  expect(keptBefore).toBe(others.length);
  expect(keptAlpha).toBeGreaterThan(keptMemit);
  expect(after.reduce((s, m, i) => s + m - before[i], 0) / after.length).toBeGreaterThan(4);
  for (const d of [dm, da]) d.dispose();
  memit.dispose();
  alpha.dispose();
});

