/**
 * End-to-end learning through the engine: a 2-layer GPT-2 trained with AdamW on a
 * deterministic sequence task (each token is the previous one plus a per-sequence
 * stride, mod V) must drive its loss below 0.05. Also: no leaks across training steps.
 */
import { grad } from '../src/autograd';
import { memory, tidy } from '../src/engine';
import { crossEntropy } from '../src/ops';
import { AdamW } from '../src/optim/adamw';
import { mulberry32, type Tensor } from '../src/tensor';
import { GPT2, gpt2Config, gpt2InitParams } from '../src/models/gpt2';

const V = 16;
const T = 12;

function makeModel(seed: number): GPT2 {
  const config = gpt2Config({ model_type: 'gpt2', vocab_size: V + 2, n_embd: 32, n_head: 2, n_layer: 2, n_positions: 32 });
  return new GPT2(config, gpt2InitParams(config, seed));
}

/** Sequence: [stride marker, s, s+k, s+2k, ...] mod V; the marker is token V + (k-1). */
function batch(rng: () => number, B: number): number[][] {
  return Array.from({ length: B }, () => {
    const k = 1 + Math.floor(rng() * 2);
    let s = Math.floor(rng() * V);
    const row = [V + k - 1];
    for (let t = 1; t < T; t++) {
      row.push(s);
      s = (s + k) % V;
    }
    return row;
  });
}

/** Next-token loss on positions 1..T-2 (position 1's successor is the first predictable token). */
function lossOf(model: GPT2, ids: number[][]): Tensor {
  const { logits } = model.forward(ids);
  const targets = ids.flatMap((row) => row.map((_, t) => (t >= 1 && t + 1 < T ? row[t + 1] : -100)));
  return crossEntropy(logits, targets);
}

test('a 2-layer GPT-2 learns a deterministic sequence task (loss < 0.05)', () => {
  const model = makeModel(1);
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0 });
  const rng = mulberry32(7);
  let last = Infinity;
  for (let step = 0; step < 400 && last > 0.02; step++) {
    last = tidy(() => {
      const loss = lossOf(model, batch(rng, 16));
      opt.update(grad(loss, params));
      return loss.item();
    });
  }
  const evalLoss = tidy(() => lossOf(model, batch(mulberry32(123), 32)).item());
  expect(evalLoss).toBeLessThan(0.05);
  opt.dispose();
  model.dispose();
});

test('memory is unchanged after 100 forward+backward passes inside tidy', () => {
  const model = makeModel(2);
  const params = [...model.params.values()];
  for (const p of params) p.requiresGrad = true;
  const rng = mulberry32(3);
  const pass = () => tidy(() => {
    grad(lossOf(model, batch(rng, 2)), params);
  });
  pass(); // warm-up
  const before = memory();
  for (let i = 0; i < 100; i++) pass();
  const after = memory();
  expect(after.numTensors).toBe(before.numTensors);
  expect(after.numBytes).toBe(before.numBytes);
  expect(after.numBuffers).toBe(before.numBuffers);
  model.dispose();
});
