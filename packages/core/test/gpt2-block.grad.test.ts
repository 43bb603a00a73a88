/**
 * Finite-difference check (f64) of a whole GPT-2 model: loss gradients with respect to
 * every kind of block parameter, the embeddings, and an activation injected at a hook.
 */
import { addAt, crossEntropy, grad, hookName, noGrad, tensor, tidy, type Tensor } from '../src';
import { cast } from '../src/ops';
import { GPT2, gpt2Config, gpt2InitParams } from '../src/models/gpt2';

function f64Model(): GPT2 {
  const config = gpt2Config({ model_type: 'gpt2', vocab_size: 11, n_embd: 8, n_head: 2, n_layer: 1, n_positions: 8 });
  const params = new Map<string, Tensor>();
  // larger-than-default init so attention is not uniform and every path matters
  for (const [k, v] of gpt2InitParams(config, 3)) {
    params.set(k, cast(v, 'float64'));
    v.dispose();
  }
  const model = new GPT2(config, params);
  for (const [k, p] of model.params) {
    const d = p.data() as Float64Array;
    const scaled = tensor(d.map((x, i) => (k.includes('ln_') && k.endsWith('weight') ? 1 + 0.1 * Math.sin(i) : x * 10 + 0.05 * Math.cos(i))), p.shape, 'float64');
    model.params.set(k, scaled);
    p.dispose();
  }
  return model;
}

const IDS = [
  [1, 4, 2, 7, 3],
  [5, 5, 9, 0, 2],
];
const TARGETS = [4, 2, 7, 3, -100, 5, 9, 0, 2, -100];

test('whole-model gradients match central differences', () => {
  const model = f64Model();
  const names = ['transformer.h.0.attn.c_attn.weight', 'transformer.h.0.attn.c_proj.bias', 'transformer.h.0.mlp.c_fc.weight', 'transformer.h.0.mlp.c_proj.weight', 'transformer.h.0.ln_1.weight', 'transformer.h.0.ln_2.bias', 'transformer.ln_f.weight', 'transformer.wte.weight', 'transformer.wpe.weight'];
  const delta = tensor(new Float64Array(8).map((_, i) => 0.1 * (i - 4)), [1, 8], 'float64');
  const lossFn = () => {
    const { logits } = model.forward(IDS, { hooks: { [hookName(0, 'mlp_out')]: (h) => addAt(h, [{ batch: 1, token: 2 }], delta) } });
    return crossEntropy(logits, TARGETS);
  };
  const params = names.map((n) => model.param(n));
  const analytic = tidy(() => {
    for (const p of params) p.requiresGrad = true;
    delta.requiresGrad = true;
    const gs = grad(lossFn(), [...params, delta]).map((g) => g.data() as Float64Array);
    for (const p of params) p.requiresGrad = false;
    delta.requiresGrad = false;
    return gs;
  });
  const eps = 1e-6;
  let worst = 0;
  [...params, delta].forEach((p, pi) => {
    const n = p.size;
    const step = Math.max(1, Math.floor(n / 12));
    for (let j = 0; j < n; j += step) {
      const base = p.data() as Float64Array;
      const evalWith = (v: number) => {
        const d = base.slice();
        d[j] = v;
        const t = tensor(d, p.shape, 'float64');
        if (pi < params.length) model.params.set(names[pi], t);
        const hooked = pi < params.length ? lossFn : () => {
          const { logits } = model.forward(IDS, { hooks: { [hookName(0, 'mlp_out')]: (h) => addAt(h, [{ batch: 1, token: 2 }], t) } });
          return crossEntropy(logits, TARGETS);
        };
        const value = noGrad(() => tidy(() => hooked().item()));
        if (pi < params.length) model.params.set(names[pi], p);
        t.dispose();
        return value;
      };
      const numeric = (evalWith(base[j] + eps) - evalWith(base[j] - eps)) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - analytic[pi][j]) / Math.max(1e-3, Math.abs(numeric)));
    }
  });
  expect(worst).toBeLessThan(1e-5);
  model.dispose();
});
