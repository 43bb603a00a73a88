/**
 * MEND's editor network for one weight shape (`GradientTransform` with the defaults
 * combine=True, mlp_class=IDMLP, shared=True, norm=True, init=id; specs/meta-and-memory.md §1.2,
 * §1.3; MEND paper Eq. 3):
 *
 *   ū = (u − μ_u)/(σ_u + 1e−7),  δ̄ = (δ − μ_δ)/(σ_δ + 1e−7)        running per-dimension stats
 *   h⁰ = [ū; δ̄],  hʲ = hʲ⁻¹ + ReLU(s_ℓʲ ⊙ (Uʲ Vʲ hʲ⁻¹ + bʲ) + o_ℓʲ),  j = 1..n_hidden+1
 *   ũ, δ̃ = split(h^last)
 *
 * U = 0, b = 0, s = 1, o = 0 at initialisation, so the network starts as the identity on its
 * normalised input; V is drawn i.i.d. standard normal (MEND-code; irrelevant at init since U = 0).
 * s_ℓ, o_ℓ (FiLM) are indexed by the matrix ℓ among the edited matrices of this shape. Rows whose
 * u or δ is all zero are dropped first (§1.1) and the statistics are updated (Welford) only by
 * training passes, on the same filtered rows (§1.3, §1.10 item 3).
 */
import {
  ArgumentError,
  type Tensor,
  add,
  concat,
  full,
  indexSelect,
  keep,
  matmul,
  mul,
  mulScalar,
  randn,
  relu,
  slice,
  sub,
  tensor,
  zeros,
} from '@medit/core';

/** Welford running mean and variance per dimension (spec §1.3). */
export class RunningStats {
  count = 0;
  readonly mean: Float64Array;
  readonly m2: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim);
  }

  /** Adds each row of `rows` (row-major [N, dim]). */
  update(rows: ArrayLike<number>, n: number): void {
    const d = this.dim;
    for (let r = 0; r < n; r++) {
      this.count++;
      const k = this.count;
      for (let i = 0; i < d; i++) {
        const x = rows[r * d + i];
        if (k === 1) {
          this.mean[i] = x;
          this.m2[i] = 0;
          continue;
        }
        const prev = this.mean[i];
        const next = prev + (x - prev) / k;
        this.m2[i] += (x - prev) * (x - next);
        this.mean[i] = next;
      }
    }
  }

  /** σ = √(M2/(k − 1)). @throws ArgumentError with fewer than 2 rows seen (MEND-code errors too) */
  std(): Float64Array {
    if (this.count < 2) throw new ArgumentError(`MEND normalisation needs statistics of at least 2 token rows but has ${this.count}; train the editor first`);
    return this.m2.map((v) => Math.sqrt(v / (this.count - 1)));
  }
}

/**
 * max(x, 0) with gradient 1 at x = 0, as torch's `clamp(min=0)` (MEND-code `LRLinear`: "need
 * clamp instead of relu so gradient at 0 isn't 0"): at the identity initialisation (U = 0, b = 0)
 * every pre-activation is exactly 0, and a ReLU's zero gradient there would keep the network at
 * the identity for ever. x + relu(−x) has the value max(x, 0) and the gradient 1 − [x < 0].
 */
export function clampMin0(x: Tensor): Tensor {
  return add(x, relu(mulScalar(x, -1)));
}

/** The trainable tensors of one low-rank residual block. */
export interface LowRankBlock {
  /** V [r, m+n] */
  V: Tensor;
  /** U [m+n, r] */
  U: Tensor;
  /** b [m+n] */
  b: Tensor;
  /** FiLM scale s [modes, m+n] */
  scale: Tensor;
  /** FiLM shift o [modes, m+n] */
  shift: Tensor;
}

/** The editor network shared by every edited matrix of one (in, out) shape. */
export class GradientTransform {
  readonly blocks: LowRankBlock[];
  readonly uStats: RunningStats;
  readonly deltaStats: RunningStats;
  readonly rank: number;

  /**
   * @param inDim m, the width of u
   * @param outDim n, the width of δ
   * @param modes how many edited matrices share this network
   */
  constructor(
    readonly inDim: number,
    readonly outDim: number,
    readonly modes: number,
    opts: { rank: number; blocks: number; seed: number },
  ) {
    const w = inDim + outDim;
    this.rank = Math.min(opts.rank, w);
    this.blocks = Array.from({ length: opts.blocks }, (_, j) => ({
      V: keep(randn([this.rank, w], { seed: opts.seed + j })),
      U: keep(zeros([w, this.rank])),
      b: keep(zeros([w])),
      scale: keep(full([modes, w], 1)),
      shift: keep(zeros([modes, w])),
    }));
    for (const t of this.parameters()) t.requiresGrad = true;
    this.uStats = new RunningStats(inDim);
    this.deltaStats = new RunningStats(outDim);
  }

  /** The trainable tensors, in a fixed order (V, U, b, scale, shift per block). */
  parameters(): Tensor[] {
    return this.blocks.flatMap((b) => [b.V, b.U, b.b, b.scale, b.shift]);
  }

  /**
   * Transforms the factors of matrix `mode` (rows already filtered of zeros): [N, m] and [N, n]
   * → ũ [N, m], δ̃ [N, n], differentiable in the network's parameters. `train` first adds the
   * rows to the running statistics.
   */
  forward(u: Tensor, delta: Tensor, mode: number, train: boolean): { u: Tensor; delta: Tensor } {
    if (mode < 0 || mode >= this.modes) throw new ArgumentError(`GradientTransform: mode ${mode} outside [0, ${this.modes})`);
    const n = u.shape[0];
    if (train) {
      this.uStats.update(u.data() as Float32Array, n);
      this.deltaStats.update(delta.data() as Float32Array, n);
    }
    const norm = (x: Tensor, s: RunningStats) => {
      const inv = s.std().map((v) => 1 / (v + 1e-7));
      return mul(sub(x, tensor(s.mean, [1, s.dim])), tensor(inv, [1, s.dim]));
    };
    let h = concat([norm(u, this.uStats), norm(delta, this.deltaStats)], 1);
    for (const blk of this.blocks) {
      const lin = add(matmul(matmul(h, blk.V, { transB: true }), blk.U, { transB: true }), blk.b);
      const film = add(mul(indexSelect(blk.scale, 0, [mode]), lin), indexSelect(blk.shift, 0, [mode]));
      h = add(h, clampMin0(film));
    }
    return { u: slice(h, 1, 0, this.inDim), delta: slice(h, 1, this.inDim, this.outDim) };
  }

  dispose(): void {
    for (const t of this.parameters()) t.dispose();
  }
}

/** Indices of the rows where neither u nor δ is all zero (spec §1.1, MEND-code `nz_mask`). */
export function nonZeroRows(u: Tensor, delta: Tensor): number[] {
  const rows: number[] = [];
  const ud = u.data() as Float32Array;
  const dd = delta.data() as Float32Array;
  const m = u.shape[1];
  const n = delta.shape[1];
  for (let r = 0; r < u.shape[0]; r++) {
    let uz = true;
    let dz = true;
    for (let i = 0; i < m && uz; i++) if (ud[r * m + i] !== 0) uz = false;
    for (let i = 0; i < n && dz; i++) if (dd[r * n + i] !== 0) dz = false;
    if (!uz && !dz) rows.push(r);
  }
  return rows;
}
