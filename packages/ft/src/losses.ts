/**
 * The FT losses (specs/locate-then-edit.md §8), on token ids with explicit per-row offsets
 * (right padding and a mask; no padding-side assumptions, spec §12 item 2).
 *
 * - `prompt_last` (ROME:baselines/ft/ft_main.py): the prompt alone; at its last token,
 *   −(1/|t|) Σ_τ log P(t_τ | prompt) — every target token scored at the same position (a
 *   bag-of-tokens objective, kept for fidelity), mean over the batch.
 * - `target_new` (EE:easyeditor/models/ft/ft_main.py, FT-M): prompt + target teacher-forced;
 *   the shifted cross-entropy averaged over each row's target tokens, mean over the batch.
 * - KL (FT+KL): KL(P_0 ‖ P_θ) at every token of unrelated prompts, mean over tokens, P_0 the
 *   unedited model's distribution (MEND-code losses.py::kl_loc_loss, the "+KL" of T-Patcher's baselines).
 */
import {
  type CausalLM,
  type ForwardOptions,
  type ForwardOutput,
  type Tensor,
  crossEntropy,
  indexSelect,
  klDiv,
  logSoftmax,
  mul,
  reshape,
  residualAt,
  rightPad,
  sum,
  tensor,
} from '@medit/core';

/** One tokenised request: prompt ids and target ids. @internal */
export interface TokenizedEdit {
  prompt: number[];
  target: number[];
}

/** A causal LM's forward pass, as the losses run it. @internal */
export type LmForward = (ids: number[][], opts: ForwardOptions) => ForwardOutput;

/**
 * `model.forward` with the residual stream entering block `from` computed once per distinct
 * batch: the blocks below the tuned ones do not change while FT trains (`from` = 0: the plain
 * forward). `dispose` frees the stored residuals. @internal
 */
export function forwardFrom(model: CausalLM, from: number): { forward: LmForward; dispose: () => void } {
  const below = new Map<string, Tensor>();
  const forward: LmForward = (ids, opts) => {
    if (from === 0) return model.forward(ids, opts);
    const key = JSON.stringify([ids, opts.attentionMask]);
    let hidden = below.get(key);
    if (!hidden) below.set(key, (hidden = residualAt(model, ids, from, { attentionMask: opts.attentionMask })));
    return model.forward(ids, { ...opts, startAt: { layer: from, hidden } });
  };
  return {
    forward,
    dispose: () => {
      for (const t of below.values()) t.dispose();
      below.clear();
    },
  };
}

/** ROME's FT loss at the last prompt token (bag of target tokens). @internal */
export function promptLastLoss(forward: LmForward, batch: TokenizedEdit[], pad: number): Tensor {
  const { ids, mask } = rightPad(
    batch.map((e) => e.prompt),
    pad,
  );
  const last = batch.map((e) => e.prompt.length - 1);
  const { logits } = forward(ids, { attentionMask: mask, logitsAt: last });
  const V = logits.shape[2];
  const rows = reshape(logits, [batch.length, V]);
  // Repeat row b once per target token, then weight each token by 1 / (|t_b| · B).
  const rowOf: number[] = [];
  const labels: number[] = [];
  const weights: number[] = [];
  batch.forEach((e, b) =>
    e.target.forEach((t) => {
      rowOf.push(b);
      labels.push(t);
      weights.push(1 / (e.target.length * batch.length));
    }),
  );
  const nll = crossEntropy(indexSelect(rows, 0, rowOf), labels, { reduction: 'none' });
  return sum(mul(nll, tensor(weights, [weights.length])));
}

/** Teacher-forced target loss (FT-M). @internal */
export function targetNewLoss(forward: LmForward, batch: TokenizedEdit[], pad: number): Tensor {
  const { ids, mask } = rightPad(
    batch.map((e) => [...e.prompt, ...e.target]),
    pad,
  );
  // logits at position p predict token p+1: positions [|prompt|−1, |prompt|+|t|−1) score the
  // target, and the vocabulary projection runs there only.
  const read: { batch: number; token: number }[] = [];
  const labels: number[] = [];
  const weights: number[] = [];
  batch.forEach((e, b) =>
    e.target.forEach((t, j) => {
      read.push({ batch: b, token: e.prompt.length - 1 + j });
      labels.push(t);
      weights.push(1 / (e.target.length * batch.length));
    }),
  );
  const { logits } = forward(ids, { attentionMask: mask, logitsFor: read });
  const nll = crossEntropy(logits, labels, { reduction: 'none' });
  return sum(mul(nll, tensor(weights, [weights.length])));
}

/** Log-probabilities of the model at every real token of `prompts` [N, V]. @internal */
export function tokenLogProbs(forward: LmForward, prompts: number[][], pad: number): Tensor {
  const { ids, mask } = rightPad(prompts, pad);
  const positions = prompts.flatMap((p, batch) => p.map((_, token) => ({ batch, token })));
  return logSoftmax(forward(ids, { attentionMask: mask, logitsFor: positions }).logits);
}

/** mean over tokens of KL(P_0 ‖ P_θ), P_0 given as fixed log-probabilities. @internal */
export function klToReference(forward: LmForward, prompts: number[][], reference: Tensor, pad: number): Tensor {
  const logq = tokenLogProbs(forward, prompts, pad);
  return klDiv(reference, logq, 'mean');
}
