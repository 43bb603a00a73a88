/**
 * Finite-difference checks (float64, central differences) of every op's backward.
 * Each case reduces the op's output to a scalar with fixed random weights so that every
 * output element contributes a distinct gradient.
 */
import * as m from '../src';
import { Tensor, tensor } from '../src';
import { gradcheck, randData } from '../test-utils/gradcheck';
import { TOLERANCES } from '../test-utils/tolerances';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Σ y ⊙ W for fixed pseudo-random W. */
function weighted(y: Tensor, seed = 99): Tensor {
  const w = tensor(randData(y.size, seed), y.shape, 'float64');
  return m.sum(m.mul(y, w));
}

function check(name: string, shapes: number[][], f: (...xs: Tensor[]) => Tensor, opts: { scale?: number; positive?: boolean; sample?: number } = {}) {
  test(name, () => {
    const before = m.memory();
    const inputs = shapes.map((s, i) => {
      const d = randData(size(s), 17 + i * 31, opts.scale ?? 1);
      if (opts.positive) for (let j = 0; j < d.length; j++) d[j] = Math.abs(d[j]) + 0.5;
      return d;
    });
    const r = gradcheck(f, inputs, shapes, { sample: opts.sample ?? 200 });
    expect(r.checked).toBeGreaterThan(0);
    expect(r.maxAbsErr).toBeLessThan(TOLERANCES.gradcheckF64.atol + TOLERANCES.gradcheckF64.rtol);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    const after = m.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  });
}

describe('gradients (f64 finite differences)', () => {
  check('matmul', [[3, 4], [4, 5]], (a, b) => weighted(m.matmul(a, b)));
  check('matmul transA/transB', [[4, 3], [5, 4]], (a, b) => weighted(m.matmul(a, b, { transA: true, transB: true })));
  check('matmul batched 3-D @ 3-D', [[2, 3, 4], [2, 4, 2]], (a, b) => weighted(m.matmul(a, b)));
  check('matmul batched 3-D @ broadcast 2-D', [[2, 3, 4], [4, 2]], (a, b) => weighted(m.matmul(a, b)));
  check('matmul 2-D @ batched transB', [[3, 4], [2, 5, 4]], (a, b) => weighted(m.matmul(a, b, { transB: true })));
  check('linear out_in with bias', [[2, 3, 4], [5, 4], [5]], (x, w, b) => weighted(m.linear(x, w, b)));
  check('linear in_out (Conv1D) with bias', [[3, 4], [4, 5], [5]], (x, w, b) => weighted(m.linear(x, w, b, 'in_out')));
  check('linear without bias', [[3, 4], [5, 4]], (x, w) => weighted(m.linear(x, w)));
  for (const act of ['geluTanh', 'gelu', 'silu', 'tanh', 'sigmoid'] as const) {
    check(`linearAct ${act} in_out with bias`, [[2, 3, 4], [4, 5], [5]], (x, w, b) => weighted(m.linearAct(x, w, b, 'in_out', act)));
  }
  check('linearAct relu out_in without bias (away from 0)', [[3, 4], [5, 4]], (x, w) => weighted(m.linearAct(x, w, null, 'out_in', 'relu')));
  check('add with broadcasting', [[2, 3, 4], [4]], (a, b) => weighted(m.add(a, b)));
  check('sub with broadcasting', [[2, 1, 4], [3, 1]], (a, b) => weighted(m.sub(a, b)));
  check('mul with broadcasting', [[2, 3, 4], [1, 3, 1]], (a, b) => weighted(m.mul(a, b)));
  check('div', [[3, 4], [3, 4]], (a, b) => weighted(m.div(a, b)), { positive: true });
  for (const op of ['exp', 'tanh', 'sigmoid', 'silu', 'gelu', 'geluTanh', 'square', 'neg'] as const) {
    check(`unary ${op}`, [[3, 5]], (x) => weighted(m[op](x)));
  }
  for (const op of ['log', 'sqrt', 'rsqrt'] as const) check(`unary ${op}`, [[3, 5]], (x) => weighted(m[op](x)), { positive: true });
  check('relu (away from 0)', [[3, 5]], (x) => weighted(m.relu(x)));
  check('mulScalar/addScalar/powScalar', [[4, 3]], (x) => weighted(m.powScalar(m.addScalar(m.mulScalar(x, 0.5), 2), 3)));
  check('sum over axis / mean', [[2, 3, 4]], (x) => m.add(weighted(m.sum(x, 1)), m.mean(m.square(x))));
  check('layerNorm', [[2, 3, 6], [6], [6]], (x, w, b) => weighted(m.layerNorm(x, w, b, 1e-5)));
  check('rmsNorm', [[2, 3, 6], [6]], (x, w) => weighted(m.rmsNorm(x, w, 1e-6)));
  check('softmax', [[3, 7]], (x) => weighted(m.softmax(x)), { scale: 3 });
  check('logSoftmax', [[3, 7]], (x) => weighted(m.logSoftmax(x)), { scale: 3 });
  check('attention causal', [[2, 2, 4, 3], [2, 2, 4, 3], [2, 2, 4, 3]], (q, k, v) => weighted(m.attention(q, k, v, { causal: true })));
  check('attention with padding mask and GQA', [[2, 4, 3, 2], [2, 2, 5, 2], [2, 2, 5, 2]], (q, k, v) => {
    const mask = tensor(Int32Array.from([1, 1, 1, 1, 1, 0, 1, 1, 1, 1]), [2, 5], 'int32');
    return weighted(m.attention(q, k, v, { causal: true, keyMask: mask }));
  });
  check('attention non-causal', [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]], (q, k, v) => weighted(m.attention(q, k, v, { causal: false })));
  check('embedding (repeated ids accumulate)', [[5, 3]], (table) => {
    const ids = tensor(Int32Array.from([1, 3, 1, 0]), [2, 2], 'int32');
    return weighted(m.embedding(ids, table));
  });
  check('crossEntropy mean with ignore index', [[4, 6]], (x) => m.crossEntropy(x, [2, -100, 5, 0]), { scale: 2 });
  check('crossEntropy none', [[2, 3, 6]], (x) => weighted(m.crossEntropy(x, [1, 2, 3, 4, 5, 0], { reduction: 'none' })), { scale: 2 });
  check('klDiv both arguments', [[3, 5], [3, 5]], (a, b) => weighted(m.klDiv(m.logSoftmax(a), m.logSoftmax(b))), { scale: 2 });
  check('permute / transpose', [[2, 3, 4]], (x) => weighted(m.transpose(m.permute(x, [2, 0, 1]), 0, 2)));
  check('slice / concat', [[2, 5, 3], [2, 2, 3]], (a, b) => weighted(m.concat([m.slice(a, 1, 1, 3), b], 1)));
  check('indexSelect / indexAdd', [[5, 3], [3, 3]], (x, s) => weighted(m.indexAdd(m.indexSelect(x, 0, [4, 0, 4]), 0, [1, 1, 2], s)));
  check('addAt / replaceAt / gatherAt', [[2, 3, 4], [2, 4]], (h, v) => {
    const pos = [{ batch: 0, token: 2 }, { batch: 1, token: 0 }];
    return m.add(weighted(m.addAt(h, pos, v)), m.add(weighted(m.replaceAt(h, pos, v), 7), weighted(m.gatherAt(h, pos), 8)));
  });
  check('reshape', [[2, 6]], (x) => weighted(m.reshape(x, [3, -1])));
});

describe('forward values', () => {
  test('gelu exact and tanh forms match closed-form values', () => {
    const x = tensor([-2, -0.5, 0, 0.5, 2], [5], 'float64');
    const erf = (z: number) => {
      // Abramowitz–Stegun 7.1.26 is too coarse; use the series for |z| ≤ 2
      let s = 0;
      let term = z;
      for (let n = 0; n < 60; n++) {
        s += term / (2 * n + 1);
        term *= (-z * z) / (n + 1);
      }
      return (2 / Math.sqrt(Math.PI)) * s;
    };
    const exact = Array.from(m.gelu(x).data() as Float64Array);
    const approx = Array.from(m.geluTanh(x).data() as Float64Array);
    [-2, -0.5, 0, 0.5, 2].forEach((v, i) => {
      expect(exact[i]).toBeCloseTo(0.5 * v * (1 + erf(v / Math.SQRT2)), 12);
      expect(approx[i]).toBeCloseTo(0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), 12);
    });
  });

  test('crossEntropy ignores rows and averages over the rest', () => {
    const logits = tensor([[0, 0], [5, 1], [1, 1]], [3, 2], 'float64');
    const loss = m.crossEntropy(logits, [0, -100, 1]).item();
    expect(loss).toBeCloseTo(Math.log(2), 12);
  });

  test('klDiv of identical distributions is zero and positive otherwise', () => {
    const a = m.logSoftmax(tensor([[1, 2, 3]], [1, 3], 'float64'));
    const b = m.logSoftmax(tensor([[3, 2, 1]], [1, 3], 'float64'));
    expect(m.klDiv(a, a).item()).toBeCloseTo(0, 14);
    expect(m.klDiv(a, b).item()).toBeGreaterThan(0.1);
  });

  test('attention masks padding keys and future keys', () => {
    const q = tensor(randData(1 * 1 * 3 * 2, 1), [1, 1, 3, 2], 'float64');
    const k = tensor(randData(6, 2), [1, 1, 3, 2], 'float64');
    const v = tensor([[[[1, 0], [0, 1], [5, 5]]]], [1, 1, 3, 2], 'float64');
    const mask = tensor(Int32Array.from([1, 0, 1]), [1, 3], 'int32');
    const out = m.attention(q, k, v, { keyMask: mask }).data() as Float64Array;
    // query 0 sees only key 0; query 1 sees key 0 (key 1 is padding)
    expect(Array.from(out.slice(0, 4))).toEqual([1, 0, 1, 0]);
  });

  test('shape errors name the op and both shapes', () => {
    const a = tensor([[1, 2, 3]], [1, 3]);
    expect(() => m.matmul(a, a)).toThrow(m.ShapeError);
    expect(() => m.matmul(a, a)).toThrow(/matmul: inner dimensions differ \(\[1,3\] @ \[1,3\]\)/);
    expect(() => m.add(tensor([1, 2]), tensor([1, 2, 3]))).toThrow(/do not broadcast/);
  });

  test('gradient flows through a float cast unchanged', () => {
    const x = tensor([1, 2, 3], [3], 'float64');
    x.requiresGrad = true;
    const [g] = m.grad(m.sum(m.cast(m.mulScalar(x, 2), 'float32')), [x]);
    expect(g.dtype).toBe('float64');
    expect(Array.from(g.data() as Float64Array)).toEqual([2, 2, 2]);
  });

  test('use after dispose throws DisposedTensorError', () => {
    const a = tensor([1, 2]);
    a.dispose();
    expect(() => m.exp(a)).toThrow(m.DisposedTensorError);
  });
});

describe('l2Norm', () => {
  test('gradient matches finite differences and is 0 at the origin', () => {
    const r = gradcheck((x) => m.l2Norm(x), [randData(6, 5)], [[2, 3]]);
    expect(r.maxAbsErr).toBeLessThan(1e-6);
    const z = tensor([0, 0, 0], [3], 'float64');
    z.requiresGrad = true;
    const [g] = m.grad(m.l2Norm(z), [z]);
    expect(Array.from(g.data() as Float64Array)).toEqual([0, 0, 0]);
  });
});
