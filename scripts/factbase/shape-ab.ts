/**
 * Relative training speed of the fact-base presets, measured interleaved in one process so that
 * whatever else the machine runs weighs on every shape alike (a wall-clock pilot of each shape
 * in turn is skewed by the load of its minutes):
 *
 *   node scripts/dist/factbase/shape-ab.js [--rounds 3] [--steps 3] [--presets fb-256x6,fb-320x6,fb-256x8]
 *
 * Each round runs `steps` training steps (forward, backward, AdamW) of every preset on the same
 * random batch of the real shape (8 rows × 384 tokens, the committed vocabulary size); prints per
 * preset the median seconds per step and the ratio to the first preset. Projected hours of a full
 * run = a wall-clock pilot's seconds per step (`train.js --max-steps`) × ratio × total steps.
 */
import { AdamW, createModel, crossEntropy, grad, tidy } from '@medit/core';

import { arg } from '../args';
import { Rng } from '../factworld/prng';
import { DEFAULT_BUILD } from './build';
import { PRESETS, ROW } from './train';

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const steps = Number(arg('steps', '3'));
  const names = arg('presets', 'fb-256x6,fb-320x6,fb-256x8').split(',');
  const vocab = DEFAULT_BUILD.vocabSize;
  const rng = new Rng(1);
  const batch = Array.from({ length: PRESETS[names[0]].batchSize }, () => Array.from({ length: ROW }, () => rng.int(vocab)));
  const targets = batch.flat().map(() => rng.int(vocab));
  const runs = names.map((name) => {
    const preset = PRESETS[name];
    if (!preset) throw new Error(`unknown preset ${name} (known: ${Object.keys(PRESETS).join(', ')})`);
    const model = createModel({ vocab_size: vocab, tie_word_embeddings: true, ...preset.model }, { seed: 1 });
    const params = [...model.params.values()];
    for (const p of params) p.requiresGrad = true;
    return { name, model, params, opt: new AdamW(params, { lr: 1e-4 }), times: [] as number[], size: params.reduce((n, p) => n + p.size, 0) };
  });
  const step = (r: (typeof runs)[number]) => tidy(() => {
    const loss = crossEntropy(r.model.forward(batch).logits, targets);
    r.opt.update(grad(loss, r.params));
    return loss.item();
  });
  for (const r of runs) step(r); // warm-up: first-use allocations
  for (let round = 0; round < rounds; round++) {
    for (const r of runs) {
      for (let s = 0; s < steps; s++) {
        const t = process.hrtime.bigint();
        step(r);
        r.times.push(Number(process.hrtime.bigint() - t) / 1e9);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const base = median(runs[0].times);
  for (const r of runs) {
    console.log(JSON.stringify({ preset: r.name, params: r.size, secPerStep: median(r.times), ratio: median(r.times) / base, samples: r.times.length }));
    r.opt.dispose();
    r.model.dispose();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
