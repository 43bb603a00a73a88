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
