/**
 * `grad` does backward work only along paths to the tensors asked for: a frozen weight that
 * requires grad for another purpose gets no dW GEMM, a branch that leads to no `wrt` tensor
 * runs no backward kernel, and the gradients are those of the whole backward.
 */
import { grad } from '../src/autograd';
import { memory, tidy } from '../src/engine';
import { add, addAt, cast, exp, hookName, mul, sum } from '../src';
import { GPT2, gpt2Config, gpt2InitParams } from '../src/models/gpt2';
import { randn, type Tensor } from '../src/tensor';
import { kernelCalls, weightGradientCalls } from '../test-utils/kernel-calls';

/** A 2-layer GPT-2 in f64. */
function model(): GPT2 {
  const config = gpt2Config({ model_type: 'gpt2', vocab_size: 20, n_embd: 16, n_head: 2, n_layer: 2, n_positions: 16 });
  const params = new Map<string, Tensor>();
  for (const [name, t] of gpt2InitParams(config, 3)) {
    params.set(name, cast(t, 'float64'));
    t.dispose();
  }
  return new GPT2(config, params);
}

test('a δ gradient through frozen weights that require grad runs no dW GEMM and equals the whole backward', async () => {
  const m = model();
  const before = memory().numTensors;
  const ids = [
    [1, 5, 7, 3, 9],
    [2, 4, 6, 8, 10],
  ];
  const params = [...m.params.values()];
  for (const p of params) p.requiresGrad = true; // e.g. fine-tuning elsewhere
  const delta = randn([2, 16], { seed: 5, dtype: 'float64' });
  delta.requiresGrad = true;
  const loss = () =>
    sum(
      m.forward(ids, {
        hooks: { [hookName(0, 'mlp_out')]: (x) => addAt(x, [{ batch: 0, token: 2 }, { batch: 1, token: 3 }], delta) },
      }).logits,
    );
  const { result: pruned, calls } = await kernelCalls('linearBackward', () => tidy(() => grad(loss(), [delta])));
  // no weight or bias gradient asked of any linear
  expect(calls.length).toBeGreaterThan(0);
  expect(weightGradientCalls(calls)).toHaveLength(0);
  tidy(() => {
    const whole = grad(loss(), [...params, delta]);
    const a = pruned[0].data() as Float64Array;
    const b = whole[whole.length - 1].data() as Float64Array;
    expect(Array.from(a)).toEqual(Array.from(b));
  });
  for (const t of [delta, ...pruned]) t.dispose();
  expect(params.every((p) => p.requiresGrad)).toBe(true); // flags restored
  for (const p of params) p.requiresGrad = false;
  expect(memory().numTensors).toBe(before);
  m.dispose();
});

test('a branch that leads to no wrt tensor runs no backward', async () => {
  const before = memory().numTensors;
  const [a, w, c] = [1, 2, 3].map((seed) => randn([4], { seed, dtype: 'float64' }));
  for (const t of [a, w, c]) t.requiresGrad = true;
  const { result: g, calls } = await kernelCalls('unaryBackward', () => tidy(() => grad(add(sum(mul(a, w)), sum(exp(c))), [a])));
  expect(calls).toHaveLength(0); // exp's backward never ran
  expect(Array.from(g[0].data() as Float64Array)).toEqual(Array.from(w.data() as Float64Array));
  // asked for, the same branch runs
  const withC = await kernelCalls('unaryBackward', () => tidy(() => grad(sum(exp(c)), [c])));
  expect(withC.calls).toHaveLength(1);
  for (const t of [a, w, c, ...g, ...withC.result]) t.dispose();
  expect(memory().numTensors).toBe(before);
});
