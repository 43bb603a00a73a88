/**
 * Linear algebra and in-place updates for editors (not differentiable): covariance
 * accumulation, rank-k weight updates, Cholesky solves, symmetric eigendecomposition.
 * In-place functions mutate their first argument's native buffer.
 */
import { call } from './engine';
import { Tensor, wrapHandle } from './tensor';

/** acc [D,D] (float64) += xᵀx for rows x [N,D]; the building block of C = E[k kᵀ]. */
export function secondMomentAccumulate(acc: Tensor, x: Tensor): void {
  call((n) => n.secondMomentAccumulateInplace(acc.handle('secondMomentAccumulate'), x.handle('secondMomentAccumulate')));
}

/** c = alpha·op(a)·op(b) + beta·c in place (a rank-k update when a, b have k columns/rows). */
export function gemmInplace(c: Tensor, a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): void {
  call((n) =>
    n.gemmInplace(c.handle('gemmInplace'), a.handle('gemmInplace'), b.handle('gemmInplace'), opts.transA ?? false, opts.transB ?? false, opts.alpha ?? 1, opts.beta ?? 1),
  );
}

/** dst += alpha·src in place (same shape and dtype). */
export function addInplace(dst: Tensor, src: Tensor, alpha = 1): void {
  call((n) => n.addInplace(dst.handle('addInplace'), src.handle('addInplace'), alpha));
}

/** dst = src in place (same shape and dtype). */
export function copyInplace(dst: Tensor, src: Tensor): void {
  call((n) => n.copyInplace(dst.handle('copyInplace'), src.handle('copyInplace')));
}

/** A deep copy (a new buffer). */
export function clone(x: Tensor): Tensor {
  return wrapHandle(call((n) => n.clone(x.handle('clone'))));
}

/** Lower-triangular L with A = L Lᵀ (float64 SPD A); throws naming the failing pivot. */
export function cholesky(a: Tensor): Tensor {
  return wrapHandle(call((n) => n.cholesky(a.handle('cholesky'))));
}

/** X with (L Lᵀ) X = B given the Cholesky factor L; B is [n] or [n,k] float64. */
export function choleskySolve(l: Tensor, b: Tensor): Tensor {
  return wrapHandle(call((n) => n.choleskySolve(l.handle('choleskySolve'), b.handle('choleskySolve'))));
}

/** Symmetric eigendecomposition: ascending eigenvalues [n] and eigenvectors as columns [n,n]. */
export function eigh(a: Tensor): { values: Tensor; vectors: Tensor } {
  const [w, v] = call((n) => n.eigh(a.handle('eigh')));
  return { values: wrapHandle(w), vectors: wrapHandle(v) };
}

/**
 * Euclidean norm of JS numbers (e.g. a tensor's `data()`), accumulated in a loop:
 * `Math.hypot(...xs)` throws a RangeError for arrays past the engine's argument limit.
 */
export function vectorNorm(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] * xs[i];
  return Math.sqrt(s);
}
