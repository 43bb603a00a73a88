/**
 * Aggregation helpers: means, harmonic mean, 95% confidence intervals (Wilson score for
 * proportions, normal approximation, seeded percentile bootstrap).
 */
import { expected } from './errors';

/** Mean with its 95% confidence interval. `mean` is null when no value was defined (n = 0). */
export interface Aggregate {
  mean: number | null;
  /** `[low, high]`; null when n < 2 (no spread estimate). */
  ci95: [number, number] | null;
  /** Number of defined values that went into the mean (nulls / NaN are excluded). */
  n: number;
  /** Sample standard deviation (n − 1 denominator); null when n < 2. */
  std?: number | null;
}

/** Options for {@link aggregate}. */
export interface AggregateOptions {
  /**
   * `'normal'` (default): mean ± z₀.₉₇₅·s/√n. `'wilson'`: the Wilson score interval of a
   * proportion (values in [0, 1]; always inside [0, 1]). `'bootstrap'`: percentile bootstrap.
   */
  method?: 'normal' | 'wilson' | 'bootstrap';
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  /** Bootstrap RNG seed (default 0); equal seeds give equal intervals. */
  seed?: number;
}

/** Φ⁻¹(0.975), the two-sided 95% normal quantile. */
export const Z_975 = 1.959963984540054;

/** Arithmetic mean; null for an empty list. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (Bessel-corrected, n − 1); null when fewer than two values. */
export function sampleStd(values: readonly number[]): number | null {
  const n = values.length;
  if (n < 2) return null;
  const m = mean(values) as number;
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return Math.sqrt(ss / (n - 1));
}

/**
 * Harmonic mean `n / Σ 1/xᵢ`, as `scipy.stats.hmean` (used for ROME's CounterFact Score,
 * `kmeng01/rome` `experiments/summarize.py`). Any zero gives 0; an empty list gives null.
 *
 * @throws {MetricInputError} for negative or non-finite values.
 */
export function harmonicMean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let inv = 0;
  for (const v of values) {
    if (!Number.isFinite(v) || v < 0) throw expected('finite non-negative numbers', 'harmonicMean values', v);
    if (v === 0) return 0;
    inv += 1 / v;
  }
  return values.length / inv;
}

/**
 * Deterministic 32-bit PRNG (mulberry32) returning floats in [0, 1). Seeded so bootstrap intervals
 * are reproducible across runs and machines.
 */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Linear-interpolated quantile of sorted data (numpy's default `linear` method). @internal */
export function quantileSorted(sorted: readonly number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Wilson score interval (Wilson 1927) of a proportion p̂ observed over n trials, at z = 1.96:
 * `(p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)`. Unlike p̂ ± z·√(p̂(1 − p̂)/n) it stays
 * inside [0, 1] and is not empty at p̂ = 0 or 1.
 * @throws {MetricInputError} for p outside [0, 1] or n not a positive integer.
 * @example wilsonInterval(1, 10); // [0.722, 1]
 */
export function wilsonInterval(p: number, n: number): [number, number] {
  if (!(p >= 0 && p <= 1)) throw expected('a proportion in [0, 1]', 'p', p);
  if (!Number.isInteger(n) || n < 1) throw expected('a positive integer', 'n', n);
  const z2 = Z_975 * Z_975;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (Z_975 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // clamp rounding only: the exact bounds lie in [0, 1]
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * Mean over cases with a 95% confidence interval.
 *
 * - `null` and `NaN` entries are "not defined for this case" (e.g. a case with no locality
 *   prompts) and are excluded; `n` counts the rest.
 * - wilson: {@link wilsonInterval} of the mean over n cases; for per-case fractions (a case's
 *   share of correct prompts) this treats each case as one trial, which is conservative. Defined
 *   from n = 1.
 * - normal: `mean ± 1.96 · s / √n`, s the sample std (n − 1).
 * - bootstrap: resample the n values with replacement `resamples` times (mulberry32, `seed`),
 *   take the 2.5% and 97.5% quantiles of the resampled means (percentile bootstrap, Efron 1979).
 *
 * @throws {MetricInputError} for ±Infinity values.
 * @example
 * ```ts
 * aggregate([1, 0, 1, 1]); // { mean: 0.75, ci95: [0.26, 1.24], n: 4, std: 0.5 }
 * ```
 */
export function aggregate(values: readonly (number | null)[], opts: AggregateOptions = {}): Aggregate {
  const xs: number[] = [];
  for (const v of values) {
    if (v === null || Number.isNaN(v)) continue;
    if (!Number.isFinite(v)) throw expected('finite numbers or null', 'aggregate values', v);
    xs.push(v);
  }
  const n = xs.length;
  const m = mean(xs);
  const std = sampleStd(xs);
  const method = opts.method ?? 'normal';
  if (method === 'wilson') {
    for (const x of xs) if (x < 0 || x > 1) throw expected('values in [0, 1] for a Wilson interval', 'aggregate values', x);
    return { mean: m, ci95: m === null ? null : wilsonInterval(Math.min(1, Math.max(0, m)), n), n, std };
  }
  if (m === null || std === null) return { mean: m, ci95: null, n, std };
  if (method === 'normal') {
    const half = (Z_975 * std) / Math.sqrt(n);
    return { mean: m, ci95: [m - half, m + half], n, std };
  }
  if (method !== 'bootstrap') throw expected("'normal', 'wilson' or 'bootstrap'", 'method', method);
  const b = opts.resamples ?? 2000;
  if (!Number.isInteger(b) || b < 1) throw expected('a positive integer', 'resamples', b);
  const rng = createRng(opts.seed ?? 0);
  const means = new Array<number>(b);
  for (let r = 0; r < b; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[Math.floor(rng() * n)];
    means[r] = s / n;
  }
  means.sort((p, q) => p - q);
  return { mean: m, ci95: [quantileSorted(means, 0.025), quantileSorted(means, 0.975)], n, std };
}

/** @internal Throw unless `v` is a finite number. */
export function checkFinite(v: number, param: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw expected('a finite number', param, v);
}

