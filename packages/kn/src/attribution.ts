/**
 * Knowledge attribution by integrated gradients (Dai et al., "Knowledge Neurons in Pretrained
 * Transformers", ACL 2022, Eq. 3; specs/locate-then-edit.md §7):
 *
 *   Attr(w_i) = w_i · ∫₀¹ ∂P(α·w)/∂w_i dα  ≈  (w_i / m) Σ_{k} ∂P(α_k·w)/∂w_i,   α = linspace(0, 1, m)
 *
 * where w is the FFN intermediate activation of one layer at the prompt's last token and P the
 * probability of the answer token there. The neurons are the `mlp_key` activations — the input
 * of the value projection, after the activation function, the paper's definition. (The ROME and
 * EasyEdit copies hook `c_fc`/`fc_in`/`gate_proj` for decoder models, i.e. a pre-activation;
 * spec §7 step 1.) Multi-token answers: token τ is scored after the prompt teacher-forced with
 * answer[:τ], and the attributions are averaged (the reference code meant to advance the prompt
 * but, for GPT-2, scores every token at the same position; spec §7 step 6).
 */
import {
  type CausalLM,
  KVCache,
  type Tensor,
  ArgumentError,
  crossEntropy,
  exp,
  gatherAt,
  grad,
  indexSelect,
  neg,
  noGrad,
  reshape,
  replaceAt,
  residualAt,
  sum,
  tensor,
  tidy,
} from '@medit/core';

export interface IgOptions {
  steps: number;
  batchSize: number;
}

/** Integrated gradients of one layer for one answer token. */
export interface LayerAttribution {
  /** attribution per FFN neuron [d_ff] */
  scores: Float32Array;
  /** the original activation w at the last token [d_ff] */
  activation: Float32Array;
  /** P(answer) with the activation scaled by each α (α = linspace(0, 1, steps)) */
  probs: number[];
}

/** linspace(0, 1, m) as torch computes it (m = 1 → [0]). @internal */
export function linspace01(m: number): number[] {
  return Array.from({ length: m }, (_, k) => (m === 1 ? 0 : k / (m - 1)));
}

/**
 * Integrated-gradients attribution of the FFN neurons of `layer` for predicting `answer` after
 * `ids` (at the last position).
 * @throws ArgumentError on an empty prompt or an out-of-range layer
 */
export function integratedGradients(model: CausalLM, ids: number[], answer: number, layer: number, opts: IgOptions): LayerAttribution {
  if (ids.length === 0) throw new ArgumentError('integratedGradients: empty prompt');
  const module = model.rewriteModule(layer);
  const last = ids.length - 1;
  const alphas = linspace01(opts.steps);
  const F = module.keyDim;
  const total = new Float64Array(F);
  const probs: number[] = [];
  let activation: Float32Array | undefined;
  // Only the last token sees the scaled activation (causal attention), from `layer` on: the
  // keys and values of the tokens before it and its residual stream entering `layer` are
  // computed once, and each batch of α's runs that one token from `layer` on.
  const prefix = last > 0 ? new KVCache() : undefined;
  if (prefix) noGrad(() => tidy(() => void model.forward([ids.slice(0, last)], { cache: prefix, logitsFor: [{ batch: 0, token: 0 }] })));
  const resid = residualAt(model, [[ids[last]]], layer, { cache: prefix?.readOnly() }); // [1, 1, C]
  /** the prefix's keys and values repeated for a batch of n rows */
  const prefixRows = new Map<number, KVCache>();
  try {
    for (let start = 0; start < alphas.length; start += opts.batchSize) {
      const chunk = alphas.slice(start, start + opts.batchSize);
      const n = chunk.length;
      if (prefix && !prefixRows.has(n)) prefixRows.set(n, prefix.select(chunk.map(() => 0)));
      tidy(() => {
        let scaled: Tensor | undefined;
        const positions = chunk.map((_, batch) => ({ batch, token: 0 }));
        const { logits } = model.forward(
          chunk.map(() => [ids[last]]),
          {
            cache: prefixRows.get(n)?.readOnly(),
            startAt: { layer, hidden: indexSelect(resid, 0, chunk.map(() => 0)) },
            logitsAt: chunk.map(() => 0),
            hooks: {
              [module.keyHook]: (key) => {
                if (!activation) activation = noGrad(() => gatherAt(key, [{ batch: 0, token: 0 }]).data() as Float32Array);
                const w = activation;
                // the leaf whose gradient is ∂P/∂(α_k w): rows α_k · w
                scaled = tensor(
                  Float32Array.from({ length: n * F }, (_, i) => chunk[Math.floor(i / F)] * w[i % F]),
                  [n, F],
                );
                scaled.requiresGrad = true;
                return replaceAt(key, positions, scaled);
              },
            },
          },
        );
        const V = logits.shape[2];
        const p = exp(neg(crossEntropy(reshape(logits, [n, V]), Array(n).fill(answer), { reduction: 'none' })));
        probs.push(...(p.data() as Float32Array));
        // Rows are independent, so the gradient of Σ_k P_k gives every ∂P_k/∂(α_k w) at once.
        const [g] = grad(sum(p), [scaled!]);
        const gd = g.data() as Float32Array;
        for (let i = 0; i < gd.length; i++) total[i % F] += gd[i];
      });
    }
  } finally {
    resid.dispose();
    prefix?.dispose();
    for (const c of prefixRows.values()) c.dispose();
  }
  const w = activation!;
  const scores = Float32Array.from(total, (g, i) => (w[i] * g) / alphas.length);
  return { scores, activation: w, probs };
}

/**
 * Attribution scores of every scanned layer [layers][d_ff] for an answer after a prompt,
 * averaged over the answer's tokens (token τ scored after prompt + answer[:τ]).
 */
export function attributionScores(model: CausalLM, prompt: number[], answer: number[], layers: number[], opts: IgOptions): Float32Array[] {
  if (answer.length === 0) throw new ArgumentError('attributionScores: empty answer');
  return layers.map((layer) => {
    const acc = new Float32Array(model.rewriteModule(layer).keyDim);
    answer.forEach((token, tau) => {
      const { scores } = integratedGradients(model, [...prompt, ...answer.slice(0, tau)], token, layer, opts);
      for (let i = 0; i < acc.length; i++) acc[i] += scores[i] / answer.length;
    });
    return acc;
  });
}
