/**
 * Function-preserving MLP widening of a GPT-2 model (net2net-style growth): every MLP gets
 * `width` neurons; the new ones have random input weights (directions uniform, column norms and
 * biases drawn from the trained neurons of the same layer) and zero output weights, so the wider
 * model computes exactly what the source computes while its MLP keys have `width` dimensions.
 * Used to measure MEMIT's key room (`../memit/widen-mlp.ts`) and to grow a trained fact-base
 * model before training it on (`../factbase/train.ts`, presets with `grownFrom`).
 */
import { type CausalLM, copyInplace, createModel, mulberry32, noGrad, tensor, tidy } from '@medit/core';

/** Largest logit difference {@link widenMlp} accepts between source and copy on its probe. */
const MAX_LOGIT_GAP = 1e-4;

/** A wider copy of `source` (GPT-2 only); throws when the copy's logits on the token ids `probe` differ from the source's. */
export function widenMlp(source: CausalLM, width: number, seed: number, probe: number[]): CausalLM {
  if (source.config.raw.model_type !== 'gpt2') throw new Error(`widenMlp handles GPT-2 checkpoints (Conv1D layout); this model is ${String(source.config.raw.model_type)}`);
  const H = source.config.hiddenSize;
  const F0 = source.config.intermediateSize;
  if (!Number.isInteger(width) || width <= F0) throw new Error(`the new width must be an integer above the model's d_ff ${F0} (got ${width})`);
  const wide = createModel({ ...source.config.raw, n_inner: width }, { seed, tokenizer: source.tokenizer });
  const rand = mulberry32(seed);
  const gauss = () => {
    let u = 0;
    while (u === 0) u = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  for (const name of wide.checkpointNames()) {
    const from = source.param(name);
    const a = from.data() as Float32Array;
    const target = wide.param(name);
    const w = new Float32Array(target.shape.reduce((x, y) => x * y, 1));
    if (from.shape.join() === target.shape.join()) w.set(a);
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
  const gap = noGrad(() =>
    tidy(() => {
      const l0 = source.forward([probe]).logits.data() as Float32Array;
      const l1 = wide.forward([probe]).logits.data() as Float32Array;
      return l0.reduce((m, x, i) => Math.max(m, Math.abs(x - l1[i])), 0);
    }),
  );
  if (gap > MAX_LOGIT_GAP) {
    wide.dispose();
    throw new Error(`the widened model's logits differ from the source's by ${gap} (limit ${MAX_LOGIT_GAP})`);
  }
  return wide;
}
