/**
 * Rotary position embeddings (RoFormer, Su et al. 2021, eq. 34): each pair of channels
 * (x₁, x₂) of a query or key at position p is rotated by the angle p·θᵢ,
 *   x₁' = x₁ cos − x₂ sin,   x₂' = x₂ cos + x₁ sin,   θᵢ = base^(−2i/d).
 *
 * Two pairings are in use:
 * - `half` (GPT-NeoX, Llama, Mistral, Qwen2): channel i pairs with i + d/2, so
 *   rotate_half(x) = [−x[d/2:], x[:d/2]] (HF `modeling_llama.rotate_half`).
 * - `interleaved` (GPT-J): channel 2i pairs with 2i + 1 (HF `modeling_gptj.rotate_every_two`).
 *
 * Only the first `rotaryDim` channels of each head rotate (GPT-J's partial rotary); the
 * rest pass through. The op is composed of differentiable ops (slice, neg, concat, mul,
 * add), so gradients come for free; the cos/sin tables are constants computed in float64
 * in JS and cast to the activation's dtype.
 *
 * Frequency scaling (`rope_scaling`) follows HF transformers' `modeling_rope_utils.py`
 * (v4.45 ROPE_INIT_FUNCTIONS): `default`, `linear`, `dynamic` (NTK) and `llama3`.
 * Not supported (throws): `yarn`, `longrope`, `ntk` and any other type.
 */
import { ArgumentError, ShapeError } from '../errors';
import { add, mul, neg } from '../ops/elementwise';
import { concat, reshape, slice } from '../ops/layout';
import { Tensor, tensor } from '../tensor';

/** How channels are paired for rotation. */
export type RotaryLayout = 'half' | 'interleaved';

/** An HF `rope_scaling` object, normalised. */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'linear'; factor: number }
  | { type: 'dynamic'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** Everything needed to build the rotation tables of one model. */
export interface RotaryConfig {
  /** channels of each head that rotate (even; ≤ head size) */
  rotaryDim: number;
  /** θ base (`rope_theta`; 10000 for GPT-J) */
  base: number;
  layout: RotaryLayout;
  scaling: RopeScaling;
  /** `max_position_embeddings` (used by dynamic NTK scaling) */
  maxPositions: number;
}

/**
 * Parses HF's `rope_scaling` (null/absent → default). Accepts the old `type` key as HF does.
 * @throws ArgumentError naming an unsupported type or a missing field.
 */
export function parseRopeScaling(raw: unknown, where = 'config.json'): RopeScaling {
  if (raw === null || raw === undefined) return { type: 'default' };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ArgumentError(`${where}: expected an object or null for rope_scaling but received ${JSON.stringify(raw)}`);
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type ?? 'default';
  const num = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`${where}: expected a number for rope_scaling.${k} (rope_type ${type}) but received ${JSON.stringify(v)}`);
    return v;
  };
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: num('factor') };
    case 'dynamic':
      return { type: 'dynamic', factor: num('factor') };
    case 'llama3': {
      const s = {
        type: 'llama3' as const,
        factor: num('factor'),
        lowFreqFactor: num('low_freq_factor'),
        highFreqFactor: num('high_freq_factor'),
        originalMaxPositions: num('original_max_position_embeddings'),
      };
      if (!(s.highFreqFactor > s.lowFreqFactor)) throw new ArgumentError(`${where}: rope_scaling.high_freq_factor (${s.highFreqFactor}) must exceed low_freq_factor (${s.lowFreqFactor})`);
      return s;
    }
    default:
      throw new ArgumentError(`${where}: rope_scaling type ${JSON.stringify(type)} is not supported (supported: default, linear, dynamic, llama3)`);
  }
}

/**
 * Inverse frequencies θᵢ (i < rotaryDim/2) for a forward whose largest position is
 * `maxPosition`, per HF `ROPE_INIT_FUNCTIONS`.
 *
 * Dynamic NTK is stateless here: the base is rescaled for seq_len = maxPosition + 1 when
 * that exceeds max_position_embeddings. HF keeps the largest seq_len seen in a buffer;
 * the two agree whenever positions only grow (one forward, or generation with a cache).
 */
export function ropeInvFreq(cfg: RotaryConfig, maxPosition = 0): Float64Array {
  const d = cfg.rotaryDim;
  if (d <= 0 || d % 2 !== 0) throw new ArgumentError(`rotary: expected a positive even rotary dimension but received ${d}`);
  const s = cfg.scaling;
  let base = cfg.base;
  if (s.type === 'dynamic') {
    const seqLen = Math.max(maxPosition + 1, cfg.maxPositions);
    // _compute_dynamic_ntk_parameters: base · ((factor·L/Lmax) − (factor − 1))^(d/(d−2))
    base = base * ((s.factor * seqLen) / cfg.maxPositions - (s.factor - 1)) ** (d / (d - 2));
  }
  const inv = new Float64Array(d / 2).map((_, i) => 1 / base ** ((2 * i) / d));
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  if (s.type === 'llama3') {
    // _compute_llama3_parameters: keep high frequencies, divide low ones by `factor`,
    // interpolate smoothly between them.
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    return inv.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) return f;
      if (wavelen > lowWavelen) return f / s.factor;
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      return (1 - smooth) * (f / s.factor) + smooth * f;
    });
  }
  return inv;
}

/** cos/sin tables [B, 1, T, rotaryDim] (broadcast over heads) for the given positions. */
export interface RotaryTables {
  cos: Tensor;
  sin: Tensor;
}

/**
 * Builds the cos/sin tables for `positions` [B][T] in `dtype`, laid out for `cfg.layout`:
 * `half` repeats the d/2 angles twice ([θ₀..θ_{d/2−1}, θ₀..θ_{d/2−1}]), `interleaved`
 * repeats each angle in place ([θ₀, θ₀, θ₁, θ₁, ...]).
 */
export function rotaryTables(cfg: RotaryConfig, positions: number[][], dtype: Tensor['dtype']): RotaryTables {
  const B = positions.length;
  const T = positions[0]?.length ?? 0;
  const d = cfg.rotaryDim;
  const maxPos = Math.max(0, ...positions.flat());
  const inv = ropeInvFreq(cfg, maxPos);
  const cos = new Float64Array(B * T * d);
  const sin = new Float64Array(B * T * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = positions[b][t];
      const row = (b * T + t) * d;
      for (let i = 0; i < d / 2; i++) {
        const angle = p * inv[i];
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const [j0, j1] = cfg.layout === 'half' ? [i, i + d / 2] : [2 * i, 2 * i + 1];
        cos[row + j0] = cos[row + j1] = c;
        sin[row + j0] = sin[row + j1] = s;
      }
    }
  }
  return { cos: tensor(cos, [B, 1, T, d], dtype), sin: tensor(sin, [B, 1, T, d], dtype) };
}

/** rotate_half / rotate_every_two of x [..., d]: the partner of each channel, negated for the first of a pair. */
function rotatePartner(x: Tensor, layout: RotaryLayout): Tensor {
  const d = x.shape[x.rank - 1];
  if (layout === 'half') {
    return concat([neg(slice(x, -1, d / 2, d / 2)), slice(x, -1, 0, d / 2)], -1);
  }
  // view the pairs as a trailing axis of 2: [..., d/2, 2] → [−odd, even]
  const pairs = reshape(x, [...x.shape.slice(0, -1), d / 2, 2]);
  const even = slice(pairs, -1, 0, 1);
  const odd = slice(pairs, -1, 1, 1);
  return reshape(concat([neg(odd), even], -1), x.shape);
}

/**
 * Applies rotary embeddings to q or k [B, H, T, HS]: the first `rotaryDim` channels of
 * each head become x·cos + partner(x)·sin; the others are unchanged. Differentiable.
 * @throws ShapeError when the tables do not match x's batch, tokens or rotary width.
 * @example const q2 = applyRotary(q, rotaryTables(cfg, positions, q.dtype), 'half');
 */
export function applyRotary(x: Tensor, tables: RotaryTables, layout: RotaryLayout): Tensor {
  const { cos, sin } = tables;
  const d = cos.shape[3];
  if (x.rank !== 4 || cos.shape[0] !== x.shape[0] || cos.shape[2] !== x.shape[2] || d > x.shape[3] || d % 2 !== 0) {
    throw new ShapeError(`applyRotary: tables [${cos.shape}] do not fit x [${x.shape}] (expected [B, 1, T, d] with even d ≤ head size)`);
  }
  const HS = x.shape[3];
  const rot = d === HS ? x : slice(x, -1, 0, d);
  const out = add(mul(rot, cos), mul(rotatePartner(rot, layout), sin));
  return d === HS ? out : concat([out, slice(x, -1, d, HS - d)], -1);
}
