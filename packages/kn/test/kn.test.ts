/**
 * KN on the trained parity model (a GPT-2 that knows a small fact corpus): the edit, erase and
 * activation patches, the erasure experiment, exact deltas and bit-exact revert.
 */
import * as path from 'node:path';

import { type CausalLM, type EditRequest, argmax, crossEntropy, loadModel, memory, modelFingerprint, noGrad, reshape, tidy } from '@medit/core';

import {
  type RelationFacts,
  KnEditor,
  activationPatchHooks,
  answerPerplexity,
  eraseNeuronsDelta,
  erasureExperiment,
  findKnowledgeNeurons,
  resolveKnHparams,
  scaleNeuronsDelta,
  valueVectors,
} from '../src';

const MODEL = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');

function top(model: CausalLM, text: string): string {
  return noGrad(() =>
    tidy(() => {
      const ids = model.tokenizer!.encode(text);
      return model.tokenizer!.decode([argmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data()[0] as number]).trim();
    }),
  );
}

function prob(model: CausalLM, text: string, answer: string, hooks = {}): number {
  return noGrad(() =>
    tidy(() => {
      const ids = model.tokenizer!.encode(text);
      const { logits } = model.forward([ids], { logitsAt: [ids.length - 1], hooks });
      return Math.exp(-crossEntropy(reshape(logits, [1, logits.shape[2]]), model.tokenizer!.encode(` ${answer}`, { addSpecialTokens: false })).item());
    }),
  );
}

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(() => model.dispose());

test('KN edits two facts; prompts of other relations keep their answers; revert is bit-exact', async () => {
  const before = memory();
  const fingerprint = modelFingerprint(model);
  const requests: EditRequest[] = [
    { prompt: 'The {} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo', targetTrue: 'Paris' },
    { prompt: '{} is a citizen of', subject: 'Danielle Darrieux', targetNew: 'Japan', targetTrue: 'France' },
  ];
  const unrelated = ['Akira Kurosawa was born in', 'Marie Curie was born in', 'Pablo Picasso was born in', 'The capital of Japan is', 'Miles Davis plays the'];
  const answers = unrelated.map((p) => top(model, p));
  expect(answers).toEqual(['Japan', 'Poland', 'Spain', 'Tokyo', 'trumpet']);
  // Layer 0, a stricter threshold and λ = 0.5 suit this 64-wide model (with the gpt2-xl
  // defaults its neurons of one relation carry every fact of it: see the report).
  const editor = new KnEditor(
    { layers: [0], adaptive_threshold: 0.4, edit_scale: 0.5, refine: true },
    { paraphrases: (r) => (r.subject === 'Eiffel Tower' ? ['Tourists visit the {} in', 'The {} is a landmark in'] : []) },
  );
  const delta = await editor.edit(model, requests);
  expect(modelFingerprint(model)).toBe(fingerprint);
  const w = model.param('transformer.h.0.mlp.c_proj.weight');
  const w0 = w.data() as Float32Array;
  delta.apply(model);
  expect(top(model, 'The Eiffel Tower is located in')).toBe('Tokyo');
  expect(top(model, 'Danielle Darrieux is a citizen of')).toBe('Japan');
  expect(top(model, 'Tourists visit the Eiffel Tower in')).toBe('Tokyo'); // a paraphrase
  expect(unrelated.map((p) => top(model, p))).toEqual(answers);
  // only the knowledge neurons' rows of c_proj changed
  const neurons = new Set((delta.info.stats!.edits as { neurons: { index: number }[] }[]).flatMap((e) => e.neurons.map((n) => n.index)));
  const w1 = w.data() as Float32Array;
  const C = w.shape[1];
  for (let i = 0; i < w.shape[0]; i++) {
    const changed = w1.subarray(i * C, (i + 1) * C).some((x, c) => x !== w0[i * C + c]);
    expect(changed).toBe(neurons.has(i));
  }
  delta.revert(model);
  expect(Buffer.from((w.data() as Float32Array).buffer).equals(Buffer.from(w0.buffer))).toBe(true);
  delta.dispose();
  expect(memory().numTensors).toBe(before.numTensors);
});

test('erase zeroes the value vectors exactly; amplify/suppress patches move P(answer) as the paper reports', () => {
  const hp = resolveKnHparams({}, model.config.numLayers);
  const prompt = 'The Eiffel Tower is located in';
  const { neurons } = findKnowledgeNeurons(model, [prompt], 'Paris', hp);
  expect(neurons.length).toBeGreaterThan(0);
  const p0 = prob(model, prompt, 'Paris');
  const last = [model.tokenizer!.encode(prompt).length - 1];
  expect(prob(model, prompt, 'Paris', activationPatchHooks(model, neurons, 2, last))).toBeGreaterThan(p0);
  expect(prob(model, prompt, 'Paris', activationPatchHooks(model, neurons, 0, last))).toBeLessThan(p0);
  const erase = eraseNeuronsDelta(model, neurons);
  erase.apply(model);
  for (const n of neurons) expect(valueVectors(model, n.layer, [n.index])[0].every((x) => x === 0)).toBe(true);
  expect(prob(model, prompt, 'Paris')).toBeLessThan(p0);
  erase.dispose();
  expect(prob(model, prompt, 'Paris')).toBe(p0);
  // scaling by 2 doubles the value vectors (exactly: x + x)
  const v0 = valueVectors(model, neurons[0].layer, [neurons[0].index])[0];
  const amp = scaleNeuronsDelta(model, neurons.slice(0, 1), 2);
  amp.apply(model);
  expect(Array.from(valueVectors(model, neurons[0].layer, [neurons[0].index])[0])).toEqual(Array.from(v0, (x) => 2 * x));
  amp.dispose();
});

test('erasure experiment: erasing the location neurons raises that relation\'s perplexity ≥ 2x, birthplaces move < 10 %', async () => {
  const relations: RelationFacts[] = [
    {
      relation: 'location',
      facts: [
        { prompts: ['The Eiffel Tower is located in', 'Tourists visit the Eiffel Tower in'], answer: 'Paris' },
        { prompts: ['The Colosseum is located in'], answer: 'Rome' },
        { prompts: ['The Big Ben is located in'], answer: 'London' },
        { prompts: ['The Prado Museum is located in'], answer: 'Madrid' },
      ],
    },
    {
      relation: 'birthplace',
      facts: [
        { prompts: ['Akira Kurosawa was born in'], answer: 'Japan' },
        { prompts: ['Marie Curie was born in'], answer: 'Poland' },
        { prompts: ['Pablo Picasso was born in'], answer: 'Spain' },
      ],
    },
  ];
  // batched (right-padded) perplexity equals one sequence at a time; by hand: exp(mean NLL of the answer tokens)
  const nll = relations[0].facts.flatMap((f) => f.prompts.map((p) => -Math.log(prob(model, p, f.answer))));
  expect(answerPerplexity(model, relations[0].facts)).toBeCloseTo(Math.exp(nll.reduce((a, b) => a + b, 0) / nll.length), 5);
  expect(answerPerplexity(model, relations[0].facts, 1)).toBeCloseTo(answerPerplexity(model, relations[0].facts, 32), 5);
  const fingerprint = modelFingerprint(model);
  const r = await erasureExperiment(model, relations, 'location', { topK: 20 });
  expect(modelFingerprint(model)).toBe(fingerprint);
  expect(r.neurons).toHaveLength(20);
  // measured: location 1.63 → 5.41 (3.3x), birthplace 1.108 → 1.156 (+4 %)
  expect(r.erasedRatio).toBeGreaterThanOrEqual(2);
  expect(r.maxOtherChange).toBeLessThanOrEqual(0.1);
  expect(r.passes).toBe(true);
  await expect(erasureExperiment(model, relations, 'capital')).rejects.toThrow(/"capital" is not among/);
});

test('hyperparameters and request errors', async () => {
  expect(resolveKnHparams({}, 2)).toMatchObject({ steps: 20, batch_size: 20, adaptive_threshold: 0.2, p: 0.4, refine: false });
  expect(() => resolveKnHparams({ steps: 20, batch_size: 3 }, 2)).toThrow(/multiple of batch_size/);
  expect(() => resolveKnHparams({ layers: [2] }, 2)).toThrow(/layers in \[0, 2\)/);
  await expect(new KnEditor().edit(model, [{ prompt: 'The {} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo' }])).rejects.toThrow(/needs targetTrue/);
});
