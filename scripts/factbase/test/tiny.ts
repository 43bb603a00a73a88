/**
 * A tiny fact-base for tests of the post-training pipeline (bars, tuning, editor training): the
 * small build's fixtures, its edit sets in every format (every fact counted as answered), and a
 * 2-layer GPT-2 trained for a few seconds on epoch 0's fact lines, saved as an HF directory with
 * the small build's BPE tokenizer. Not a model that meets any bar: it exercises the code paths.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Tokenizer, createModel, saveModel } from '@medit/core';

import { writeFiles } from '../../factworld/generate';
import { trainLanguageModel } from '../../training/trainer';
import { SMALL_BUILD, buildFactBase } from '../build';
import { epochDocuments } from '../corpus';
import { EDIT_SET_FILES, SPLITS, buildEditSets } from '../edit-sets';
import { ALL_ANSWERED, type World } from '../world';

/** Where {@link makeTinyFactbase} put things (absolute paths). */
export interface TinyFactbase {
  /** the fixture directory (world.json, filler.txt, tokenizer/) */
  factbase: string;
  /** `<format>-<split>.json` of every format */
  edits: string;
  /** the trained model directory */
  model: string;
  world: World;
}

/** Builds the tiny fact-base under `dir` (a few seconds). */
export async function makeTinyFactbase(dir: string): Promise<TinyFactbase> {
  const factbase = path.join(dir, 'factbase');
  const files = buildFactBase(SMALL_BUILD);
  writeFiles(factbase, files);
  const world = JSON.parse(files.get('world.json')!) as World;
  const sets = buildEditSets(world, { answers: ALL_ANSWERED });
  const edits = path.join(dir, 'edits');
  writeFiles(edits, new Map(EDIT_SET_FILES.flatMap(([key, stem]) => SPLITS.map((s) => [`${stem}-${s}.json`, `${JSON.stringify(sets[key][s], null, 4)}\n`] as [string, string]))));

  // A tiny GPT-2 with the whole 384-token context, one short pass over epoch 0's fact lines.
  const tokenizer = Tokenizer.fromFile(path.join(factbase, 'tokenizer/tokenizer.json'));
  const eos = tokenizer.eosTokenId!;
  const model = createModel({ model_type: 'gpt2', vocab_size: tokenizer.vocabSize, n_embd: 32, n_layer: 2, n_head: 2, n_inner: 128, n_positions: 384, bos_token_id: eos, eos_token_id: eos, tie_word_embeddings: true }, { seed: 1, tokenizer });
  const filler = files.get('filler.txt')!.split('\n').filter((l) => l.length > 0);
  // Epoch 0's fact lines only (no passages: short rows train fastest), twice.
  const docs = epochDocuments(world, filler, SMALL_BUILD.corpus, 0).filter((d) => !d.startsWith('New Fact:')).map((d) => tokenizer.encode(d));
  await trainLanguageModel({ model, row: 64, eos, seed: 1, phases: [{ name: 'tiny', epochs: 2, documents: () => docs }], schedule: { batchSize: 16, lr: 1e-2, warmupSteps: 10, weightDecay: 0, totalSteps: 260 } });
  const modelDir = path.join(dir, 'model');
  await saveModel(model, modelDir, { sideFilesFrom: path.join(factbase, 'tokenizer') });
  model.dispose();
  fs.mkdirSync(path.join(dir, 'hparams'), { recursive: true });
  return { factbase, edits, model: modelDir, world };
}
