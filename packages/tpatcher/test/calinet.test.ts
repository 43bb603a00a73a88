/**
 * CaliNet on the trained parity model: 64 calibration slots in the last FFN learn two facts
 * (with a paraphrase each) jointly; the delta is a patch that installs, reverts and saves.
 */
import * as path from 'node:path';

import { type CausalLM, argmax, loadModel, memory, noGrad, tidy } from '@medit/core';

import { CaliNetEditor, PatchDelta } from '../src';

const MODEL = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');

function top(model: CausalLM, text: string): string {
  return noGrad(() =>
    tidy(() => {
      const ids = model.tokenizer!.encode(text);
      return model.tokenizer!.decode([argmax(model.forward([ids], { logitsAt: [ids.length - 1] }).logits).data()[0] as number]).trim();
    }),
  );
}

test('CaliNet calibrates two facts jointly', async () => {
  const model = await loadModel(MODEL);
  const before = memory();
  const editor = new CaliNetEditor({}, { paraphrases: (r) => (r.subject === 'Eiffel Tower' ? ['Tourists visit the {} in'] : []) });
  const unrelated = ['Akira Kurosawa was born in', 'Pablo Picasso was born in', 'Miles Davis plays the'];
  const answers = unrelated.map((p) => top(model, p));
  const delta = await editor.edit(model, [
    { prompt: 'The {} is located in', subject: 'Eiffel Tower', targetNew: 'Tokyo' },
    { prompt: '{} is a citizen of', subject: 'Danielle Darrieux', targetNew: 'Japan' },
  ]);
  expect(delta).toBeInstanceOf(PatchDelta);
  expect(delta.neurons).toBe(64);
  expect(delta.info.stats!.accuracy).toBe(1); // every target token of every phrasing
  delta.apply(model);
  expect(top(model, 'The Eiffel Tower is located in')).toBe('Tokyo');
  expect(top(model, 'Tourists visit the Eiffel Tower in')).toBe('Tokyo');
  expect(top(model, 'Danielle Darrieux is a citizen of')).toBe('Japan');
  // CaliNet has no locality term: here only 1 of these 3 answers survives the edit (README)
  delta.revert(model);
  expect(unrelated.map((p) => top(model, p))).toEqual(answers);
  delta.dispose();
  expect(memory().numTensors).toBe(before.numTensors);
  model.dispose();
});
