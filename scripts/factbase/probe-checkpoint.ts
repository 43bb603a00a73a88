/**
 * How far a fact-base training run has got: `recall.ts`'s measures on a sample of the world's
 * facts, read from the trainer's checkpoint while it trains (the run is not disturbed; copy the
 * checkpoint first if it may be rewritten meanwhile):
 *
 *   node scripts/dist/factbase/probe-checkpoint.js --checkpoint test-fixtures/models/fact-base.ckpt/checkpoint.safetensors [--facts 1500]
 *
 * Prints one JSON line: the checkpoint's step and the summary of {@link measureFactbaseRecall} on
 * `--facts` facts drawn with a fixed seed (150 in-context edits; chains of 40 subjects, few of
 * which survive in a sample of facts: their figures need the whole world). A sample,
 * for watching the run; the model's reported recall is the one train.js measures on every fact.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Tokenizer, createModel } from '@medit/core';

import { arg } from '../args';
import { Rng } from '../factworld/prng';
import { loadCheckpointWeights } from '../training/trainer';
import { measureFactbaseRecall } from './recall';
import { PRESETS, presetConfig } from './train';
import type { World } from './world';

async function main(): Promise<void> {
  const checkpoint = arg('checkpoint');
  const presetName = arg('preset', 'fb-256x6');
  const worldDir = arg('world', 'test-fixtures/factbase');
  const nFacts = Number(arg('facts', '1500'));
  const preset = PRESETS[presetName];
  if (!preset) throw new Error(`unknown preset ${presetName} (known: ${Object.keys(PRESETS).join(', ')})`);
  const world = JSON.parse(fs.readFileSync(path.join(worldDir, 'world.json'), 'utf8')) as World;
  const tokenizer = Tokenizer.fromFile(path.join(worldDir, 'tokenizer', 'tokenizer.json'));
  const model = createModel(presetConfig(preset, tokenizer), { seed: 1, tokenizer });
  try {
    const step = await loadCheckpointWeights(checkpoint, model);
    const facts = new Rng(5).sample(world.facts, Math.min(nFacts, world.facts.length));
    const recall = measureFactbaseRecall(model, { ...world, facts }, { chainSubjects: 40, inContextFacts: 150 });
    console.log(JSON.stringify({ checkpoint, step, ...recall.summary }));
  } finally {
    model.dispose();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
