/**
 * ROME and MEMIT run on every decoder family through the same hook points (issue 8): the
 * key is the input of `c_proj` (GPT-2), `fc_out` (GPT-J) or `down_proj` (Llama, Mistral,
 * Qwen2). On each parity model (tiny random weights from HF; C over five sentences, so with a
 * ridge: fewer tokens than d_ff leave C singular) an edit must raise the new targets'
 * probabilities at the edited prompts, write the rewrite module's weight in the checkpoint's
 * layout, and revert bit-exactly.
 */
import * as path from 'node:path';

import { type CausalLM, type EditDelta, type EditRequest, corpusFromTexts, loadModel, memory, modelFingerprint, noGrad, softmax, targetIds, tidy } from '@medit/core';
import { RomeEditor } from '@medit/rome';

import { createMassEditor } from '../src';

const PARITY = path.resolve(__dirname, '../../../test-fixtures/parity');
const REQUESTS: EditRequest[] = [
  { prompt: '{} is located in the city of', subject: 'The Eiffel Tower', targetNew: 'Rome' },
  { prompt: '{} was born in', subject: 'Pablo Picasso', targetNew: 'London' },
];
const CORPUS = corpusFromTexts([
  'The Eiffel Tower is a wrought-iron lattice tower in Paris.',
  'Pablo Picasso was a Spanish painter who spent most of his life in France.',
  'Siemens is a technology company headquartered in Munich.',
  'The river flows through the valley towards the sea.',
  'History is the study of the past, and of the people who lived in it.',
]);

/** P(first token of the new target) after the request's prompt. */
function targetProb(model: CausalLM, r: EditRequest): number {
  const tok = model.tokenizer!;
  const ids = tok.encode(r.prompt.replace('{}', r.subject));
  const [target] = targetIds(tok, r.targetNew);
  return noGrad(() => tidy(() => (softmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data() as Float32Array)[target]));
}

function checkEdit(model: CausalLM, delta: EditDelta, requests: EditRequest[]): void {
  const fingerprint = modelFingerprint(model);
  const before = requests.map((r) => targetProb(model, r));
  const weight = model.rewriteModule(0).weightName;
  for (const u of delta.updates) expect(u.name).toBe(weight);
  delta.apply(model);
  const after = requests.map((r) => targetProb(model, r));
  delta.revert(model);
  expect(modelFingerprint(model)).toBe(fingerprint);
  // Random weights (init std 0.02) move little: every target must rise, by 3× on geometric mean.
  requests.forEach((_, i) => expect(after[i]).toBeGreaterThan(1.1 * before[i]));
  const logGain = requests.reduce((s, _, i) => s + Math.log(after[i] / before[i]), 0) / requests.length;
  expect(logGain).toBeGreaterThan(Math.log(3));
}

describe.each(['gpt2', 'gptj', 'llama', 'mistral', 'qwen2'])('%s', (family) => {
  let model: CausalLM;
  beforeAll(async () => {
    model = await loadModel(path.join(PARITY, family));
  });
  afterAll(() => model.dispose());

  test('ROME raises the new target at layer 0 and reverts bit-exactly', async () => {
    const before = memory().numTensors;
    const editor = new RomeEditor({ layers: [0], v_num_grad_steps: 20, v_lr: 1, clamp_norm_factor: 50, mom2_ridge: 0.01 }, { corpus: CORPUS, contextTemplates: ['{}'] });
    const delta = await editor.edit(model, [REQUESTS[0]]);
    checkEdit(model, delta, [REQUESTS[0]]);
    delta.dispose();
    editor.dispose();
    expect(memory().numTensors).toBe(before);
  });

  test('MEMIT edits two facts in one batch and reverts bit-exactly', async () => {
    const before = memory().numTensors;
    const editor = createMassEditor('MEMIT', { layers: [0], v_num_grad_steps: 20, v_lr: 1, clamp_norm_factor: 50, mom2_update_weight: 1, mom2_ridge: 0.01 }, { corpus: CORPUS, contextTemplates: [['{}']] });
    const delta = await editor.edit(model, REQUESTS);
    checkEdit(model, delta, REQUESTS);
    delta.dispose();
    editor.dispose();
    expect(memory().numTensors).toBe(before);
  });
});
