/** topkLast: the native per-row top-k against a sort in JS, ties, dtypes and bad k. */
import { ArgumentError, memory, randn, tensor, topkLast } from '../src';

test('topkLast equals a stable descending sort of each row, f32 and f64', () => {
  const before = memory().numTensors;
  for (const dtype of ['float32', 'float64'] as const) {
    const x = randn([7, 300], { seed: 3, dtype });
    const data = Array.from(x.data() as Float32Array | Float64Array);
    for (const k of [1, 17, 300]) {
      const { values, indices } = topkLast(x, k);
      expect(values.shape).toEqual([7, k]);
      expect(indices.dtype).toBe('int32');
      for (let r = 0; r < 7; r++) {
        const row = data.slice(r * 300, (r + 1) * 300);
        const want = row.map((v, i) => ({ v, i })).sort((a, b) => b.v - a.v || a.i - b.i).slice(0, k);
        expect(Array.from(indices.data() as Int32Array).slice(r * k, (r + 1) * k)).toEqual(want.map((w) => w.i));
        expect(Array.from(values.data() as Float32Array).slice(r * k, (r + 1) * k)).toEqual(want.map((w) => w.v));
      }
      values.dispose();
      indices.dispose();
    }
    x.dispose();
  }
  expect(memory().numTensors).toBe(before);
});

test('topkLast breaks ties by the lower index and refuses k outside the last axis', () => {
  const x = tensor(new Float32Array([1, 2, 2, 0, 2]), [1, 5]);
  const { values, indices } = topkLast(x, 2);
  expect(Array.from(indices.data() as Int32Array)).toEqual([1, 2]);
  expect(Array.from(values.data() as Float32Array)).toEqual([2, 2]);
  expect(() => topkLast(x, 6)).toThrow(ArgumentError);
  expect(() => topkLast(x, 0)).toThrow(/k = 0 is outside 1..5/);
  [x, values, indices].forEach((t) => t.dispose());
});
