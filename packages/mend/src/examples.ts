/**
 * Training examples and losses shared by MEND and KE (specs/meta-and-memory.md §0.2, §0.3, §1.5,
 * §1.8 [R]): each example is the tuple (x_e, y_e, x'_e, x_loc) built from an {@link EditCase} of
 * a train split — the edit prompt and new target, its rephrases, and unrelated prompts with their
 * answers. Sequences are prompt + target, right-padded, with an explicit per-token label mask
 * (never positional assumptions, §0.2 [R]).
 */
import {
  ArgumentError,
  type RgbImage,
  type Tensor,
  type Tokenizer,
  argmax,
  crossEntropy,
  fillTemplate,
  indexSelect,
  klDiv,
  logSoftmax,
  mean,
  mul,
  mulScalar,
  reshape,
  rightPad,
  sum,
  targetIds,
  tensor,
  add,
} from '@medit/core';
import { type EditCase, type MmeditCase, mmeditLocalityPrompt } from '@medit/data';

import type { EditNllReduction } from './hparams';

/** One training edit: (x_e, y_e), its rephrases x'_e and locality prompts x_loc with answers. */
export interface TrainingExample {
  /** x_e, the full edit prompt */
  prompt: string;
  /** y_e, the new target */
  target: string;
  /** the answer before the edit, when known (KE's condition text) */
  targetTrue?: string;
  rephrases: string[];
  locality: { prompt: string; answer: string }[];
  /** Vision-language models (MMEdit): the image i_e that x_e and its rephrases ask about. */
  image?: RgbImage;
  /** MMEdit: rephrased images i_r, asked with x_e (the i_edit term of the loss). */
  imageRephrases?: RgbImage[];
  /** MMEdit: multimodal locality inputs (image, question, answer) — the image locality KL. */
  imageLocality?: { image: RgbImage; prompt: string; answer: string }[];
}

/**
 * Training examples from edit cases (cases with no rephrase or no locality prompt are skipped).
 * @throws ArgumentError when no case has both
 */
export function examplesFromCases(cases: readonly EditCase[]): TrainingExample[] {
  const out: TrainingExample[] = [];
  for (const c of cases) {
    if (c.rephrasePrompts.length === 0 || c.localityPrompts.length === 0) continue;
    out.push({
      prompt: fillTemplate(c.request.prompt, c.request.subject),
      target: c.request.targetNew,
      targetTrue: c.request.targetTrue,
      rephrases: [...c.rephrasePrompts],
      locality: c.localityPrompts.map((l) => ({ prompt: l.prompt, answer: l.answer })),
    });
  }
  if (out.length === 0) throw new ArgumentError('no edit case has both a rephrase and a locality prompt to train on');
  return out;
}

/**
 * Training examples from MMEdit train records with their images (specs/meta-and-memory.md §8):
 * x_e = src about the image, x'_e = rephrase, the text locality question, a rephrased image, and
 * the multimodal locality input (its question in MMEdit's VQA template).
 */
export function examplesFromMmedit(cases: readonly MmeditCase<RgbImage>[]): TrainingExample[] {
  if (cases.length === 0) throw new ArgumentError('no MMEdit cases to train on');
  return cases.map((c) => ({
    prompt: c.src,
    target: c.alt,
    targetTrue: c.pred,
    rephrases: [c.rephrase],
    locality: [{ prompt: c.loc, answer: c.locAns }],
    image: c.image,
    imageRephrases: [c.imageRephrase],
    imageLocality: [{ image: c.mLoc, prompt: mmeditLocalityPrompt(c.mLocQ), answer: c.mLocA }],
  }));
}

/** Right-padded prompt + target rows with next-token labels (−100 outside the targets). */
export interface TargetBatch {
  ids: number[][];
  mask: number[][];
  /** flat [B·T] labels aligned with the logits (position t predicts token t+1) */
  labels: number[];
}

/** Tokenises prompt + target rows; the label of position t is the target token at t+1. */
export function targetBatch(tok: Tokenizer, rows: readonly { prompt: string; target: string }[], pad: number): TargetBatch {
  const seqs = rows.map((r) => {
    const p = tok.encode(r.prompt);
    const t = targetIds(tok, r.target);
    return { ids: [...p, ...t], first: p.length };
  });
  const { ids, mask } = rightPad(
    seqs.map((s) => s.ids),
    pad,
  );
  const T = ids[0].length;
  const labels = new Array<number>(rows.length * T).fill(-100);
  seqs.forEach((s, b) => {
    for (let j = s.first; j < s.ids.length; j++) labels[b * T + j - 1] = s.ids[j];
  });
  return { ids, mask, labels };
}

/** Tokenises texts (no labels) for the locality KL, right-padded with their mask. */
export function textBatch(tok: Tokenizer, texts: readonly string[], pad: number): { ids: number[][]; mask: number[][] } {
  return rightPad(
    texts.map((t) => tok.encode(t)),
    pad,
  );
}

/** L_e: mean NLL over the supervised tokens (spec §0.3 "Edit NLL"). */
export function targetNll(logits: Tensor, labels: readonly number[]): Tensor {
  return crossEntropy(logits, labels);
}

/**
 * The training objective's edit term over a batch of `rows` targets: {@link targetNll} for `mean`;
 * for `sum` each target's summed token NLL, −log p(y|x), averaged over the rows (MEND Alg. 1).
 */
export function objectiveNll(logits: Tensor, labels: readonly number[], rows: number, reduction: EditNllReduction): Tensor {
  if (reduction === 'mean') return targetNll(logits, labels);
  return mulScalar(crossEntropy(logits, labels, { reduction: 'sum' }), 1 / rows);
}

/**
 * The loss whose gradient an edit decomposes: Σ over the edits of each edit's mean target NLL.
 * For one edit it is L_e; for a batch, every edit's tokens keep the weight they have alone, so a
 * batched update is the sum of the single-edit updates instead of shrinking with the batch size.
 */
export function editNll(logits: Tensor, labels: readonly number[], rows: number): Tensor {
  const T = labels.length / rows;
  const weights = new Float32Array(labels.length);
  for (let b = 0; b < rows; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) if (labels[b * T + t] !== -100) n++;
    for (let t = 0; t < T; t++) if (labels[b * T + t] !== -100) weights[b * T + t] = 1 / n;
  }
  const nll = crossEntropy(logits, labels, { reduction: 'none' });
  return sum(mul(reshape(nll, [labels.length]), tensor(weights, [labels.length])));
}

/**
 * Label-smoothed NLL over the supervised tokens (KE's edit term, spec §5.2): (1 − ε)·NLL +
 * ε·mean over the vocabulary of −log p, averaged over the supervised tokens.
 */
export function smoothedNll(logits: Tensor, labels: readonly number[], eps: number): Tensor {
  const V = logits.shape[logits.rank - 1];
  const rows: number[] = [];
  const ys: number[] = [];
  labels.forEach((y, i) => {
    if (y !== -100) {
      rows.push(i);
      ys.push(y);
    }
  });
  const picked = indexSelect(reshape(logits, [-1, V]), 0, rows);
  const nll = crossEntropy(picked, ys);
  if (eps === 0) return nll;
  const uniform = mulScalar(mean(logSoftmax(picked)), -1);
  return add(mulScalar(nll, 1 - eps), mulScalar(uniform, eps));
}

/**
 * L_loc: KL(p_pre ‖ p_post) averaged over the real tokens (spec §0.3 "Locality KL", MEND App. C.2:
 * every token of x_loc for an LM). `preLogp` is the unedited model's log-softmax, detached.
 */
export function localityKl(preLogp: Tensor, postLogits: Tensor, mask: readonly number[][]): Tensor {
  const kl = klDiv(preLogp, logSoftmax(postLogits));
  const flat = mask.flat();
  const count = flat.reduce((a, b) => a + b, 0);
  return mulScalar(sum(mul(kl, tensor(flat, kl.shape))), 1 / Math.max(count, 1));
}

/** Fraction of supervised tokens whose argmax is the label (teacher-forced token accuracy, §0.4). */
export function tokenAccuracy(logits: Tensor, labels: readonly number[]): number {
  const pred = argmax(logits).data() as Int32Array;
  let hit = 0;
  let n = 0;
  labels.forEach((y, i) => {
    if (y === -100) return;
    n++;
    if (pred[i] === y) hit++;
  });
  return n === 0 ? 0 : hit / n;
}
