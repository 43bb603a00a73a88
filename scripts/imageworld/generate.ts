/**
 * Writes the image world's description and tokenizer:
 *
 *   npx tsc -b scripts
 *   node scripts/dist/imageworld/generate.js --out test-fixtures/imageworld
 *
 * → `world.json` (scene splits, nations with flag designs and capitals, landmarks) and
 * `tokenizer/` (a word-level HF tokenizer over every text the world produces, the fact world's
 * layout). Images are not stored: they are rendered from world.json on demand. Running it twice
 * gives byte-identical files.
 */
import * as path from 'node:path';

import { arg } from '../args';
import { writeFiles } from '../factworld/generate';
import { buildVocab, specialTokensMap, tokenizerConfig, tokenizerJson } from '../factworld/tokenizer';
import { worldTexts } from './examples';
import { DEFAULT_WORLD_CONFIG, generateWorld } from './world';

/** Context length the tokenizer config advertises. */
const MODEL_MAX_LENGTH = 64;

function main(): void {
  const out = arg('out');
  const world = generateWorld({ ...DEFAULT_WORLD_CONFIG, seed: Number(arg('seed', String(DEFAULT_WORLD_CONFIG.seed))) });
  const vocab = buildVocab(worldTexts(world), []);
  const json = (x: unknown) => `${JSON.stringify(x, null, 1)}\n`;
  writeFiles(
    out,
    new Map([
      ['world.json', json(world)],
      ['tokenizer/tokenizer.json', `${JSON.stringify(tokenizerJson(vocab))}\n`],
      ['tokenizer/tokenizer_config.json', json(tokenizerConfig(MODEL_MAX_LENGTH))],
      ['tokenizer/special_tokens_map.json', json(specialTokensMap())],
    ]),
  );
  console.log(JSON.stringify({ out: path.resolve(out), vocab: vocab.size, nations: world.nations.length, landmarks: world.landmarks.length, scenes: Object.fromEntries(Object.entries(world.scenes).map(([k, v]) => [k, v.length])) }));
}

if (require.main === module) main();
