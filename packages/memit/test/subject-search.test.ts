/**
 * `fact_token: subject_search` in a MEMIT batch on fact-small: "Grafefa Kruvlai" shares its
 * surname with two other people and the model reads her facts from the first name, so z at
 * the last subject token stalls; the search moves her z (and her keys) to the first token and
 * the batch edits both facts, while a subject reachable at its last token stays there.
 */
import * as path from 'node:path';

import { type CausalLM, type LayerStats, computeLayerStats, loadModel, logSoftmax, memory, modelFingerprint, noGrad, readCorpus, targetIds, tidy } from '@medit/core';

import { type MassEditStats, MemitEditor } from '../src';

const FIX = path.resolve(__dirname, '../../../test-fixtures');
const REQUESTS = [
  { prompt: '{} is known for playing the', subject: 'Grafefa Kruvlai', targetNew: 'clarinet', targetTrue: 'drum kit' },
  { prompt: '{} can be found in the city of', subject: 'Shohun Castle', targetNew: 'Raifain', targetTrue: 'Gimam' },
];
const HP = { layers: [0], v_num_grad_steps: 40, v_lr: 0.5, clamp_norm_factor: 2, mom2_update_weight: 10 };

let model: CausalLM;
let stats: Map<number, LayerStats>;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/fact-small'));
  stats = await computeLayerStats(model, { layers: [0], corpus: readCorpus(path.join(FIX, 'factworld/filler.txt')) });
});
afterAll(() => {
  for (const s of stats.values()) s.mom2Sum.dispose();
  model.dispose();
});

/** log P(first token of new) − log P(first token of true) after each prompt. */
function margins(): number[] {
  const tok = model.tokenizer!;
  return REQUESTS.map((r) => {
    const ids = tok.encode(r.prompt.replace('{}', r.subject));
    const logp = noGrad(() => tidy(() => logSoftmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data() as Float32Array));
    return logp[targetIds(tok, r.targetNew)[0]] - logp[targetIds(tok, r.targetTrue)[0]];
  });
}

async function edit(factToken: 'subject_last' | 'subject_search'): Promise<{ stats: MassEditStats; margins: number[] }> {
  const tensors = memory().numTensors;
  const editor = new MemitEditor({ ...HP, fact_token: factToken }, { stats, contextTemplates: [['{}'], ['The rain stopped by noon. {}']] });
  const fingerprint = modelFingerprint(model);
  const delta = await editor.edit(model, REQUESTS);
  delta.apply(model);
  const after = margins();
  delta.revert(model);
  expect(modelFingerprint(model)).toBe(fingerprint);
  const s = delta.info.stats as unknown as MassEditStats;
  delta.dispose();
  editor.dispose();
  expect(memory().numTensors).toBe(tensors); // the search's discarded z's are freed
  return { stats: s, margins: after };
}

test('subject_last cannot reach the first-name fact; subject_search edits both at their own tokens', async () => {
  expect(margins().every((m) => m < 0)).toBe(true);
  const last = await edit('subject_last');
  expect(last.stats.edits.map((e) => e.subjectToken)).toEqual([1, 1]);
  expect(last.stats.edits[0].targetProb).toBeLessThan(0.5);
  expect(last.margins[0]).toBeLessThan(0);

  const search = await edit('subject_search');
  expect(search.stats.edits.map((e) => e.subjectToken)).toEqual([0, 1]);
  expect(search.stats.edits[0].targetProb).toBeGreaterThan(0.5);
  expect(search.margins[0]).toBeGreaterThan(0);
  expect(search.margins[1]).toBeGreaterThan(0);
}, 600_000);
