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
  type Tensor,
  crossEntropy,
  gatherAt,
  indexSelect,
  klDiv,
  logSoftmax,
  mul,
  reshape,
  rightPad,
  sum,
  tensor,
} from '@medit/core';

/** One tokenised request: prompt ids and target ids. @internal */
export interface TokenizedEdit {
  prompt: number[];
  target: number[];
}

/** ROME's FT loss at the last prompt token (bag of target tokens). @internal */
export function promptLastLoss(model: CausalLM, batch: TokenizedEdit[], pad: number): Tensor {
  const { ids, mask } = rightPad(
    batch.map((e) => e.prompt),
    pad,
  );
  const last = batch.map((e) => e.prompt.length - 1);
  const { logits } = model.forward(ids, { attentionMask: mask, logitsAt: last });
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
export function targetNewLoss(model: CausalLM, batch: TokenizedEdit[], pad: number): Tensor {
  const rows = batch.map((e) => [...e.prompt, ...e.target]);
  const { ids, mask } = rightPad(rows, pad);
  const width = ids[0].length;
  // logits at position p predict token p+1: positions [|prompt|−1, |prompt|+|t|−1) score the target.
  const labels: number[] = [];
  const weights: number[] = [];
  batch.forEach((e) => {
    for (let p = 0; p < width; p++) {
      const j = p - (e.prompt.length - 1);
      const inTarget = j >= 0 && j < e.target.length;
      labels.push(inTarget ? e.target[j] : -100);
      weights.push(inTarget ? 1 / (e.target.length * batch.length) : 0);
    }
  });
  const { logits } = model.forward(ids, { attentionMask: mask });
  const V = logits.shape[2];
  const nll = crossEntropy(reshape(logits, [-1, V]), labels, { reduction: 'none' });
  return sum(mul(nll, tensor(weights, [weights.length])));
}

/** Log-probabilities of the model at every real token of `prompts` [N, V]. @internal */
export function tokenLogProbs(model: CausalLM, prompts: number[][], pad: number): Tensor {
  const { ids, mask } = rightPad(prompts, pad);
  const positions = prompts.flatMap((p, batch) => p.map((_, token) => ({ batch, token })));
  const { logits } = model.forward(ids, { attentionMask: mask });
  return logSoftmax(gatherAt(logits, positions));
}

/** mean over tokens of KL(P_0 ‖ P_θ), P_0 given as fixed log-probabilities. @internal */
export function klToReference(model: CausalLM, prompts: number[][], reference: Tensor, pad: number): Tensor {
  const logq = tokenLogProbs(model, prompts, pad);
  return klDiv(reference, logq, 'mean');
}
