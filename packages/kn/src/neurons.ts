/**
 * Selecting knowledge neurons from attribution scores (Dai et al. 2022 §3.2: coarse adaptive
 * threshold, then the prompt-sharing refinement) and the operations on them (§4–5):
 * scale (suppress ×0 / amplify ×2), erase (value vectors to 0) and edit (move value vectors from
 * the old answer's embedding to the new one's) — as EditDeltas — plus activation patches as hooks.
 *
 * The value vector of neuron i is what the FFN adds per unit of its activation: row i of GPT-2's
 * `c_proj` ([in, out] = [d_ff, d_model]), column i of an `[out, in]` projection (fc_out, down_proj).
 * Deltas are stored low-rank and exact: ΔW = Σ_j e_{i_j} d_jᵀ (one-hot factor × changes), so
 * adding them touches only the chosen rows (0·x contributes exactly 0 elsewhere).
 */
import {
  type CausalLM,
  type Hooks,
  type Tensor,
  ArgumentError,
  EditDelta,
  type EditDeltaInfo,
  addAt,
  gatherAt,
  mul,
  tensor,
  type WeightUpdate,
} from '@medit/core';

/** One FFN neuron. */
export interface Neuron {
  layer: number;
  index: number;
}

/** Neurons scoring above `threshold · max` over all scanned layers (the coarse set, §3.2). */
export function coarseNeurons(scores: Float32Array[], layers: number[], adaptiveThreshold: number): Neuron[] {
  let max = -Infinity;
  for (const s of scores) for (const v of s) if (v > max) max = v;
  const t = adaptiveThreshold * max;
  const out: Neuron[] = [];
  scores.forEach((s, li) => s.forEach((v, index) => v > t && out.push({ layer: layers[li], index })));
  return out;
}

/**
 * The prompt-sharing filter: neurons selected (coarsely) by more than `p · n` of the `n`
 * prompts of one fact (paraphrases share the knowledge neurons; prompt-specific noise does not).
 */
export function refineNeurons(perPrompt: Neuron[][], p: number): Neuron[] {
  const counts = new Map<string, { n: Neuron; c: number }>();
  for (const set of perPrompt) {
    for (const n of set) {
      const key = `${n.layer}:${n.index}`;
      const e = counts.get(key) ?? { n, c: 0 };
      e.c++;
      counts.set(key, e);
    }
  }
  const t = p * perPrompt.length;
  return [...counts.values()].filter((e) => e.c > t).map((e) => e.n).sort(byPosition);
}

function byPosition(a: Neuron, b: Neuron): number {
  return a.layer - b.layer || a.index - b.index;
}

/** The token-embedding matrix [V, C] of a model (input embeddings, as the KN code uses). */
export function embeddingMatrix(model: CausalLM): Tensor {
  for (const name of ['transformer.wte.weight', 'wte.weight', 'model.embed_tokens.weight', 'embed_tokens.weight', 'gpt_neox.embed_in.weight']) {
    const t = model.params.get(name);
    if (t) return t;
  }
  throw new ArgumentError('KN: cannot find the token-embedding matrix of the model (looked for transformer.wte.weight, model.embed_tokens.weight, ...)');
}

/** Value vectors of the neurons of one layer, by neuron [n][C]. */
export function valueVectors(model: CausalLM, layer: number, indices: number[]): Float32Array[] {
  const module = model.rewriteModule(layer);
  const w = model.param(module.weightName);
  const data = w.data() as Float32Array;
  const [rows, cols] = w.shape;
  return indices.map((i) => {
    if (i < 0 || i >= module.keyDim) throw new ArgumentError(`KN: neuron ${i} is outside layer ${layer}'s ${module.keyDim} neurons`);
    return module.layout === 'in_out' ? data.slice(i * cols, (i + 1) * cols) : Float32Array.from({ length: rows }, (_, r) => data[r * cols + i]);
  });
}

/**
 * An EditDelta adding `changes[j]` [C] to the value vector of `neurons[j]` (one low-rank update
 * per layer, in the weight's own layout).
 */
export function valueVectorDelta(model: CausalLM, neurons: Neuron[], changes: Float32Array[], info: EditDeltaInfo): EditDelta {
  if (neurons.length !== changes.length) throw new ArgumentError(`KN: ${neurons.length} neurons but ${changes.length} value changes`);
  // Merge duplicates (several requests touching one neuron add up).
  const merged = new Map<string, { n: Neuron; d: Float32Array }>();
  neurons.forEach((n, j) => {
    const key = `${n.layer}:${n.index}`;
    const e = merged.get(key);
    if (e) for (let c = 0; c < e.d.length; c++) e.d[c] += changes[j][c];
    else merged.set(key, { n, d: Float32Array.from(changes[j]) });
  });
  const byLayer = new Map<number, { n: Neuron; d: Float32Array }[]>();
  for (const e of merged.values()) byLayer.set(e.n.layer, [...(byLayer.get(e.n.layer) ?? []), e]);
  const updates: WeightUpdate[] = [];
  for (const [layer, entries] of [...byLayer.entries()].sort((a, b) => a[0] - b[0])) {
    const module = model.rewriteModule(layer);
    const F = module.keyDim;
    const C = module.valueDim;
    const k = entries.length;
    const oneHot = new Float32Array(F * k);
    const rows = new Float32Array(k * C);
    entries.forEach((e, j) => {
      if (e.d.length !== C) throw new ArgumentError(`KN: value change of neuron ${layer}:${e.n.index} has length ${e.d.length}, expected ${C}`);
      rows.set(e.d, j * C);
    });
    if (module.layout === 'in_out') {
      // W [F, C] += E [F, k] · D [k, C]
      entries.forEach((e, j) => (oneHot[e.n.index * k + j] = 1));
      updates.push({ name: module.weightName, left: tensor(oneHot, [F, k]), right: tensor(rows, [k, C]) });
    } else {
      // W [C, F] += Dᵀ [C, k] · Eᵀ [k, F]
      const cols = new Float32Array(C * k);
      entries.forEach((e, j) => {
        for (let c = 0; c < C; c++) cols[c * k + j] = e.d[c];
        oneHot[j * F + e.n.index] = 1;
      });
      updates.push({ name: module.weightName, left: tensor(cols, [C, k]), right: tensor(oneHot, [k, F]) });
    }
  }
  return new EditDelta(updates, info);
}

/**
 * Scales the neurons' value vectors by `factor` (0 = erase/suppress everywhere, 2 = amplify):
 * the weight-space form of multiplying their activations by `factor` at every position.
 */
export function scaleNeuronsDelta(model: CausalLM, neurons: Neuron[], factor: number, method = factor === 0 ? 'KN-erase' : 'KN-scale'): EditDelta {
  const changes: Float32Array[] = [];
  for (const n of neurons) {
    const [v] = valueVectors(model, n.layer, [n.index]);
    changes.push(v.map((x) => (factor - 1) * x));
  }
  return valueVectorDelta(model, neurons, changes, { method, stats: { factor, neurons } });
}

/** Erase (Dai et al. §5.2): the neurons' value vectors set to 0 (exactly). */
export function eraseNeuronsDelta(model: CausalLM, neurons: Neuron[]): EditDelta {
  return scaleNeuronsDelta(model, neurons, 0, 'KN-erase');
}

/**
 * Edit (Dai et al. §5.1): v_i ← v_i − λ·E[oldToken] + λ·E[newToken] for every neuron, E the
 * token embeddings (tied to the unembedding in GPT-2, so this moves the neuron's vote from the
 * old answer to the new one). (The ROME/EasyEdit GPT path adds E[t] once per target token
 * without λ; spec §7 — here the paper's form with λ = `edit_scale`.)
 */
export function editNeuronsChanges(model: CausalLM, neurons: Neuron[], oldToken: number, newToken: number, scale: number): Float32Array[] {
  const E = embeddingMatrix(model);
  const [V, C] = E.shape;
  for (const t of [oldToken, newToken]) if (!Number.isInteger(t) || t < 0 || t >= V) throw new ArgumentError(`KN edit: token ${t} is outside the vocabulary [0, ${V})`);
  const data = E.data() as Float32Array;
  const d = Float32Array.from({ length: C }, (_, c) => scale * (data[newToken * C + c] - data[oldToken * C + c]));
  return neurons.map(() => Float32Array.from(d));
}

/**
 * Activation patches (KN-orig patch.py): hooks multiplying the neurons' activations by `factor`
 * at the last token of every row (`lastTokens[b]`), or at every token when omitted.
 */
export function activationPatchHooks(model: CausalLM, neurons: Neuron[], factor: number, lastTokens?: number[]): Hooks {
  const hooks: Hooks = {};
  const byLayer = new Map<number, number[]>();
  for (const n of neurons) byLayer.set(n.layer, [...(byLayer.get(n.layer) ?? []), n.index]);
  for (const [layer, indices] of byLayer) {
    const module = model.rewriteModule(layer);
    const F = module.keyDim;
    hooks[module.keyHook] = (key) => {
      const [B, T] = key.shape;
      const positions = lastTokens ? lastTokens.map((token, batch) => ({ batch, token })) : Array.from({ length: B * T }, (_, i) => ({ batch: Math.floor(i / T), token: i % T }));
      // add (factor − 1)·a_i at the chosen neurons: a mask [P, F] times the gathered activations
      const mask = new Float32Array(positions.length * F);
      positions.forEach((_, p) => indices.forEach((i) => (mask[p * F + i] = factor - 1)));
      const picked = gatherAt(key, positions);
      return addAt(key, positions, mul(picked, tensor(mask, [positions.length, F])));
    };
  }
  return hooks;
}
