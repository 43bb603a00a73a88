/**
 * The MEMIT, EMMET and AlphaEdit solves on a tiny problem against dense float64 references
 * written out here (Gaussian elimination with partial pivoting), including the defining
 * equations: ΔW(λC + KKᵀ) = RKᵀ for MEMIT, ΔW k_i = r_i for EMMET with λ_e = 0, and
 * AlphaEdit's projector annihilating the preserved subspace.
 */
import { type Tensor, cholesky, memory, mulberry32, tensor } from '@medit/core';

import {
  alphaEditSolve,
  emmetSolve,
  memitSolve,
  memitSolveDirect,
  memitSolveWoodbury,
  nullSpace,
  projector,
  updateFactors,
  updateNorm,
  withRidge,
} from '../src';

type M = number[][];
const F = 10;
const C = 4;
const n = 3;

const zerosM = (r: number, c: number): M => Array.from({ length: r }, () => new Array(c).fill(0));
const T = (a: M): M => a[0].map((_, j) => a.map((row) => row[j]));
const mm = (a: M, b: M): M => a.map((row) => b[0].map((_, j) => row.reduce((s, x, k) => s + x * b[k][j], 0)));
const addM = (a: M, b: M, s = 1): M => a.map((row, i) => row.map((x, j) => x + s * b[i][j]));
const scale = (a: M, s: number): M => a.map((row) => row.map((x) => x * s));
const eye = (k: number): M => Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (i === j ? 1 : 0)));
const maxAbs = (a: M): number => Math.max(...a.flat().map(Math.abs));
const t64 = (a: M): Tensor => tensor(Float64Array.from(a.flat()), [a.length, a[0].length], 'float64');
const fromT = (t: Tensor): M => {
  const d = t.data() as ArrayLike<number>;
  const [r, c] = t.shape;
  return Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => d[i * c + j]));
};

/** X with A X = B by Gaussian elimination with partial pivoting (A need not be symmetric). */
function solveDense(a: M, b: M): M {
  const N = a.length;
  const A = a.map((r) => [...r]);
  const X = b.map((r) => [...r]);
  for (let c = 0; c < N; c++) {
    let p = c;
    for (let r = c + 1; r < N; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [X[c], X[p]] = [X[p], X[c]];
    for (let r = c + 1; r < N; r++) {
      const f = A[r][c] / A[c][c];
      for (let k = c; k < N; k++) A[r][k] -= f * A[c][k];
      for (let k = 0; k < X[0].length; k++) X[r][k] -= f * X[c][k];
    }
  }
  for (let c = N - 1; c >= 0; c--) {
    for (let k = 0; k < X[0].length; k++) {
      let s = X[c][k];
      for (let j = c + 1; j < N; j++) s -= A[c][j] * X[j][k];
      X[c][k] = s / A[c][c];
    }
  }
  return X;
}

/** A random orthogonal F×F matrix (Gram–Schmidt of Gaussian columns). */
function orthogonal(rand: () => number): M {
  const cols: number[][] = [];
  while (cols.length < F) {
    let v = Array.from({ length: F }, () => rand() - 0.5);
    for (const u of cols) {
      const d = v.reduce((s, x, i) => s + x * u[i], 0);
      v = v.map((x, i) => x - d * u[i]);
    }
    const norm = Math.hypot(...v);
    cols.push(v.map((x) => x / norm));
  }
  return T(cols);
}

// C = Q diag(λ) Qᵀ with three eigenvalues below AlphaEdit's threshold 2e-2.
const rand = mulberry32(7);
const Q = orthogonal(rand);
const EIG = [1e-4, 3e-3, 1e-2, 0.2, 0.5, 0.9, 1.3, 2, 3, 5];
const Cm = mm(mm(Q, EIG.map((e, i) => EIG.map((_, j) => (i === j ? e : 0)))), T(Q));
const K = Array.from({ length: n }, () => Array.from({ length: F }, () => rand() * 2 - 1)); // [n, F] rows = keys
const R = Array.from({ length: n }, () => Array.from({ length: C }, () => rand() - 0.5)); // [n, C] rows = residuals
const lambda = 2.5;

test('MEMIT direct solve satisfies ΔW(λC + KKᵀ) = RKᵀ and Woodbury gives the same update', () => {
  const before = memory().numTensors;
  const c = t64(Cm);
  const k = t64(K);
  const a = memitSolveDirect(c, k, lambda);
  const dW = mm(T(R), fromT(a)); // [C, F] math orientation
  const lhs = mm(dW, addM(scale(Cm, lambda), mm(T(K), K)));
  expect(maxAbs(addM(lhs, mm(T(R), K), -1))).toBeLessThan(1e-10);
  // dense reference: ΔWᵀ = (λC + KKᵀ)⁻¹ K Rᵀ
  const ref = T(solveDense(addM(scale(Cm, lambda), mm(T(K), K)), mm(T(K), R)));
  expect(maxAbs(addM(dW, ref, -1))).toBeLessThan(1e-10);

  const l = cholesky(c);
  const w = memitSolveWoodbury(l, k, lambda);
  expect(maxAbs(addM(fromT(w), fromT(a), -1))).toBeLessThan(1e-9);
  for (const t of [c, k, a, l, w]) t.dispose();
  expect(memory().numTensors).toBe(before);
});

test('EMMET matches R D⁻¹ KᵀC̃⁻¹ and, with λ_e = 0, meets every key exactly (ΔW k_i = r_i)', () => {
  const lam = 4;
  const mu = 0.3;
  const ct = addM(scale(Cm, lam), scale(eye(F), mu));
  const l = cholesky(t64(ct));
  const k = t64(K);
  const cInvK = solveDense(ct, T(K)); // [F, n]
  const D = addM(mm(K, cInvK), scale(eye(n), 0.1));
  const ref = mm(mm(T(R), solveDense(D, eye(n))), T(cInvK)); // R D⁻¹ KᵀC̃⁻¹ [C, F]
  const a = emmetSolve(l, k, 0.1);
  expect(maxAbs(addM(mm(T(R), fromT(a)), ref, -1))).toBeLessThan(1e-10);
  const exact = emmetSolve(l, k, 0);
  const dW = mm(T(R), fromT(exact));
  expect(maxAbs(addM(mm(dW, T(K)), T(R), -1))).toBeLessThan(1e-9); // ΔW K = R (columns)
  for (const t of [l, k, a, exact]) t.dispose();
});

test('AlphaEdit: the projector annihilates the preserved subspace and the reduced solve equals the reference LU form', () => {
  const before = memory().numTensors;
  const c = t64(Cm);
  const ns = nullSpace(c, 2e-2);
  expect(ns.dim).toBe(3);
  expect(Array.from(ns.eigenvalues).map((x) => +x.toPrecision(6))).toEqual(EIG);
  const P = projector(ns.basis);
  const Pm = fromT(P);
  // Eigenvectors with large eigenvalues (the preserved knowledge) are mapped to ≈ 0; P is a projector.
  for (let i = 3; i < F; i++) {
    const v = Q.map((row) => [row[i]]);
    expect(maxAbs(mm(Pm, v))).toBeLessThan(1e-10);
  }
  expect(maxAbs(addM(mm(Pm, Pm), Pm, -1))).toBeLessThan(1e-10);
  expect(maxAbs(mm(Pm, Q.map((row) => [row[0]])).map((r, i) => [r[0] - Q[i][0]]))).toBeLessThan(1e-10);

  // Past keys K_p (memory) and the reference's non-symmetric system (AE:AlphaEdit_main.py):
  // (P(KKᵀ + K_pK_pᵀ) + αI) X = P K Rᵀ  with ΔWᵀ = X.
  const Kp = Array.from({ length: 2 }, () => Array.from({ length: F }, () => rand() * 2 - 1));
  const alpha = 10;
  const sys = addM(mm(Pm, addM(mm(T(K), K), mm(T(Kp), Kp))), scale(eye(F), alpha));
  const X = solveDense(sys, mm(mm(Pm, T(K)), R)); // [F, C]
  const kpr = mm(Kp, fromT(ns.basis)); // K_pU₀
  const mem = t64(mm(T(kpr), kpr)); // (K_pU₀)ᵀ(K_pU₀)
  const k = t64(K);
  const a = alphaEditSolve(ns.basis, k, alpha, mem);
  const Xours = mm(T(fromT(a)), R);
  expect(maxAbs(addM(Xours, X, -1))).toBeLessThan(1e-10);
  // The update leaves the preserved subspace's outputs unchanged: ΔW v = Xᵀ v = 0.
  for (let i = 3; i < F; i++) expect(maxAbs(mm(T(Xours), Q.map((row) => [row[i]])))).toBeLessThan(1e-10);
  for (const t of [c, ns.basis, P, k, mem, a]) t.dispose();
  expect(memory().numTensors).toBe(before);
});

test('updateFactors: low-rank factors in the weight layout equal the dense update; updateNorm is its Frobenius norm', () => {
  const R2 = R.slice(0, 2); // n = 2 < F·C/(F+C): stored as factors
  const a = t64(Array.from({ length: 2 }, () => Array.from({ length: F }, () => rand() - 0.5)));
  const r = t64(R2);
  const dense = mm(T(R2), fromT(a)); // [C, F]
  const conv = updateFactors(a, r, 'in_out');
  const lin = updateFactors(a, r, 'out_in');
  if (!('left' in conv) || !('left' in lin)) throw new Error('expected low-rank factors for n = 2');
  expect(conv.left.shape).toEqual([F, 2]);
  expect(maxAbs(addM(mm(fromT(conv.left), fromT(conv.right)), T(dense), -1))).toBeLessThan(1e-6);
  expect(maxAbs(addM(mm(fromT(lin.left), fromT(lin.right)), dense, -1))).toBeLessThan(1e-6);
  const fro = Math.hypot(...dense.flat());
  expect(updateNorm(a, r)).toBeCloseTo(fro, 10);
  // A batch as large as the matrix is stored densely.
  const big = t64(Array.from({ length: 4 }, () => Array.from({ length: 2 }, () => rand())));
  const rb = t64(Array.from({ length: 4 }, () => Array.from({ length: 2 }, () => rand())));
  const d = updateFactors(big, rb, 'in_out');
  expect('delta' in d && d.delta.shape).toEqual([2, 2]);
  for (const t of [a, r, big, rb, conv.left, conv.right, lin.left, lin.right, (d as { delta: Tensor }).delta]) t.dispose();
});

test('memitSolve: auto falls back to the direct solve when Woodbury’s n×n system does not factor; woodbury then throws; direct and a small well-posed batch are unchanged', () => {
  // C nearly singular along e₃ and two keys equal along it: C⁻¹Kᵀ is ~1e300 there, so λI and the
  // keys' other components vanish from λI + K C⁻¹ Kᵀ in float64 and it is singular, while
  // λC + KKᵀ is well conditioned
  const c = t64([
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1e-300],
  ]);
  const k = t64([
    [0.1, 0, 0, 1],
    [0, 0.1, 0, 1],
  ]);
  const factor = () => cholesky(c);
  const got = memitSolve(c, factor, k, 1, 'auto');
  expect(got.solver).toBe('direct (Woodbury system not positive definite)');
  const direct = memitSolveDirect(c, k, 1);
  expect(maxAbs(addM(fromT(got.adj), fromT(direct), -1))).toBe(0);
  // MEMIT's defining equation holds: A(λC + KKᵀ) = K
  expect(maxAbs(addM(mm(fromT(got.adj), addM(fromT(c), mm(T(fromT(k)), fromT(k)))), fromT(k), -1))).toBeLessThan(1e-9);
  expect(() => memitSolve(c, factor, k, 1, 'woodbury')).toThrow(/inner system of the edit is not positive definite/);
  expect(memitSolve(c, factor, k, 1, 'direct').solver).toBe('direct');
  // a well-posed C: Woodbury, equal to the direct solve
  const c2 = t64(addM(eye(4), scale(eye(4), 1)));
  const w = memitSolve(c2, () => cholesky(c2), k, 1, 'auto');
  expect(w.solver).toBe('woodbury');
  expect(maxAbs(addM(fromT(w.adj), fromT(memitSolveDirect(c2, k, 1)), -1))).toBeLessThan(1e-12);
  expect(memitSolve(c2, () => null, k, 1, 'auto').solver).toBe('direct (C not positive definite)');
});

test('memitSolveDirect: a covariance singular where no key reaches (a dead neuron) is an error that names mom2_ridge; the ridge makes it solvable', () => {
  // neuron 3 never fires (zero row and column of C) and no key has a component along it
  const c = t64([
    [1, 0.5, 0, 0],
    [0.5, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 0],
  ]);
  const k = t64([
    [1, 0, 0.5, 0],
    [0, 1, 0, 0],
  ]);
  expect(() => memitSolveDirect(c, k, 3)).toThrow(/λC \+ KᵀK \(4×4\) is not positive definite.*mom2_ridge/);
  const ridged = withRidge(c, 1e-3);
  const a = fromT(memitSolveDirect(ridged, k, 3));
  // MEMIT's defining equation on the ridged system, and no weight on the dead neuron
  expect(maxAbs(addM(mm(a, addM(scale(fromT(ridged), 3), mm(T(fromT(k)), fromT(k)))), fromT(k), -1))).toBeLessThan(1e-9);
  expect(Math.max(...a.map((row) => Math.abs(row[3])))).toBe(0);
});
