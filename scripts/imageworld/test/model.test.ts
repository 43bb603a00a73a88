/**
 * The committed image-vlm (trained by scripts/imageworld/train.ts; its training.json records time
 * and the full check-set accuracies) answers the questions it is meant to: ≥ 90 % of eval-split
 * scene questions (combinations it never saw), known flags and landmarks, text facts — on a sample
 * drawn with other seeds than training.json's — and cannot name unknown flags.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, loadModel } from '@medit/core';

import { accuracy, checkSets } from '../accuracy';
import { FLAG_QUESTIONS, allPhrasings } from '../texts';
import type { World } from '../world';

const FIX = path.join(__dirname, '../../../test-fixtures');
const world = JSON.parse(fs.readFileSync(path.join(FIX, 'imageworld/world.json'), 'utf8')) as World;

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/image-vlm'));
});
afterAll(() => model.dispose());

test('training.json records the run and the bar', () => {
  const t = JSON.parse(fs.readFileSync(path.join(FIX, 'models/image-vlm/training.json'), 'utf8'));
  expect(t.trainSeconds).toBeGreaterThan(0);
  expect(t.accuracies['scene questions, eval split']).toBeGreaterThanOrEqual(0.9);
});

test('eval-split scene questions ≥ 90 %; known flags, landmarks and text facts ≥ 95 %', () => {
  const sets = checkSets(world, 150, 424242);
  expect(accuracy(model, world, sets['scene questions, eval split'])).toBeGreaterThanOrEqual(0.9);
  for (const name of ['known flags', 'known landmarks', 'text facts']) expect(accuracy(model, world, sets[name])).toBeGreaterThanOrEqual(0.95);
});

test('unknown flags are not named (the edit sets are built on that)', () => {
  const unknown = world.nations.filter((n) => !n.flagKnown).slice(0, 40);
  const examples = unknown.map((n, i) => ({ kind: 'flag-vqa' as const, content: { kind: 'flag' as const, nation: n.name }, seed: 77 + i, prompt: allPhrasings(FLAG_QUESTIONS)[i % 8], answer: n.name }));
  expect(accuracy(model, world, examples)).toBeLessThanOrEqual(0.05);
});
