/**
 * A function-preserving wider copy of a GPT-2 model, for measuring how MEMIT's batch capacity
 * depends on d_ff (bench/RESULTS.md, "Session 7"): every MLP gets `--width` neurons; the new
 * ones have random input weights (directions uniform, column norms and biases drawn from the
 * trained neurons of the same layer) and zero output weights, so the copy computes what the
 * source computes (checked on a prompt before saving) while its keys have `--width` dimensions.
 *
 *   npx tsc -b scripts
 *   node scripts/dist/memit/widen-mlp.js --model test-fixtures/models/fact-small \
 *     --width 2560 --out /tmp/fact-small-wide
 */
import { copyInplace, createModel, loadModel, mulberry32, noGrad, saveModel, tensor, tidy } from '@medit/core';

import { arg } from '../args';

async function main(): Promise<void> {
  const src = arg('model');
  const out = arg('out');
  const width = Number(arg('width'));
  const seed = Number(arg('seed', '17'));
  const m0 = await loadModel(src);
  if (m0.config.raw.model_type !== 'gpt2') throw new Error(`widen-mlp handles GPT-2 checkpoints (Conv1D layout); ${src} is ${String(m0.config.raw.model_type)}`);
  const H = m0.config.hiddenSize;
  const F0 = m0.config.intermediateSize;
  if (!Number.isInteger(width) || width <= F0) throw new Error(`--width must be an integer above the model's d_ff ${F0}`);
  const m1 = createModel({ ...m0.config.raw, n_inner: width }, { seed, tokenizer: m0.tokenizer });
  const rand = mulberry32(seed);
  const gauss = () => {
    let u = 0;
    while (u === 0) u = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  for (const name of m1.checkpointNames()) {
    const source = m0.param(name);
    const a = source.data() as Float32Array;
    const target = m1.param(name);
    const w = new Float32Array(target.shape.reduce((x, y) => x * y, 1));
    if (source.shape.join() === target.shape.join()) w.set(a);
    else if (name.endsWith('mlp.c_fc.weight')) {
      // Conv1D [H, F]: column j is neuron j's input weights
      for (let j = 0; j < width; j++) {
        if (j < F0) {
          for (let i = 0; i < H; i++) w[i * width + j] = a[i * F0 + j];
          continue;
        }
        const dir = Array.from({ length: H }, gauss);
        const len = Math.hypot(...dir);
        const like = Math.floor(rand() * F0);
        let norm = 0;
        for (let i = 0; i < H; i++) norm += a[i * F0 + like] ** 2;
        for (let i = 0; i < H; i++) w[i * width + j] = (dir[i] / len) * Math.sqrt(norm);
      }
    } else if (name.endsWith('mlp.c_fc.bias')) {
      for (let j = 0; j < width; j++) w[j] = j < F0 ? a[j] : a[Math.floor(rand() * F0)];
    } else if (name.endsWith('mlp.c_proj.weight')) {
      w.set(a); // Conv1D [F, H]: rows ≥ F0 (the new neurons' outputs) stay zero
    } else throw new Error(`unexpected shape change of ${name}`);
    tidy(() => copyInplace(target, tensor(w, target.shape)));
  }
  const ids = m0.tokenizer!.encode('Shohun Castle can be found in the city of');
  const gap = noGrad(() =>
    tidy(() => {
      const l0 = m0.forward([ids]).logits.data() as Float32Array;
      const l1 = m1.forward([ids]).logits.data() as Float32Array;
      return l0.reduce((m, x, i) => Math.max(m, Math.abs(x - l1[i])), 0);
    }),
  );
  if (gap > 1e-4) throw new Error(`the widened model's logits differ from the source's by ${gap}`);
  await saveModel(m1, out, { sideFilesFrom: src, metadata: { widened_from: src, widen_seed: String(seed) } });
  console.log(JSON.stringify({ out, width, from: F0, maxLogitGap: gap }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
