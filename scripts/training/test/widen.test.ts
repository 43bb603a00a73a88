/**
 * MLP widening (net2net-style growth): the copy computes what the source computes, keeps every
 * trained weight, gives the new neurons live input weights and zero output weights, and is
 * deterministic in its seed; GPT-2 only, and only wider.
 */
import { createModel, noGrad, tidy } from '@medit/core';

import { widenMlp } from '../widen';

const GPT2 = { model_type: 'gpt2', vocab_size: 50, n_embd: 16, n_layer: 2, n_head: 2, n_inner: 24, n_positions: 32 };
const PROBE = [3, 14, 15, 9, 2, 6];

const values = (m: ReturnType<typeof createModel>, name: string) => Array.from(m.param(name).data() as Float32Array);

test('widenMlp: same logits, trained weights kept, new neurons with live inputs and silent outputs, deterministic', () => {
  const source = createModel(GPT2, { seed: 5 });
  const wide = widenMlp(source, 40, 17, PROBE);
  expect(wide.config.intermediateSize).toBe(40);
  const gap = noGrad(() =>
    tidy(() => {
      const a = source.forward([PROBE, [1, 2, 3, 4, 5, 6]]).logits.data() as Float32Array;
      const b = wide.forward([PROBE, [1, 2, 3, 4, 5, 6]]).logits.data() as Float32Array;
      return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
    }),
  );
  expect(gap).toBeLessThan(1e-5);
  const H = 16;
  for (const l of [0, 1]) {
    const fc0 = values(source, `transformer.h.${l}.mlp.c_fc.weight`); // [H, 24]
    const fc1 = values(wide, `transformer.h.${l}.mlp.c_fc.weight`); // [H, 40]
    const proj1 = values(wide, `transformer.h.${l}.mlp.c_proj.weight`); // [40, H]
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < 24; j++) expect(fc1[i * 40 + j]).toBe(fc0[i * 24 + j]);
    }
    for (let j = 24; j < 40; j++) {
      expect(Math.hypot(...Array.from({ length: H }, (_, i) => fc1[i * 40 + j]))).toBeGreaterThan(0);
      expect(proj1.slice(j * H, (j + 1) * H).every((x) => x === 0)).toBe(true);
    }
    expect(proj1.slice(0, 24 * H)).toEqual(values(source, `transformer.h.${l}.mlp.c_proj.weight`));
  }
  expect(values(wide, 'transformer.wte.weight')).toEqual(values(source, 'transformer.wte.weight'));
  const again = widenMlp(source, 40, 17, PROBE);
  expect(values(again, 'transformer.h.1.mlp.c_fc.weight')).toEqual(values(wide, 'transformer.h.1.mlp.c_fc.weight'));
  for (const m of [source, wide, again]) m.dispose();
});

test('widenMlp refuses a narrower width and a non-GPT-2 model, naming the problem', () => {
  const source = createModel(GPT2, { seed: 5 });
  expect(() => widenMlp(source, 24, 17, PROBE)).toThrow(/above the model's d_ff 24 \(got 24\)/);
  source.dispose();
  const llama = createModel({ model_type: 'llama', vocab_size: 50, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32 }, { seed: 1 });
  expect(() => widenMlp(llama, 40, 17, PROBE)).toThrow(/GPT-2 checkpoints.*llama/);
  llama.dispose();
});
