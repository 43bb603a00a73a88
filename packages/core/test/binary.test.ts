/**
 * Broadcasting binary ops against a plain JS loop, in float32 and float64, at sizes that the
 * kernel splits over the thread pool (rows of a broadcast shape, chunks of a flat one): every
 * stride pattern of the last axis (both contiguous, one broadcast, both broadcast) and a
 * scalar operand.
 */
import * as m from '../src';
import { tensor } from '../src';
import { randData } from '../test-utils/gradcheck';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Broadcasts index `i` of `out` back to the flat index of an operand of shape `s`. */
function source(i: number, out: number[], s: number[]): number {
  let src = 0;
  let stride = 1;
  let rest = i;
  for (let ax = out.length - 1; ax >= 0; ax--) {
    const idx = rest % out[ax];
    rest = Math.floor(rest / out[ax]);
    const k = ax - (out.length - s.length);
    if (k >= 0) {
      if (s[k] !== 1) src += idx * stride;
      stride *= s[k];
    }
  }
  return src;
}

const OPS = {
  add: [m.add, (x: number, y: number) => x + y],
  sub: [m.sub, (x: number, y: number) => x - y],
  mul: [m.mul, (x: number, y: number) => x * y],
  div: [m.div, (x: number, y: number) => x / y],
} as const;

const CASES: [number[], number[], number[]][] = [
  [[40, 30, 64], [40, 30, 64], [40, 30, 64]], // same shape: flat chunks
  [[40, 30, 64], [64], [40, 30, 64]], // bias-like: b broadcast over rows
  [[40, 30, 1], [30, 64], [40, 30, 64]], // a broadcast along the last axis
  [[40, 1, 1], [1, 30, 1], [40, 30, 1]], // both broadcast, length-1 rows
  [[40, 30, 64], [1], [40, 30, 64]], // scalar
];

describe.each(['float32', 'float64'] as const)('binary ops in %s', (dtype) => {
  test.each(Object.keys(OPS) as (keyof typeof OPS)[])('%s matches a JS loop for every broadcast pattern', (name) => {
    const before = m.memory();
    const [op, ref] = OPS[name];
    for (const [sa, sb, so] of CASES) {
      const da = randData(size(sa), 3, 2).map((v) => v + 3);
      const db = randData(size(sb), 4, 2).map((v) => v + 3); // away from 0 for div
      const arr = (d: Float64Array) => (dtype === 'float32' ? Float32Array.from(d) : d);
      const a = tensor(arr(da), sa, dtype);
      const b = tensor(arr(db), sb, dtype);
      const y = op(a, b);
      expect(y.shape).toEqual(so);
      const got = y.data() as Float32Array | Float64Array;
      const fa = arr(da);
      const fb = arr(db);
      for (let i = 0; i < got.length; i++) {
        const want = ref(fa[source(i, so, sa)], fb[source(i, so, sb)]);
        const expected = dtype === 'float32' ? Math.fround(want) : want;
        if (got[i] !== expected) throw new Error(`${name} ${sa} ${sb}: [${i}] = ${got[i]}, expected ${expected}`);
      }
      [a, b, y].forEach((t) => t.dispose());
    }
    expect(m.memory().numBytes).toBe(before.numBytes);
  });
});
