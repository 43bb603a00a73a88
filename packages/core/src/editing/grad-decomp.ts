/**
 * Gradient decomposition of linear layers (MEND, Mitchell et al., ICLR 2022, §3.1 and App. D;
 * specs/meta-and-memory.md §1.1 and §0.5). For a linear layer y_t = W u_t + b applied to every
 * token t of a batch, the weight gradient is a sum of rank-1 terms
 *
 *     ∇_W L = Σ_t δ_t u_tᵀ,   δ_t = ∂L/∂y_t,
 *
 * so a method can read the per-token factors (u_t, δ_t) instead of the dense gradient, transform
 * them, and apply a low-rank update Σ_t δ̃_t ũ_tᵀ as one GEMM. This module gives:
 *
 * - {@link mlpLinears}: the MLP projections of a layer (name, layout, where their input is hooked);
 * - {@link decomposeGradients}: one forward/backward pass that captures u_t (the layer input) and
 *   δ_t (the gradient at the layer output, bias path included) for chosen linears, both detached,
 *   in checkpoint orientation (u has the weight's input width, δ its output width);
 * - {@link lowRankDelta} (dense, differentiable) and {@link lowRankUpdate} (factors for an
 *   {@link EditDelta}, applied natively by `gemmInplace`) in the weight's own layout;
 * - {@link withWeights}: a functional weight override (forward with W + ΔW where ΔW keeps its
 *   autograd graph), which meta-learned editors train through.
 *
 * How δ is captured: a zero "probe" tensor that requires grad is added to the layer's output
 * (the value is unchanged) and `grad(loss, probes)` returns δ for every probe at once. The MLP
 * output projection's output is the `mlp_out` hook; the input projection's output (before the
 * activation) has no hook point, so the `mlp_key` hook recomputes the key from the `mlp_in`
 * activation with the same ops and weights, with the probe added before the activation.
 */
import { grad } from '../autograd';
import { tidy } from '../engine';
import { ArgumentError, ShapeError } from '../errors';
import type { RgbImage } from '../io/image';
import { clone } from '../linalg';
import { activationFn } from '../models/activations';
import { hookName, type Hooks } from '../models/hooks';
import type { CausalLM } from '../models/model';
import { add, mul, mulScalar } from '../ops/elementwise';
import { reshape, transpose } from '../ops/layout';
import { linear, matmul, type WeightLayout } from '../ops/linalg';
import { Tensor, zeros } from '../tensor';
import type { WeightUpdate } from './edit-delta';

/** Which MLP projection a linear is: input (`in`; SwiGLU `gate` and `up`) or output (`out`). */
export type MlpRole = 'in' | 'gate' | 'up' | 'out';

/** One linear layer of a block's MLP. */
export interface MlpLinear {
  layer: number;
  role: MlpRole;
  /** checkpoint name of the weight, e.g. `transformer.h.3.mlp.c_fc.weight` */
  weightName: string;
  /** checkpoint name of the bias, or null when the layer has none */
  biasName: string | null;
  /** storage layout of the weight (GPT-2 Conv1D `in_out`, torch Linear `out_in`) */
  layout: WeightLayout;
  /** input width (length of u_t) and output width (length of δ_t) */
  inDim: number;
  outDim: number;
  /**
   * Hook prefix of the stack of blocks the layer belongs to: absent for the language model;
   * e.g. `qformer.` for a vision-language model's Q-Former (`qformer.h.<layer>.*`).
   */
  hookPrefix?: string;
}

/** The captured factors of one linear: ∇_W L = Σ_t δ_t u_tᵀ (in the weight's layout). */
export interface LinearFactors {
  linear: MlpLinear;
  /** layer inputs u_t, one row per token (batch and sequence merged) [N, inDim] */
  u: Tensor;
  /** output gradients δ_t = ∂L/∂y_t [N, outDim] */
  delta: Tensor;
}

/** Output-projection suffix → the input projections of the same MLP (per family naming). */
const INPUT_PROJECTIONS: { out: string; inputs: { suffix: string; role: MlpRole }[] }[] = [
  { out: 'mlp.c_proj.weight', inputs: [{ suffix: 'mlp.c_fc.weight', role: 'in' }] }, // GPT-2
  { out: 'mlp.fc_out.weight', inputs: [{ suffix: 'mlp.fc_in.weight', role: 'in' }] }, // GPT-J
  {
    out: 'mlp.down_proj.weight', // Llama / Qwen2 / Mistral (SwiGLU)
    inputs: [
      { suffix: 'mlp.gate_proj.weight', role: 'gate' },
      { suffix: 'mlp.up_proj.weight', role: 'up' },
    ],
  },
];

/**
 * The MLP linears of `layer` in the order input projection(s), output projection.
 * @throws ArgumentError for a layer out of range or a family whose MLP naming is unknown
 * @example mlpLinears(gpt2, 3).map((l) => l.weightName)  // [...h.3.mlp.c_fc.weight, ...h.3.mlp.c_proj.weight]
 */
export function mlpLinears(model: CausalLM, layer: number): MlpLinear[] {
  const rm = model.rewriteModule(layer);
  const family = INPUT_PROJECTIONS.find((f) => rm.weightName.endsWith(f.out));
  if (!family) throw new ArgumentError(`mlpLinears: no known MLP layout for the output projection ${rm.weightName}`);
  const stem = rm.weightName.slice(0, rm.weightName.length - family.out.length);
  const C = model.config.hiddenSize;
  const F = model.config.intermediateSize;
  const make = (weightName: string, role: MlpRole): MlpLinear => {
    const biasName = weightName.replace(/\.weight$/, '.bias');
    const w = model.param(weightName);
    const [inDim, outDim] = role === 'out' ? [F, C] : [C, F];
    const expected = rm.layout === 'in_out' ? [inDim, outDim] : [outDim, inDim];
    if (w.shape.join() !== expected.join()) throw new ShapeError(`mlpLinears: ${weightName} has shape [${w.shape}], expected [${expected}]`);
    return { layer, role, weightName, biasName: model.params.has(biasName) ? biasName : null, layout: rm.layout, inDim, outDim };
  };
  return [...family.inputs.map((i) => make(stem + i.suffix, i.role)), make(rm.weightName, 'out')];
}

/** Options of {@link decomposeGradients}. */
export interface DecomposeOptions {
  /** [B, T] 1 = token, 0 = padding */
  attentionMask?: number[][];
  /** vision-language models: one image (or null) per row (`ForwardOptions.images`) */
  images?: readonly (RgbImage | null)[];
}

/** Result of {@link decomposeGradients}: the loss value and the factors in the order of `linears`. */
export interface Decomposition {
  loss: number;
  factors: LinearFactors[];
}

/**
 * Runs `model` on `inputIds`, computes `lossFn(logits)` and, in one backward pass, the per-token
 * factors (u_t, δ_t) of each linear in `linears` — without forming any dense weight gradient.
 * Rows are every (batch, position) pair, batch-major; rows whose δ is zero (padding, positions
 * after the last supervised token) are kept, callers filter them. The returned tensors are
 * detached copies owned by the caller (or the enclosing `tidy`); the model is left unchanged.
 *
 * @throws ArgumentError when `linears` is empty or mixes models
 * @example
 * const { factors } = decomposeGradients(model, ids, (logits) => crossEntropy(logits, labels), mlpLinears(model, 3));
 * // Σ_t δ_t u_tᵀ of factors[1] equals the dense gradient of h.3.mlp.c_proj.weight
 */
export function decomposeGradients(
  model: CausalLM,
  inputIds: number[][],
  lossFn: (logits: Tensor) => Tensor,
  linears: readonly MlpLinear[],
  opts: DecomposeOptions = {},
): Decomposition {
  if (linears.length === 0) throw new ArgumentError('decomposeGradients: expected at least one linear');
  for (const l of linears) model.param(l.weightName);
  const act = activationFn(model.config.activation);
  // one group per block: (stack prefix, layer)
  const byLayer = new Map<string, MlpLinear[]>();
  for (const l of linears) {
    const key = `${l.hookPrefix ?? ''}${l.layer}`;
    byLayer.set(key, [...(byLayer.get(key) ?? []), l]);
  }

  return tidy(() => {
    const inputs = new Map<string, Tensor>();
    const probes = new Map<string, Tensor>();
    const probe = (l: MlpLinear, y: Tensor): Tensor => {
      const z = zeros(y.shape, y.dtype);
      z.requiresGrad = true;
      probes.set(l.weightName, z);
      return add(y, z);
    };
    const hooks: Hooks = {};
    for (const ls of byLayer.values()) {
      const { layer, hookPrefix: prefix = '' } = ls[0];
      const hook = (point: 'mlp_in' | 'mlp_key' | 'mlp_out') => hookName(layer, point, prefix);
      const inProj = ls.filter((l) => l.role !== 'out');
      const outProj = ls.find((l) => l.role === 'out');
      // the key is recomputed with the language model's MLP; other stacks offer their output projections only
      if (inProj.length > 0 && prefix) throw new ArgumentError(`decomposeGradients: ${inProj[0].weightName} is an input projection of a ${prefix} block; only output projections are decomposed outside the language model`);
      if (inProj.length > 0) {
        const all = mlpLinears(model, layer);
        let m: Tensor | undefined;
        hooks[hook('mlp_in')] = (x) => {
          m = x;
          for (const l of inProj) inputs.set(l.weightName, x);
        };
        hooks[hook('mlp_key')] = () => {
          // Recompute the key from the MLP input with the same ops, probing the pre-activations.
          const pick = (role: MlpRole) => {
            const mine = inProj.find((l) => l.role === role);
            const l = mine ?? all.find((x) => x.role === role)!;
            const y = linear(m!, model.param(l.weightName), l.biasName ? model.param(l.biasName) : null, l.layout);
            return mine ? probe(mine, y) : y;
          };
          const key = all.some((l) => l.role === 'gate') ? mul(act(pick('gate')), pick('up')) : act(pick('in'));
          if (outProj) inputs.set(outProj.weightName, key);
          return key;
        };
      } else if (outProj) {
        hooks[hook('mlp_key')] = (key) => {
          inputs.set(outProj.weightName, key);
        };
      }
      if (outProj) hooks[hook('mlp_out')] = (y) => probe(outProj, y);
    }
    const { logits } = model.forward(inputIds, { attentionMask: opts.attentionMask, images: opts.images, hooks });
    const loss = lossFn(logits);
    if (loss.size !== 1) throw new ShapeError(`decomposeGradients: the loss must be a scalar but has shape [${loss.shape}]`);
    const order = linears.map((l) => {
      const p = probes.get(l.weightName);
      if (!p) throw new ArgumentError(`decomposeGradients: the forward pass never reached ${l.weightName}`);
      return p;
    });
    const deltas = grad(loss, order);
    const factors = linears.map((l, i) => {
      const u = inputs.get(l.weightName)!;
      const rows = u.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      return { linear: l, u: clone(reshape(u, [rows, l.inDim])), delta: clone(reshape(deltas[i], [rows, l.outDim])) };
    });
    return { loss: loss.item(), factors };
  }, 'decomposeGradients');
}

/**
 * The dense update Σ_t δ_t u_tᵀ in the weight's layout, differentiable in both factors:
 * `in_out` (GPT-2 Conv1D, [in, out]) gives Uᵀ Δ, `out_in` (torch Linear, [out, in]) gives Δᵀ U.
 * With the captured factors this is the dense gradient ∇_W L (MEND App. D).
 * @param u [N, in]
 * @param delta [N, out]
 */
export function lowRankDelta(u: Tensor, delta: Tensor, layout: WeightLayout): Tensor {
  checkFactors(u, delta, 'lowRankDelta');
  return layout === 'in_out' ? matmul(u, delta, { transA: true }) : matmul(delta, u, { transA: true });
}

/**
 * W ← W + scale · Σ_t δ_t u_tᵀ as an {@link EditDelta} update: low-rank factors (rank N) in the
 * weight's own layout, which `EditDelta.apply` accumulates into the weight with one native GEMM.
 * The factors are new tensors (detached from any graph).
 */
export function lowRankUpdate(name: string, u: Tensor, delta: Tensor, layout: WeightLayout, scale = 1): WeightUpdate {
  checkFactors(u, delta, 'lowRankUpdate');
  return tidy(() => {
    if (layout === 'in_out') return { name, left: clone(transpose(u)), right: clone(mulScalar(delta, scale)) };
    return { name, left: clone(transpose(mulScalar(delta, scale))), right: clone(u) };
  });
}

function checkFactors(u: Tensor, delta: Tensor, op: string): void {
  if (u.rank !== 2 || delta.rank !== 2 || u.shape[0] !== delta.shape[0]) {
    throw new ShapeError(`${op}: expected u [N, in] and delta [N, out] with the same N but received [${u.shape}] and [${delta.shape}]`);
  }
}

/**
 * Runs `fn` with some of the model's weights replaced by other tensors of the same shape (e.g.
 * W + ΔW still attached to the graph of the network that produced ΔW), then puts the originals
 * back, also when `fn` throws. The model's own weight buffers are never written.
 * @throws ShapeError when an override's shape differs from the weight's
 */
export function withWeights<T>(model: CausalLM, overrides: ReadonlyMap<string, Tensor>, fn: () => T): T {
  const saved = new Map<string, Tensor>();
  for (const [name, t] of overrides) {
    const w = model.param(name);
    if (w.shape.join() !== t.shape.join()) throw new ShapeError(`withWeights: override of ${name} has shape [${t.shape}] but the weight is [${w.shape}]`);
  }
  try {
    for (const [name, t] of overrides) {
      saved.set(name, model.param(name));
      model.params.set(name, t);
    }
    return fn();
  } finally {
    for (const [name, t] of saved) model.params.set(name, t);
  }
}
