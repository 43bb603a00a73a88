/**
 * Sequential streams on the micro-facts model: AlphaEdit's memory of committed keys keeps
 * a later batch's update away from them, and over a stream of 3 batches × 3 edits the
 * earlier edits lose less margin under AlphaEdit than under MEMIT. The whole stream
 * reverts bit-exactly.
 */
import { type CausalLM, type EditRequest, type LayerStats, type Tensor, computeLayerStats, loadModel, matmul, memory, modelFingerprint, tensor, tidy } from '@medit/core';

import { AlphaEditEditor, MemitEditor, type NullSpace, SequentialEditor, computeKeys } from '../src';
import { MICRO, fillerCorpus, microFacts, microRequests, nullSpacesOf, targetLogProb } from './helpers';

const GROUPS = [['{}'], ['The rain stopped by noon. {}']];
const facts = microFacts();
const batches = [microRequests(facts, 'P27', 3, 0), microRequests(facts, 'P103', 3, 3), microRequests(facts, 'P106', 3, 6)];
let model: CausalLM;
let stats: Map<number, LayerStats>;
let nullSpaces: Map<number, NullSpace>; // eigendecomposed once, shared by every AlphaEdit editor

const margin = (r: EditRequest) => {
  const p = r.prompt.replace('{}', r.subject);
  return targetLogProb(model, p, r.targetNew) - targetLogProb(model, p, r.targetTrue!);
};

beforeAll(async () => {
  model = await loadModel(MICRO);
  stats = await computeLayerStats(model, { layers: [0, 1], corpus: fillerCorpus() });
  nullSpaces = nullSpacesOf(stats, [0, 1], 2e-2);
});
afterAll(() => {
  for (const ns of nullSpaces.values()) ns.basis.dispose();
  for (const s of stats.values()) s.mom2Sum.dispose();
  model.dispose();
});

/** ‖K_p ΔWᵀ‖_F / ‖K_p‖_F: how much an update (Conv1D layout [F, C]) moves the outputs of keys K_p [n, F]. */
function interference(keys: Tensor, u: { delta?: Tensor; left?: Tensor; right?: Tensor }): number {
  return tidy(() => {
    const k = keys.data() as Float64Array;
    const U = u.delta ?? matmul(u.left!, u.right!);
    const out = matmul(tensor(Float32Array.from(k), keys.shape), U).data() as Float32Array;
    return Math.hypot(...out) / Math.hypot(...k);
  });
}

test('AlphaEdit’s memory keeps the next batch’s update off the committed keys', async () => {
  const fingerprint = modelFingerprint(model);
  const tensors = memory().numTensors;
  const hp = { layers: [0, 1], v_num_grad_steps: 12, L2: 1 };
  const stream = new SequentialEditor(new AlphaEditEditor(hp, { stats, contextTemplates: GROUPS, nullSpaces }));
  await stream.step(model, batches[0]);
  const editor = stream.editor as AlphaEditEditor;
  expect(editor.pastEdits).toBe(3);
  expect(() => editor.commit(stream.deltas[0])).toThrow(/already committed/);
  // Batch 2 with and without the memory of batch 1 (a fresh editor has none).
  const fresh = new AlphaEditEditor(hp, { stats, contextTemplates: GROUPS, nullSpaces });
  const withMemory = await editor.edit(model, batches[1]);
  const without = await fresh.edit(model, batches[1]);
  for (const [i, layer] of [0, 1].entries()) {
    const { keys } = computeKeys(model, layer, GROUPS, batches[0], 'subject_last');
    const a = interference(keys, withMemory.updates[i]);
    const b = interference(keys, without.updates[i]);
    expect(a).toBeLessThan(0.5 * b);
    keys.dispose();
  }
  editor.discard(withMemory);
  for (const d of [withMemory, without]) d.dispose();
  fresh.dispose();
  stream.dispose(); // reverts the stream
  expect(modelFingerprint(model)).toBe(fingerprint);
  editor.dispose();
  expect(memory().numTensors).toBe(tensors);
});

test('over a stream of 3 batches, earlier edits lose less margin under AlphaEdit than under MEMIT; revertAll is exact', async () => {
  const fingerprint = modelFingerprint(model);
  const drops: Record<string, number> = {};
  const editors = {
    MEMIT: new MemitEditor({ layers: [0, 1], mom2_update_weight: 500, v_num_grad_steps: 12 }, { stats, contextTemplates: GROUPS }),
    AlphaEdit: new AlphaEditEditor({ layers: [0, 1], v_num_grad_steps: 12, L2: 1 }, { stats, contextTemplates: GROUPS, nullSpaces }),
  };
  for (const [name, editor] of Object.entries(editors)) {
    const stream = new SequentialEditor(editor);
    const atOwnBatch: number[] = [];
    await stream.run(model, batches, { onBatch: (i) => void atOwnBatch.push(...batches[i].map(margin)) });
    expect(stream.editCount).toBe(9);
    // margins of the first two batches' edits right after their batch vs after the stream
    const earlier = batches.slice(0, 2).flat();
    const atEnd = earlier.map(margin);
    drops[name] = atEnd.reduce((s, m, i) => s + atOwnBatch[i] - m, 0) / earlier.length;
    stream.revertAll();
    expect(modelFingerprint(model)).toBe(fingerprint);
    stream.dispose();
    editor.dispose();
  }
  expect(drops.AlphaEdit).toBeLessThan(drops.MEMIT);
});
