/**
 * The linear algebra of MEMIT, EMMET and AlphaEdit, in float64 over the native engine.
 *
 * Convention: K [n, F] holds one key per row (request), R [n, C] one residual per row.
 * Every solver returns the "adjusted keys" A [n, F] (MEMIT's `adj_k`, transposed) so that
 * the update in math orientation (W is out×in) is ΔW = Rᵀ A, i.e. ΔW k = Σ_i r_i (a_iᵀ k).
 * The update is then rank ≤ n, stored as factors in the weight's own layout (see
 * {@link updateFactors}).
 *
 * - MEMIT (Meng et al. 2023, Eq. 14; MEMIT:memit/memit_main.py): ΔW = R Kᵀ (λC + K Kᵀ)⁻¹,
 *   so A = ((λC + KᵀK)⁻¹ Kᵀ)ᵀ in the row convention: one F×F Cholesky per batch.
 * - MEMIT by Woodbury (spec §4): (λC + KKᵀ)⁻¹K = C⁻¹K (λI + KᵀC⁻¹K)⁻¹, with C's Cholesky
 *   factor computed once per layer: two triangular solves with n right-hand sides and an
 *   n×n Cholesky per batch, no O(F³) work.
 * - EMMET (Gupta et al. 2024; EE:easyeditor/models/emmet/emmet_main.py): C̃ = λC + μI,
 *   D = KᵀC̃⁻¹K + λ_e I, ΔW = R D⁻¹ KᵀC̃⁻¹. That is the Woodbury form with λI replaced by λ_e I
 *   and C by C̃ (MEMIT is EMMET with λ_e = 1 on C̃ = λC).
 * - AlphaEdit (Fang et al. 2025, Eq. 10; AE:AlphaEdit/AlphaEdit_main.py): ΔWᵀ solves
 *   (P(KKᵀ + K_pK_pᵀ) + αI) X = P K R with P = U₀U₀ᵀ the projector onto C's eigenvectors
 *   below the threshold. The reference solves that non-symmetric F×F system by LU in f32.
 *   Multiplying by (I − P) shows (I − P)X = 0 when α > 0, so X = U₀Z with
 *   (U₀ᵀ(KKᵀ + K_pK_pᵀ)U₀ + αI) Z = U₀ᵀ K R: the same solution from an r×r SPD system
 *   (r = null-space dimension), and the memory of past keys is only needed as U₀ᵀK_p.
 */
import {
  ArgumentError,
  type Tensor,
  type WeightLayout,
  add,
  cast,
  cholesky,
  choleskySolve,
  eigh,
  full,
  gemmInplace,
  indexAdd,
  matmul,
  mulScalar,
  reshape,
  slice,
  tidy,
  transpose,
} from '@medit/core';

function checkF64(name: string, t: Tensor): void {
  if (t.dtype !== 'float64') throw new ArgumentError(`Expected a float64 tensor for ${name} but received ${t.dtype}`);
}

/** M + value·I for a square float64 M (a new tensor). */
export function addDiagonal(m: Tensor, value: number): Tensor {
  const n = m.shape[0];
  if (m.rank !== 2 || m.shape[1] !== n) throw new ArgumentError(`addDiagonal: expected a square matrix but received [${m.shape}]`);
  if (value === 0) return mulScalar(m, 1);
  const diag = Array.from({ length: n }, (_, i) => i * (n + 1));
  return tidy(() => reshape(indexAdd(reshape(m, [n * n, 1]), 0, diag, full([n, 1], value, m.dtype)), [n, n]));
}

/** C + ridge·mean(diag C)·I (the relative ridge of `mom2_ridge`). */
export function withRidge(c: Tensor, ridge: number): Tensor {
  if (ridge <= 0) return mulScalar(c, 1);
  const n = c.shape[0];
  const d = c.data() as Float64Array;
  let tr = 0;
  for (let i = 0; i < n; i++) tr += d[i * n + i];
  return addDiagonal(c, (ridge * tr) / n);
}

/** MEMIT, direct: A = ((λC + KᵀK)⁻¹Kᵀ)ᵀ [n, F]. One F×F Cholesky. */
export function memitSolveDirect(c: Tensor, k: Tensor, lambda: number): Tensor {
  checkF64('C', c);
  checkF64('K', k);
  return tidy(() => {
    const m = mulScalar(c, lambda);
    gemmInplace(m, k, k, { transA: true });
    let l: Tensor;
    try {
      l = cholesky(m);
    } catch (err) {
      // C is singular along some direction no key covers: a dead MLP neuron (zero variance) or
      // two neurons that move together; a relative ridge on C fixes it.
      throw new ArgumentError(`λC + KᵀK (${m.shape[0]}×${m.shape[0]}) is not positive definite — the covariance C is singular where no edit's key reaches (dead or duplicate MLP neurons); set mom2_ridge > 0 (e.g. 1e-3): ${(err as Error).message}`);
    }
    return transpose(choleskySolve(l, transpose(k)));
  });
}

/**
 * Woodbury form given a Cholesky factor L of a matrix B (B = C for MEMIT, C̃ for EMMET):
 * A = ((B⁻¹Kᵀ)(μI + K B⁻¹ Kᵀ)⁻¹)ᵀ = (μI + K B⁻¹Kᵀ)⁻¹ K B⁻¹ [n, F] (symmetric n×n system).
 */
export function woodburySolve(lFactor: Tensor, k: Tensor, mu: number): Tensor {
  checkF64('L', lFactor);
  checkF64('K', k);
  return tidy(() => {
    const y = choleskySolve(lFactor, transpose(k)); // B⁻¹Kᵀ [F, n]
    const g = addDiagonal(matmul(k, y), mu); // μI + K B⁻¹ Kᵀ [n, n]
    return choleskySolve(choleskyOrPinvFactor(g), transpose(y));
  });
}

/** MEMIT by Woodbury with the Cholesky factor L of C: (λI + KC⁻¹Kᵀ)⁻¹KC⁻¹ [n, F]. */
export function memitSolveWoodbury(lC: Tensor, k: Tensor, lambda: number): Tensor {
  return woodburySolve(lC, k, lambda);
}

/**
 * MEMIT's update factor with the solver `hparams.solver` asks for: `woodbury` (an error when it
 * cannot), `direct`, or `auto` — Woodbury when n ≤ F/2 and it works, else direct. Woodbury reads C
 * through C⁻¹, so when C is close to singular and the keys are large (a model a long sequential
 * stream has blown up: pivots of −1e10 at 140 of fact-base's edits) its n×n system can lose
 * positive definiteness in float64 while λC + KKᵀ, MEMIT's own system, still factors.
 * @param factor - the Cholesky factor of C, or null when C is not positive definite (called only for Woodbury)
 */
export function memitSolve(c: Tensor, factor: () => Tensor | null, k: Tensor, lambda: number, solver: 'auto' | 'direct' | 'woodbury'): { adj: Tensor; solver: string } {
  const [n, F] = k.shape;
  if (solver === 'direct' || (solver === 'auto' && n > F / 2)) return { adj: memitSolveDirect(c, k, lambda), solver: 'direct' };
  const f = factor();
  if (!f) return { adj: memitSolveDirect(c, k, lambda), solver: 'direct (C not positive definite)' };
  try {
    return { adj: memitSolveWoodbury(f, k, lambda), solver: 'woodbury' };
  } catch (err) {
    if (solver === 'woodbury' || !(err instanceof InnerSystemError)) throw err;
  }
  return { adj: memitSolveDirect(c, k, lambda), solver: 'direct (Woodbury system not positive definite)' };
}

/** EMMET with the Cholesky factor L of C̃ = λC + μI: A = D⁻¹KC̃⁻¹, D = KC̃⁻¹Kᵀ + λ_e I [n, F]. */
export function emmetSolve(lCt: Tensor, k: Tensor, emmetLambda: number): Tensor {
  return woodburySolve(lCt, k, emmetLambda);
}

/** The Woodbury form's n×n system did not factor (see {@link memitSolve}). */
class InnerSystemError extends ArgumentError {}

/** Cholesky of an SPD n×n matrix; throws a clear error naming the matrix when it is not. */
function choleskyOrPinvFactor(g: Tensor): Tensor {
  try {
    return cholesky(g);
  } catch (err) {
    throw new InnerSystemError(
      `the ${g.shape[0]}×${g.shape[0]} inner system of the edit is not positive definite (duplicate or zero keys with no regularisation?): ${(err as Error).message}`,
    );
  }
}

/** AlphaEdit's preserved-knowledge null space of one layer. */
export interface NullSpace {
  /** U₀ [F, r]: eigenvectors of C with eigenvalue < threshold (float64) */
  basis: Tensor;
  /** r */
  dim: number;
  /** all eigenvalues of C, ascending */
  eigenvalues: Float64Array;
  /** the threshold it was cut at */
  threshold: number;
}

/**
 * U₀ from the symmetric eigendecomposition of C (AE:experiments/evaluate.py::get_project
 * takes an SVD; for symmetric PSD C the two coincide). The threshold is absolute on the
 * unscaled moment E[kkᵀ], as in the reference.
 */
export function nullSpace(c: Tensor, threshold: number): NullSpace {
  checkF64('C', c);
  const { values, vectors } = eigh(c);
  const eigenvalues = values.data() as Float64Array;
  values.dispose();
  let dim = 0;
  while (dim < eigenvalues.length && eigenvalues[dim] < threshold) dim++;
  const basis = slice(vectors, 1, 0, dim);
  vectors.dispose();
  return { basis, dim, eigenvalues, threshold };
}

/** P = U₀U₀ᵀ [F, F] (the reference's projector; the solver never forms it). */
export function projector(basis: Tensor): Tensor {
  return matmul(basis, basis, { transB: true });
}

/**
 * AlphaEdit: A [n, F] with ΔWᵀ = Aᵀ R, from the r×r system
 * (U₀ᵀKᵀKU₀ + M_p + αI) Z = U₀ᵀKᵀ, A = (U₀Z)ᵀ, where M_p = Σ_past (U₀ᵀK_pᵀ)(K_pU₀).
 * @param memory M_p [r, r] (float64) or undefined for no past edits
 */
export function alphaEditSolve(basis: Tensor, k: Tensor, alpha: number, memory?: Tensor): Tensor {
  checkF64('U0', basis);
  checkF64('K', k);
  if (!(alpha > 0)) throw new ArgumentError(`AlphaEdit: expected L2 > 0 but received ${alpha}`);
  return tidy(() => {
    const kr = matmul(k, basis); // K U₀ [n, r]
    const m = addDiagonal(matmul(kr, kr, { transA: true }), alpha);
    const mm = memory ? add(m, memory) : m;
    const z = choleskySolve(cholesky(mm), transpose(kr)); // [r, n]
    return transpose(matmul(basis, z)); // [n, F]
  });
}

/** The keys of an edit projected on the null space, U₀ᵀKᵀ's transpose K U₀ [n, r]. */
export function projectKeys(basis: Tensor, k: Tensor): Tensor {
  return matmul(k, basis);
}

/**
 * Low-rank factors (or a dense matrix when smaller) of ΔW = Rᵀ A in the weight's layout,
 * float32: Conv1D 'in_out' [F, C] = Aᵀ R; Linear 'out_in' [C, F] = Rᵀ A.
 */
export function updateFactors(a: Tensor, r: Tensor, layout: WeightLayout): { left: Tensor; right: Tensor } | { delta: Tensor } {
  checkF64('A', a);
  checkF64('R', r);
  const [n, F] = a.shape;
  const C = r.shape[1];
  if (r.shape[0] !== n) throw new ArgumentError(`updateFactors: A has ${n} rows but R has ${r.shape[0]}`);
  const inOut = layout === 'in_out';
  if (n * (F + C) >= F * C) {
    const delta = tidy(() => cast(inOut ? matmul(a, r, { transA: true }) : matmul(r, a, { transA: true }), 'float32'));
    return { delta };
  }
  return tidy(() => ({ left: cast(transpose(inOut ? a : r), 'float32'), right: cast(inOut ? r : a, 'float32') }));
}

/** ‖Rᵀ A‖_F = sqrt(Σ_ij (AAᵀ)_ij (RRᵀ)_ij), from two n×n Gram matrices. */
export function updateNorm(a: Tensor, r: Tensor): number {
  return tidy(() => {
    const ga = matmul(a, a, { transB: true }).data() as Float64Array;
    const gr = matmul(r, r, { transB: true }).data() as Float64Array;
    let s = 0;
    for (let i = 0; i < ga.length; i++) s += ga[i] * gr[i];
    return Math.sqrt(Math.max(s, 0));
  });
}
