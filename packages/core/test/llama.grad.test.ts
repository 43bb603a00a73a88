/**
 * Finite-difference checks (f64, central differences, eps 1e-6) of a whole tiny Llama —
 * RMSNorm, rotary (half pairing, partial too), SiLU-gated MLP, grouped-query attention
 * with q/k/v/o biases — and of the rotary op on its own.
 */
import { addAt, crossEntropy, grad, hookName, noGrad, sum, tensor, tidy, type Tensor } from '../src';
import { cast, mul } from '../src/ops';
import { Llama, llamaConfig, llamaInitParams } from '../src/models/llama';
import { applyRotary, rotaryTables, type RotaryConfig } from '../src/models/rotary';
import { TOLERANCES } from '../test-utils/tolerances';
import { gradcheck, randData } from '../test-utils/gradcheck';

function f64Llama(): Llama {
  // 4 query heads share 2 key/value heads; std 0.3 so attention is far from uniform
  const config = llamaConfig({
    model_type: 'llama', vocab_size: 11, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2,
    intermediate_size: 12, max_position_embeddings: 16, attention_bias: true, initializer_range: 0.3, rope_theta: 10,
  });
  const params = new Map<string, Tensor>();
  for (const [k, v] of llamaInitParams(config, 5)) {
    const d = v.data() as Float32Array;
    // non-trivial norm weights and biases, so that their gradients are exercised
    const values = k.endsWith('norm.weight') ? d.map((_, i) => 1 + 0.1 * Math.sin(i)) : k.endsWith('bias') ? d.map((_, i) => 0.05 * Math.cos(i)) : d;
    params.set(k, tensor(Float64Array.from(values), v.shape, 'float64'));
    v.dispose();
  }
  return new Llama(config, params);
}

const IDS = [
  [1, 4, 2, 7, 3],
  [5, 5, 9, 0, 2],
];
const TARGETS = [4, 2, 7, 3, -100, 5, 9, 0, 2, -100];

test('whole-model gradients match central differences', () => {
  const model = f64Llama();
  const names = [
    'model.embed_tokens.weight',
    'model.layers.0.input_layernorm.weight',
    'model.layers.0.self_attn.q_proj.weight',
    'model.layers.0.self_attn.q_proj.bias',
    'model.layers.0.self_attn.k_proj.weight',
    'model.layers.0.self_attn.v_proj.weight',
    'model.layers.0.self_attn.o_proj.weight',
    'model.layers.0.post_attention_layernorm.weight',
    'model.layers.0.mlp.gate_proj.weight',
    'model.layers.0.mlp.up_proj.weight',
    'model.layers.0.mlp.down_proj.weight',
    'model.norm.weight',
    'lm_head.weight',
  ];
  const delta = tensor(new Float64Array(12).map((_, i) => 0.1 * (i - 6)), [1, 12], 'float64');
  const lossWith = (d: Tensor) => {
    const { logits } = model.forward(IDS, { hooks: { [hookName(0, 'mlp_key')]: (h) => addAt(h, [{ batch: 1, token: 2 }], d) } });
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
  ['half, full head', 4],
  ['half, partial (2 of 4)', 2],
] as const)('rotary op (%s): gradient matches central differences', (_, rotaryDim) => {
  const cfg: RotaryConfig = { rotaryDim, base: 10000, layout: 'half', scaling: { type: 'default' }, maxPositions: 16 };
  const shape = [2, 2, 3, 4];
  const n = shape.reduce((a, b) => a * b, 1);
  const weights = tensor(randData(n, 9), shape, 'float64');
  const positions = [
    [0, 3, 7],
    [2, 5, 11],
  ];
  const r = gradcheck((x) => sum(mul(applyRotary(x, rotaryTables(cfg, positions, 'float64'), 'half'), weights)), [randData(n, 4)], [shape]);
  expect(r.checked).toBe(n);
  expect(r.maxAbsErr).toBeLessThan(TOLERANCES.gradcheckF64.atol);
  weights.dispose();
});

test('the f32 and f64 forwards agree to f32 precision', () => {
  const model = f64Llama();
  const f32 = new Llama(model.config, new Map([...model.params].map(([k, v]) => [k, cast(v, 'float32')])));
  noGrad(() =>
    tidy(() => {
      const a = model.forward(IDS).logits.data() as Float64Array;
      const b = f32.forward(IDS).logits.data() as Float32Array;
      let m = 0;
      for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
      expect(m).toBeLessThan(1e-5);
    }),
  );
  f32.dispose();
  model.dispose();
});
