/**
 * Exact low-rank factors of a dense matrix, for writing a weight change as a LoRA adapter.
 *
 * For D [rows, cols] the right singular vectors V are the eigenvectors of the Gram matrix DᵀD
 * (eigenvalues σᵢ²); keeping the r of them whose singular value is above the tolerance gives
 *
 *     D ≈ (D V_r) V_rᵀ,   ‖D − (D V_r) V_rᵀ‖₂ = σ_{r+1} ≤ tol,
 *
 * i.e. left = D V_r [rows, r] and right = V_rᵀ [r, cols] (when rows < cols the same is done on
 * DDᵀ with the left singular vectors). No division by σ is needed, so small singular values do
 * not amplify round-off. The Gram matrix and its eigendecomposition are float64 (core's `eigh`).
 *
 * The numerical rank uses NumPy's `matrix_rank` default tolerance
 * (numpy.org/doc/stable/reference/generated/numpy.linalg.matrix_rank.html):
 * tol = σ_max · max(rows, cols) · ε, with ε the machine epsilon of float32 (2⁻²³), the precision
 * the weights are stored in — singular values below it are rounding noise of a float32 matrix.
 */
import { noGrad, tidy } from '../engine';
import { ShapeError } from '../errors';
import { eigh } from '../linalg';
import { cast, transpose } from '../ops/layout';
import { matmul } from '../ops/linalg';
import { Tensor, tensor } from '../tensor';

/** Machine epsilon of float32 (2⁻²³). */
export const FLOAT32_EPSILON = 2 ** -23;

/** Options of {@link factorLowRank}. */
export interface LowRankOptions {
  /** Absolute tolerance on singular values (default NumPy's: σ_max · max(rows, cols) · ε_float32). */
  tolerance?: number;
}

/** D ≈ left @ right with the numerical rank of D. */
export interface LowRankFactors {
  /** [rows, rank] (float32); null when the rank is 0 */
  left: Tensor | null;
  /** [rank, cols] (float32); null when the rank is 0 */
  right: Tensor | null;
  /** numerical rank */
  rank: number;
  /** the tolerance the rank was decided with */
  tolerance: number;
  /** singular values of D, descending */
  singularValues: number[];
}

/**
 * Factors a dense 2-D matrix exactly at its numerical rank (see the file comment for the
 * method and the tolerance). The caller owns the returned tensors.
 * @throws ShapeError for a tensor that is not 2-D
 * @example const { left, right, rank } = factorLowRank(delta);  // delta ≈ left @ right
 */
export function factorLowRank(dense: Tensor, opts: LowRankOptions = {}): LowRankFactors {
  if (dense.rank !== 2) throw new ShapeError(`factorLowRank: expected a 2-D matrix but received [${dense.shape}]`);
  const [rows, cols] = dense.shape;
  const n = Math.min(rows, cols);
  const byCols = cols <= rows;
  return noGrad(() =>
    tidy(() => {
      const d = cast(dense, 'float64');
      // Gram matrix of the smaller side: DᵀD [cols, cols] or DDᵀ [rows, rows]
      const gram = byCols ? matmul(d, d, { transA: true }) : matmul(d, d, { transB: true });
      const { values, vectors } = eigh(gram);
      const singularValues = Array.from(values.data() as Float64Array, (l) => Math.sqrt(Math.max(l, 0))).reverse();
      const tolerance = opts.tolerance ?? (singularValues[0] ?? 0) * Math.max(rows, cols) * FLOAT32_EPSILON;
      const rank = singularValues.filter((s) => s > tolerance).length;
      if (rank === 0) return { left: null, right: null, rank, tolerance, singularValues };
      // eigenvectors of the `rank` largest eigenvalues (eigh sorts ascending: the last columns)
      const v = vectors.data() as Float64Array;
      const kept = new Float64Array(n * rank);
      for (let i = 0; i < n; i++) for (let j = 0; j < rank; j++) kept[i * rank + j] = v[i * n + (n - 1 - j)];
      const basis = tensor(kept, [n, rank], 'float64');
      const [left, right] = byCols ? [matmul(d, basis), transpose(basis)] : [basis, matmul(basis, d, { transA: true })];
      return { left: cast(left, 'float32'), right: cast(right, 'float32'), rank, tolerance, singularValues };
    }),
  );
}
