/** Linear algebra against hand-computed values and identities. */
import { memory } from '../src/engine';
import { addInplace, cholesky, choleskySolve, clone, eigh, gemmInplace, secondMomentAccumulate } from '../src/linalg';
import { matmul } from '../src/ops';
import { tensor, zeros } from '../src/tensor';

const arr = (t: { data(): unknown }) => Array.from(t.data() as Float64Array);

test('second moment accumulates xᵀx across calls, from float32 rows into float64', () => {
  const acc = zeros([2, 2], 'float64');
  secondMomentAccumulate(acc, tensor([[1, 2], [3, 4]], [2, 2], 'float32'));
  secondMomentAccumulate(acc, tensor([[1, 0]], [1, 2], 'float32'));
  // [1,2]ᵀ[1,2] + [3,4]ᵀ[3,4] + [1,0]ᵀ[1,0] = [[1+9+1, 2+12], [2+12, 4+16]]
  expect(arr(acc)).toEqual([11, 14, 14, 20]);
});

test('cholesky factor and solve on a 3x3 SPD matrix', () => {
  const a = tensor([[4, 12, -16], [12, 37, -43], [-16, -43, 98]], [3, 3], 'float64');
  const l = cholesky(a);
  expect(arr(l)).toEqual([2, 0, 0, 6, 1, 0, -8, 5, 3]); // the classic textbook example
  const b = tensor([[1], [2], [3]], [3, 1], 'float64');
  const x = choleskySolve(l, b);
  const ax = arr(matmul(a, x));
  [1, 2, 3].forEach((v, i) => expect(ax[i]).toBeCloseTo(v, 10));
});

test('cholesky names the failing pivot of an indefinite matrix', () => {
  expect(() => cholesky(tensor([[1, 2], [2, 1]], [2, 2], 'float64'))).toThrow(/not positive definite \(pivot 1/);
});

test('eigh returns ascending eigenvalues and orthonormal eigenvectors', () => {
  const a = tensor([[2, 1, 0], [1, 2, 0], [0, 0, 5]], [3, 3], 'float64');
  const { values, vectors } = eigh(a);
  const w = arr(values);
  [1, 3, 5].forEach((v, i) => expect(w[i]).toBeCloseTo(v, 10));
  const av = arr(matmul(a, vectors));
  const v = arr(vectors);
  for (let j = 0; j < 3; j++) for (let i = 0; i < 3; i++) expect(av[i * 3 + j]).toBeCloseTo(w[j] * v[i * 3 + j], 10);
});

test('eigh on a 640×640 matrix (fact-small’s d_ff): A·V = V·diag(λ), VᵀV = I, repeated and zero eigenvalues', () => {
  const n = 640;
  let seed = 11;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  // A = B Bᵀ with B [n, n/2] (rank n/2: half the spectrum is 0) plus 3·(e0 e0ᵀ + e1 e1ᵀ) on a
  // symmetric indefinite part, so the solver meets a degenerate null space and negative values.
  const b = tensor(Float64Array.from({ length: n * (n / 2) }, rand), [n, n / 2], 'float64');
  const a = matmul(b, b, { transB: true });
  const ad = a.data() as Float64Array;
  for (let i = 0; i < n; i++) ad[i * n + ((i + 1) % n)] -= 0.5;
  for (let i = 0; i < n; i++) ad[((i + 1) % n) * n + i] -= 0.5;
  const sym = tensor(ad, [n, n], 'float64');
  const { values, vectors } = eigh(sym);
  const w = values.data() as Float64Array;
  for (let i = 1; i < n; i++) expect(w[i]).toBeGreaterThanOrEqual(w[i - 1]);
  expect(w[0]).toBeLessThan(0);
  const scale = Math.max(Math.abs(w[0]), Math.abs(w[n - 1]));
  const av = matmul(sym, vectors).data() as Float64Array;
  const v = vectors.data() as Float64Array;
  let res = 0;
  for (let i = 0; i < n * n; i++) res = Math.max(res, Math.abs(av[i] - w[i % n] * v[i]));
  expect(res).toBeLessThan(1e-11 * scale);
  const vtv = matmul(vectors, vectors, { transA: true }).data() as Float64Array;
  let orth = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) orth = Math.max(orth, Math.abs(vtv[i * n + j] - (i === j ? 1 : 0)));
  expect(orth).toBeLessThan(1e-12);
  // trace is preserved
  let tr = 0;
  let sw = 0;
  for (let i = 0; i < n; i++) (tr += ad[i * n + i]), (sw += w[i]);
  expect(Math.abs(tr - sw)).toBeLessThan(1e-9 * Math.abs(tr));
  for (const t of [b, a, sym, values, vectors]) t.dispose();
});

test('eigh on diagonal, zero and 1×1 matrices; rejects non-finite entries', () => {
  const d = eigh(tensor([[3, 0, 0], [0, -1, 0], [0, 0, 2]], [3, 3], 'float64'));
  expect(arr(d.values)).toEqual([-1, 2, 3]);
  expect(arr(d.vectors).map(Math.abs)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
  expect(arr(eigh(zeros([4, 4], 'float64')).values)).toEqual([0, 0, 0, 0]);
  expect(arr(eigh(tensor([[7]], [1, 1], 'float64')).values)).toEqual([7]);
  expect(() => eigh(tensor([[1, NaN], [NaN, 1]], [2, 2], 'float64'))).toThrow(/non-finite/);
});

test('gemmInplace adds a rank-one update u vᵀ; addInplace reverts it exactly', () => {
  const before = memory();
  const w = tensor([[1, 2, 3], [4, 5, 6]], [2, 3], 'float32');
  const orig = clone(w);
  const u = tensor([[1], [2]], [2, 1], 'float32');
  const v = tensor([[1, 0, -1]], [1, 3], 'float32');
  gemmInplace(w, u, v);
  expect(arr(w)).toEqual([2, 2, 2, 6, 5, 4]);
  const delta = zeros([2, 3]);
  gemmInplace(delta, u, v);
  addInplace(w, delta, -1);
  expect(arr(w)).toEqual(arr(orig));
  for (const t of [w, orig, u, v, delta]) t.dispose();
  expect(memory().numBytes).toBe(before.numBytes);
});
