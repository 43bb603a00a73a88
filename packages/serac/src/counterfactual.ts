/**
 * SERAC's counterfactual model h_ψ (specs/meta-and-memory.md §2.1, §2.3): a small causal LM that
 * shares the base model's tokenizer and answers an in-scope query given the edit it falls under.
 * Decoder-only input, as SERAC for GPT-style models: the edit statement "x_i y_i", a separator
 * (the tokenizer's EOS, the document separator the fact-world models were trained with), then the
 * query; the loss covers the answer tokens only,
 *
 *   ℓ(ψ) = −E log p_ψ(y_in | z_e, x_in)       (the gold memory entry as context, SERAC `pos_pairs`).
 *
 * Training augments the new object: a training edit is re-stated with another object of the same
 * relation (when relations are known) so the model learns to read the answer from the statement
 * rather than memorise the training edits.
 */
import {
  AdamW,
  ArgumentError,
  CancelledError,
  type CausalLM,
  crossEntropy,
  grad,
  targetIds,
  type Tensor,
  tidy,
  type Tokenizer,
} from '@medit/core';

import { editStatement, makeRng, relationObjects, type ScopeTrainingEdit } from './examples';
import type { TrainProgress } from './train-progress';

/** The separator between the edit statement and the query. */
export function separatorId(tok: Tokenizer): number {
  const sep = tok.eosTokenId ?? tok.sepTokenId;
  if (sep === undefined) throw new ArgumentError('counterfactual model: the tokenizer declares no EOS or SEP token to separate edit and query');
  return sep;
}

/** Token ids of the context the counterfactual model reads before a query: statement + separator. */
export function counterfactualContext(tok: Tokenizer, statement: string): number[] {
  return [...tok.encode(statement), separatorId(tok)];
}

/** One training sequence of a counterfactual model: the loss covers the tokens from `answerStart` on. */
export interface AnswerSequence {
  ids: number[];
  answerStart: number;
}

/** What {@link trainOnAnswers} runs: the trained tensors, the schedule and how a batch is drawn and scored. */
export interface AnswerTrainingLoop {
  /** the caller's name, for the cancellation error */
  name: string;
  params: Tensor[];
  steps: number;
  lr: number;
  weightDecay: number;
  /** token id that pads the shorter sequences of a batch (masked out) */
  pad: number;
  /** draws one batch and returns its sequences and how to compute their logits */
  next: () => { sequences: AnswerSequence[]; logits: (ids: number[][], attentionMask: number[][]) => Tensor };
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/**
 * AdamW on the answer tokens' next-token loss (SERAC's ℓ(ψ)): linear warm-up over the first
 * 10 % of the steps (at most 100), then linear decay to 10 % of `lr`. The tensors train with
 * `requiresGrad` on and are frozen again at the end.
 * @returns the per-step losses
 * @throws CancelledError on abort
 */
export function trainOnAnswers(loop: AnswerTrainingLoop): { step: number; loss: number }[] {
  const { params, steps, lr: lrMax, pad } = loop;
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: lrMax, weightDecay: loop.weightDecay });
  const warmup = Math.min(100, Math.floor(steps / 10));
  const history: { step: number; loss: number }[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      if (loop.signal?.aborted) throw new CancelledError(`${loop.name}: aborted`);
      const { sequences, logits } = loop.next();
      const W = Math.max(...sequences.map((s) => s.ids.length));
      const ids = sequences.map((s) => [...s.ids, ...Array(W - s.ids.length).fill(pad)]);
      const mask = sequences.map((s) => [...Array(s.ids.length).fill(1), ...Array(W - s.ids.length).fill(0)]);
      // next-token labels on the answer only
      const tgt = sequences.flatMap((s) => Array.from({ length: W }, (_, i) => (i + 1 >= s.answerStart && i + 1 < s.ids.length ? s.ids[i + 1] : -100)));
      const lr = step < warmup ? (lrMax * (step + 1)) / warmup : lrMax * (1 - (0.9 * (step - warmup)) / Math.max(steps - warmup, 1));
      const loss = tidy(() => {
        const l = crossEntropy(logits(ids, mask), tgt);
        opt.update(grad(l, params), lr);
        return l.item();
      });
      history.push({ step, loss });
      loop.onProgress?.({ stage: 'counterfactual', done: step + 1, total: steps, info: { loss, lr } });
    }
  } finally {
    for (const p of params) p.requiresGrad = false;
    opt.dispose();
  }
  return history;
}

/** Options of {@link trainCounterfactual}. */
export interface CounterfactualTrainOptions {
  steps?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** probability of re-stating an edit with another object of its relation (default 0.75) */
  augment?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/**
 * Fine-tunes `model` in place (all weights) as a counterfactual model on training edits.
 * @returns the per-step losses
 * @throws ArgumentError when a training sequence does not fit the model's context; CancelledError on abort
 */
export function trainCounterfactual(model: CausalLM, edits: readonly ScopeTrainingEdit[], opts: CounterfactualTrainOptions = {}): { step: number; loss: number }[] {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('trainCounterfactual: the model has no tokenizer');
  if (edits.length === 0) throw new ArgumentError('trainCounterfactual: no training edits');
  const steps = opts.steps ?? 1500;
  const B = opts.batchSize ?? 16;
  const augment = opts.augment ?? 0.75;
  const rng = makeRng(opts.seed ?? 0);
  const objects = relationObjects(edits);
  return trainOnAnswers({
    name: 'trainCounterfactual',
    params: [...model.params.values()],
    steps,
    lr: opts.lr ?? 3e-4,
    weightDecay: opts.weightDecay ?? 0.01,
    pad: separatorId(tok),
    signal: opts.signal,
    onProgress: opts.onProgress,
    next: () => {
      const sequences: AnswerSequence[] = [];
      for (let b = 0; b < B; b++) {
        const e = rng.pick(edits);
        const pool = e.relation ? objects.get(e.relation)! : [];
        const target = pool.length > 1 && rng.next() < augment ? rng.pick(pool) : e.request.targetNew;
        const ctx = counterfactualContext(tok, editStatement({ ...e.request, targetNew: target }));
        const q = tok.encode(rng.pick(e.inScope));
        const ids = [...ctx, ...q, ...targetIds(tok, target)];
        if (ids.length > model.config.maxPositions) throw new ArgumentError(`trainCounterfactual: a training sequence is ${ids.length} tokens, longer than the model's context (${model.config.maxPositions})`);
        sequences.push({ ids, answerStart: ctx.length + q.length });
      }
      return { sequences, logits: (ids, attentionMask) => model.forward(ids, { attentionMask }).logits };
    },
  });
}
