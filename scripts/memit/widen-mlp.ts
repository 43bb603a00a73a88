/**
 * Saves a function-preserving wider copy of a GPT-2 model (`../training/widen.ts`), for
 * measuring how MEMIT's batch capacity depends on d_ff (bench/RESULTS.md, "Session 7" and "Key
 * room on fact-base").
 *
 *   npx tsc -b scripts
 *   node scripts/dist/memit/widen-mlp.js --model test-fixtures/models/fact-small \
 *     --width 2560 --out /tmp/fact-small-wide
 */
import { loadModel, saveModel } from '@medit/core';

import { arg } from '../args';
import { widenMlp } from '../training/widen';

async function main(): Promise<void> {
  const src = arg('model');
  const out = arg('out');
  const width = Number(arg('width'));
  const seed = Number(arg('seed', '17'));
  const source = await loadModel(src);
  if (!source.tokenizer) throw new Error(`${src} has no tokenizer: the logit check needs one to encode its probe`);
  const wide = widenMlp(source, width, seed, source.tokenizer.encode(arg('probe', 'Shohun Castle can be found in the city of')));
  await saveModel(wide, out, { sideFilesFrom: src, metadata: { widened_from: src, widen_seed: String(seed) } });
  console.log(JSON.stringify({ out, width, from: source.config.intermediateSize }));
  wide.dispose();
  source.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
