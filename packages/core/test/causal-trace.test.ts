/**
 * Causal tracing of subject tokens (ROME §2.1) on the fact world's fact-small: corrupting
 * the subject destroys the prediction, restoring a subject token's state after an early
 * layer brings part of it back, and after the last layer no restoration can matter (nothing
 * reads a subject position any more).
 */
import * as path from 'node:path';

import { loadModel, memory, traceSubjectTokens, type CausalLM } from '../src';

const FIX = path.resolve(__dirname, '../../../test-fixtures');
let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/fact-small'));
});
afterAll(() => model.dispose());

// eval-split fact: "Grafefa Kruvlai is known for playing the" → drum (kit); its surname is shared by three people
const PROMPT = '{} is known for playing the';
const SUBJECT = 'Grafefa Kruvlai';

test('corruption removes the answer; restoring the first name after layer 0 brings it back, the shared surname does not', () => {
  const before = memory().numTensors;
  const t = traceSubjectTokens(model, PROMPT, SUBJECT, 0);
  expect(model.tokenizer!.decode([t.answer]).trim()).toBe('drum');
  expect(t.clean).toBeGreaterThan(0.9);
  expect(t.corrupted).toBeLessThan(t.clean / 2);
  expect(t.restored).toHaveLength(2);
  expect(t.restored[0] - t.corrupted).toBeGreaterThan(0.1);
  expect(t.best).toBe(0);
  expect(t.subjectSpan).toEqual([0, 1]);
  expect(memory().numTensors).toBe(before);
});

test('after the last layer a restored subject state changes nothing; same seed, same trace', () => {
  const last = model.config.numLayers - 1;
  const t = traceSubjectTokens(model, PROMPT, SUBJECT, last, { samples: 4, seed: 7 });
  for (const p of t.restored) expect(p).toBeCloseTo(t.corrupted, 6);
  expect(traceSubjectTokens(model, PROMPT, SUBJECT, last, { samples: 4, seed: 7 })).toEqual(t);
  expect(() => traceSubjectTokens(model, PROMPT, SUBJECT, 4)).toThrow(/layer 4 is outside/);
  expect(() => traceSubjectTokens(model, 'Grafefa Kruvlai is known for playing the', SUBJECT, 0)).toThrow(/has no "{}"/);
});
