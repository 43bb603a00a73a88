/**
 * Finite-difference check (f64, central differences, eps 1e-6) of a whole tiny GPT-J —
 * parallel attention + MLP from one LayerNorm, partial interleaved rotary, head bias —
 * and of the interleaved rotary op on its own.
 */
import { addAt, crossEntropy, grad, hookName, noGrad, sum, tensor, tidy, type Tensor } from '../src';
import { mul } from '../src/ops';
import { GPTJ, gptjConfig, gptjInitParams } from '../src/models/gptj';
import { applyRotary, rotaryTables, type RotaryConfig } from '../src/models/rotary';
import { TOLERANCES } from '../test-utils/tolerances';
import { gradcheck, randData } from '../test-utils/gradcheck';

function f64GPTJ(): GPTJ {
  // head size 4, rotary on its first 2 channels; std 0.3 so attention is far from uniform
  const config = gptjConfig({ model_type: 'gptj', vocab_size: 11, n_embd: 8, n_head: 2, n_layer: 1, n_positions: 16, rotary_dim: 2, n_inner: 12, initializer_range: 0.3 });
  const params = new Map<string, Tensor>();
  for (const [k, v] of gptjInitParams(config, 7)) {
    const d = v.data() as Float32Array;
    const values = k.includes('ln_') && k.endsWith('weight') ? d.map((_, i) => 1 + 0.1 * Math.sin(i)) : k.endsWith('bias') ? d.map((_, i) => 0.05 * Math.cos(i)) : d;
    params.set(k, tensor(Float64Array.from(values), v.shape, 'float64'));
    v.dispose();
  }
  return new GPTJ(config, params);
}

const IDS = [
  [1, 4, 2, 7, 3],
  [5, 5, 9, 0, 2],
];
const TARGETS = [4, 2, 7, 3, -100, 5, 9, 0, 2, -100];

test('whole-model gradients match central differences', () => {
  const model = f64GPTJ();
  const names = [
    'transformer.wte.weight',
    'transformer.h.0.ln_1.weight',
    'transformer.h.0.ln_1.bias',
    'transformer.h.0.attn.q_proj.weight',
    'transformer.h.0.attn.k_proj.weight',
    'transformer.h.0.attn.v_proj.weight',
    'transformer.h.0.attn.out_proj.weight',
    'transformer.h.0.mlp.fc_in.weight',
    'transformer.h.0.mlp.fc_out.weight',
    'transformer.h.0.mlp.fc_out.bias',
    'transformer.ln_f.weight',
    'lm_head.weight',
    'lm_head.bias',
  ];
  const delta = tensor(new Float64Array(8).map((_, i) => 0.1 * (i - 4)), [1, 8], 'float64');
  const lossWith = (d: Tensor) => {
    const { logits } = model.forward(IDS, { hooks: { [hookName(0, 'mlp_out')]: (h) => addAt(h, [{ batch: 1, token: 2 }], d) } });
    return crossEntropy(logits, TARGETS);
  };
  const params = names.map((n) => model.param(n));
  const analytic = tidy(() => {
    for (const p of params) p.requiresGrad = true;
    delta.requiresGrad = true;
    const gs = grad(lossWith(delta), [...params, delta]).map((g) => g.data() as Float64Array);
    for (const p of params) p.requiresGrad = false;
    delta.requiresGrad = false;
    return gs;
  });
  const eps = TOLERANCES.gradcheckF64.eps;
  let worst = 0;
  let checked = 0;
  [...params, delta].forEach((p, pi) => {
    const step = Math.max(1, Math.floor(p.size / 6));
    const base = p.data() as Float64Array;
    for (let j = 0; j < p.size; j += step) {
      const evalWith = (v: number) => {
        const d = base.slice();
        d[j] = v;
        const t = tensor(d, p.shape, 'float64');
        const isParam = pi < params.length;
        if (isParam) model.params.set(names[pi], t);
        const value = noGrad(() => tidy(() => lossWith(isParam ? delta : t).item()));
        if (isParam) model.params.set(names[pi], p);
        t.dispose();
        return value;
      };
      const numeric = (evalWith(base[j] + eps) - evalWith(base[j] - eps)) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - analytic[pi][j]) / Math.max(1e-3, Math.abs(numeric)));
      checked++;
    }
  });
  expect(checked).toBeGreaterThan(70);
  expect(worst).toBeLessThan(1e-5);
  delta.dispose();
  model.dispose();
});

test.each([
  ['interleaved, full head', 6],
  ['interleaved, partial (2 of 6)', 2],
] as const)('rotary op (%s): gradient matches central differences', (_, rotaryDim) => {
  const cfg: RotaryConfig = { rotaryDim, base: 10000, layout: 'interleaved', scaling: { type: 'default' }, maxPositions: 16 };
  const shape = [1, 2, 3, 6];
  const n = shape.reduce((a, b) => a * b, 1);
  const weights = tensor(randData(n, 3), shape, 'float64');
  const r = gradcheck((x) => sum(mul(applyRotary(x, rotaryTables(cfg, [[1, 4, 9]], 'float64'), 'interleaved'), weights)), [randData(n, 8)], [shape]);
  expect(r.checked).toBe(n);
  expect(r.maxAbsErr).toBeLessThan(TOLERANCES.gradcheckF64.atol);
  weights.dispose();
});
