/**
 * Gradient decomposition (MEND §3.1, App. D): Σ_t δ_t u_tᵀ from the captured factors equals the
 * dense weight gradient for every MLP linear of GPT-2 (Conv1D, in_out), GPT-J (out_in) and Llama
 * (SwiGLU gate/up/down), with padding; the low-rank EditDelta update equals the dense one.
 */
import {
  EditDelta,
  type CausalLM,
  type Tensor,
  add,
  createModel,
  crossEntropy,
  decomposeGradients,
  grad,
  lowRankDelta,
  lowRankUpdate,
  memory,
  mlpLinears,
  mulScalar,
  randn,
  sum,
  tensor,
  tidy,
  withWeights,
} from '../src';

function f64(model: CausalLM): CausalLM {
  for (const [name, t] of [...model.params]) {
    const d = t.data() as Float32Array;
    // Non-zero biases and non-unit norms so every path of the gradient is exercised.
    const v = name.endsWith('bias') ? d.map((_, i) => 0.05 * Math.cos(i + name.length)) : d.map((x) => x * 5);
    model.params.set(name, tensor(Float64Array.from(v), t.shape, 'float64'));
    t.dispose();
  }
  return model;
}

const CONFIGS: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: 'gpt2', vocab_size: 13, n_embd: 8, n_head: 2, n_layer: 2, n_positions: 16, n_inner: 12 },
  gptj: { model_type: 'gptj', vocab_size: 13, n_embd: 8, n_head: 2, n_layer: 2, n_positions: 16, rotary_dim: 2, n_inner: 12 },
  llama: { model_type: 'llama', vocab_size: 13, hidden_size: 8, num_attention_heads: 2, num_key_value_heads: 1, num_hidden_layers: 2, intermediate_size: 12, max_position_embeddings: 16, mlp_bias: true },
};

const IDS = [
  [1, 4, 2, 7, 3],
  [5, 5, 9, 0, 0],
];
const MASK = [
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
];
// Next-token labels: the last token of each row and the padding are unsupervised.
const LABELS = [4, 2, 7, 3, -100, 5, 9, -100, -100, -100];

describe.each(Object.keys(CONFIGS))('%s', (family) => {
  test('Σ δ uᵀ equals the dense gradient of every MLP linear of every layer', () => {
    const model = f64(createModel(CONFIGS[family], { seed: 3 }));
    const before = memory().numTensors;
    const linears = [...mlpLinears(model, 0), ...mlpLinears(model, 1)];
    expect(linears.map((l) => l.role)).toEqual(family === 'llama' ? ['gate', 'up', 'out', 'gate', 'up', 'out'] : ['in', 'out', 'in', 'out']);
    tidy(() => {
      const lossFn = (logits: Tensor) => crossEntropy(logits, LABELS);
      const { loss, factors } = decomposeGradients(model, IDS, lossFn, linears, { attentionMask: MASK });
      // Dense reference: the ordinary gradient of the same loss w.r.t. the weights.
      const weights = linears.map((l) => model.param(l.weightName));
      for (const w of weights) w.requiresGrad = true;
      const ref = crossEntropy(model.forward(IDS, { attentionMask: MASK }).logits, LABELS);
      const dense = grad(ref, weights);
      for (const w of weights) w.requiresGrad = false;
      expect(loss).toBeCloseTo(ref.item(), 12);
      factors.forEach((f, i) => {
        expect(f.u.shape).toEqual([10, f.linear.inDim]);
        expect(f.delta.shape).toEqual([10, f.linear.outDim]);
        const g = lowRankDelta(f.u, f.delta, f.linear.layout).data() as Float64Array;
        const d = dense[i].data() as Float64Array;
        const scale = Math.max(...Array.from(d, Math.abs));
        expect(scale).toBeGreaterThan(1e-6);
        for (let j = 0; j < d.length; j++) expect(Math.abs(g[j] - d[j])).toBeLessThan(1e-10 * (1 + scale));
        // Padding rows carry no gradient.
        const delta = f.delta.data() as Float64Array;
        const n = f.linear.outDim;
        for (const row of [8, 9]) for (let c = 0; c < n; c++) expect(Math.abs(delta[row * n + c])).toBe(0);
      });
    });
    expect(memory().numTensors).toBe(before);
    model.dispose();
  });
});

test('the low-rank EditDelta update equals the dense update, in both layouts, and reverts exactly', () => {
  for (const family of ['gpt2', 'gptj']) {
    const model = createModel(CONFIGS[family], { seed: 5 });
    tidy(() => {
      const updates = mlpLinears(model, 1).map((l, i) => {
        const u = randn([6, l.inDim], { seed: 10 + i });
        const delta = randn([6, l.outDim], { seed: 20 + i });
        const expected = add(model.param(l.weightName), mulScalar(lowRankDelta(u, delta, l.layout), -0.3));
        return { update: lowRankUpdate(l.weightName, u, delta, l.layout, -0.3), expected, name: l.weightName };
      });
      const original = updates.map((u) => model.param(u.name).data() as Float32Array);
      const ed = new EditDelta(
        updates.map((u) => u.update),
        { method: 'test' },
      );
      ed.apply(model);
      for (const u of updates) {
        const got = model.param(u.name).data() as Float32Array;
        const want = u.expected.data() as Float32Array;
        for (let j = 0; j < want.length; j++) expect(Math.abs(got[j] - want[j])).toBeLessThan(1e-5);
      }
      ed.revert();
      updates.forEach((u, i) => expect(model.param(u.name).data()).toEqual(original[i]));
      ed.dispose();
    });
    model.dispose();
  }
});

test('withWeights runs the forward pass on the override and restores the weight, also on throw', () => {
  const model = createModel(CONFIGS.gpt2, { seed: 1 });
  const [, out] = mlpLinears(model, 0);
  const w = model.param(out.weightName);
  tidy(() => {
    const base = sum(model.forward(IDS.slice(0, 1)).logits).item();
    const shift = add(w, mulScalar(w, 1));
    const changed = withWeights(model, new Map([[out.weightName, shift]]), () => sum(model.forward(IDS.slice(0, 1)).logits).item());
    expect(changed).not.toBeCloseTo(base, 6);
    expect(model.param(out.weightName)).toBe(w);
    expect(() =>
      withWeights(model, new Map([[out.weightName, shift]]), () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(model.param(out.weightName)).toBe(w);
    expect(() => withWeights(model, new Map([[out.weightName, tensor([1, 2])]]), () => 0)).toThrow(/shape/);
  });
  model.dispose();
});
