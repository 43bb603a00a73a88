/**
 * Finite-difference gradient check in float64 (central differences, as ggml's MODE_GRAD):
 * for a scalar function f of several tensors, compares grad() against
 * (f(x + eps·e_i) − f(x − eps·e_i)) / 2eps for every element (or a sample of them).
 */
import { Tensor, grad, noGrad, tensor, tidy } from '../src';
import { TOLERANCES } from './tolerances';

export interface GradcheckResult {
  maxAbsErr: number;
  maxRelErr: number;
  checked: number;
}

export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Float64Array[],
  shapes: number[][],
  opts: { sample?: number; eps?: number } = {},
): GradcheckResult {
  const eps = opts.eps ?? TOLERANCES.gradcheckF64.eps;
  const analytic = tidy(() => {
    const xs = inputs.map((d, i) => {
      const t = tensor(d, shapes[i], 'float64');
      t.requiresGrad = true;
      return t;
    });
    const loss = f(...xs);
    return grad(loss, xs).map((g) => g.data() as Float64Array);
  });
  const evalAt = (vals: Float64Array[]) =>
    noGrad(() => tidy(() => f(...vals.map((d, i) => tensor(d, shapes[i], 'float64'))).item()));
  let maxAbsErr = 0;
  let maxRelErr = 0;
  let checked = 0;
  inputs.forEach((d, i) => {
    const n = d.length;
    const step = opts.sample && n > opts.sample ? Math.ceil(n / opts.sample) : 1;
    for (let j = 0; j < n; j += step) {
      const plus = inputs.map((x) => x.slice());
      const minus = inputs.map((x) => x.slice());
      plus[i][j] += eps;
      minus[i][j] -= eps;
      const numeric = (evalAt(plus) - evalAt(minus)) / (2 * eps);
      const a = analytic[i][j];
      const abs = Math.abs(a - numeric);
      maxAbsErr = Math.max(maxAbsErr, abs);
      maxRelErr = Math.max(maxRelErr, abs / Math.max(1e-3, Math.abs(numeric)));
      checked++;
    }
  });
  return { maxAbsErr, maxRelErr, checked };
}

/** Deterministic pseudo-random float64 data in [-scale, scale]. */
export function randData(n: number, seed: number, scale = 1): Float64Array {
  let a = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1) * scale;
  }
  return out;
}
