/**
 * The fused float32 kernels against the compositions of unfused ops they replace (same
 * float32 inputs; both sides go through @medit/core's public ops, so gradients are compared
 * too): linearAct vs act(linear()), attention vs softmax(scale·q·kᵀ + mask)·v, cross-entropy
 * vs −Σ onehot ⊙ logSoftmax, layerNorm vs its mean / variance formula. Tolerance: float32
 * rounding of a few hundred operations, |fused − composed| ≤ 2e-5·(1 + |composed|). The f64
 * finite-difference checks of the same kernels are in ops.grad.test.ts.
 */
import * as m from '../src';
import { Tensor, tensor } from '../src';
import { randData } from '../test-utils/gradcheck';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function leaf(shape: number[], seed: number, scale = 1): Tensor {
  const t = tensor(Float32Array.from(randData(size(shape), seed, scale)), shape, 'float32');
  t.requiresGrad = true;
  return t;
}

function expectClose(g: Float32Array, w: Float32Array, what: string): void {
  expect(g.length).toBe(w.length);
  let worst = 0;
  for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]) / (1 + Math.abs(w[i])));
  if (!(worst <= 2e-5)) throw new Error(`${what}: max |fused − composed| / (1 + |composed|) = ${worst}`);
}

/** Compares values and the gradients of Σ y⊙W with respect to every input. */
function compare(name: string, inputs: Tensor[], fused: () => Tensor, composed: () => Tensor): void {
  const run = (f: () => Tensor) =>
    m.tidy(() => {
      const y = f();
      const w = tensor(Float32Array.from(randData(y.size, 99)), y.shape, 'float32');
      return [y, ...m.grad(m.sum(m.mul(y, w)), inputs)].map((t) => t.data() as Float32Array);
    });
  const a = run(fused);
  const b = run(composed);
  a.forEach((t, i) => expectClose(t, b[i], i === 0 ? `${name} values` : `${name} gradient ${i - 1}`));
}

function withMemoryCheck(fn: () => void): void {
  const before = m.memory();
  fn();
  const after = m.memory();
  expect(after.numTensors).toBe(before.numTensors);
  expect(after.numBytes).toBe(before.numBytes);
}

const UNFUSED = { geluTanh: m.geluTanh, gelu: m.gelu, silu: m.silu, relu: m.relu, tanh: m.tanh, sigmoid: m.sigmoid };

describe('fused float32 kernels match their unfused compositions', () => {
  test.each(Object.keys(UNFUSED) as (keyof typeof UNFUSED)[])('linearAct %s (both layouts, with and without bias)', (act) => {
    withMemoryCheck(() => {
      const x = leaf([3, 7, 40], 1);
      const wIn = leaf([40, 70], 2, 0.3);
      const wOut = leaf([70, 40], 3, 0.3);
      const bias = leaf([70], 4);
      compare(`${act} in_out`, [x, wIn, bias], () => m.linearAct(x, wIn, bias, 'in_out', act), () => UNFUSED[act](m.linear(x, wIn, bias, 'in_out')));
      compare(`${act} out_in`, [x, wOut], () => m.linearAct(x, wOut, null, 'out_in', act), () => UNFUSED[act](m.linear(x, wOut, null, 'out_in')));
      [x, wIn, wOut, bias].forEach((t) => t.dispose());
    });
  });

  test('linearAct without gradients keeps no pre-activation', () => {
    const x = tensor(Float32Array.from(randData(12, 5)), [3, 4], 'float32');
    const w = tensor(Float32Array.from(randData(20, 6)), [4, 5], 'float32');
    const before = m.memory();
    const y = m.noGrad(() => m.linearAct(x, w, null, 'in_out', 'geluTanh'));
    expect(m.memory().numTensors).toBe(before.numTensors + 1);
    [y, x, w].forEach((t) => t.dispose());
  });

  test('attention (causal, padding mask) vs softmax(scale·q·kᵀ + mask)·v', () => {
    withMemoryCheck(() => {
      const [B, NH, T, HS] = [2, 3, 9, 16];
      const q = leaf([B, NH, T, HS], 11, 2);
      const k = leaf([B, NH, T, HS], 12, 2);
      const v = leaf([B, NH, T, HS], 13);
      // batch 1 pads keys 2 and 3 (every query still sees key 0: no fully masked row, where
      // the composition gives NaN and the kernel zeros)
      const keep = [...Array(T).fill(1), 1, 1, 0, 0, ...Array(T - 4).fill(1)];
      const keyMask = tensor(Int32Array.from(keep), [B, T], 'int32');
      const additive = new Float32Array(B * T * T);
      for (let b = 0; b < B; b++)
        for (let i = 0; i < T; i++)
          for (let j = 0; j < T; j++) additive[(b * T + i) * T + j] = j > i || keep[b * T + j] === 0 ? -Infinity : 0;
      const maskT = tensor(additive, [B, 1, T, T], 'float32');
      const scale = 1 / Math.sqrt(HS);
      compare(
        'attention',
        [q, k, v],
        () => m.attention(q, k, v, { causal: true, keyMask, scale }),
        () => m.matmul(m.softmax(m.add(m.mulScalar(m.matmul(q, k, { transB: true }), scale), maskT)), v),
      );
      [q, k, v, keyMask, maskT].forEach((t) => t.dispose());
    });
  });

  test('crossEntropy vs −Σ onehot ⊙ logSoftmax', () => {
    withMemoryCheck(() => {
      const [N, V] = [6, 1812];
      const x = leaf([N, V], 21, 8);
      const targets = [5, 1811, -100, 0, 900, 17];
      const onehot = new Float32Array(N * V);
      targets.forEach((t, r) => {
        if (t >= 0) onehot[r * V + t] = 1;
      });
      const oh = tensor(onehot, [N, V], 'float32');
      compare(
        'crossEntropy',
        [x],
        () => m.crossEntropy(x, targets, { reduction: 'none' }),
        () => m.neg(m.sum(m.mul(m.logSoftmax(x), oh), 1)),
      );
      [x, oh].forEach((t) => t.dispose());
    });
  });

  test('layerNorm vs (x − mean)/√(var + eps)·w + b', () => {
    withMemoryCheck(() => {
      const C = 160;
      const x = leaf([4, 5, C], 31, 3);
      const w = leaf([C], 32);
      const b = leaf([C], 33);
      compare('layerNorm', [x, w, b], () => m.layerNorm(x, w, b, 1e-5), () => {
        const mu = m.mean(x, -1, true);
        const d = m.sub(x, mu);
        const rstd = m.rsqrt(m.addScalar(m.mean(m.square(d), -1, true), 1e-5));
        return m.add(m.mul(m.mul(d, rstd), w), b);
      });
      [x, w, b].forEach((t) => t.dispose());
    });
  });
});
