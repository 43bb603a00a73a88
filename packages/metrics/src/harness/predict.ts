/**
 * Predictions from a `CausalLM`: the only place in `@medit/metrics` that runs a model. Everything
 * the metric functions consume (mean target NLLs, teacher-forced argmax ids, generated text) is
 * produced here, batched, inside `noGrad` + `tidy` so no tensor outlives a call.
 *
 * Tokenisation follows ROME's `test_batch_prediction` (locate-then-edit spec §9): the prompt is
 * tokenised on its own (`tok(x)`, with the tokenizer's special tokens) and the target as
 * `tok(" " + o)` without special tokens (core's `targetIds`); the model sees their concatenation,
 * right-padded with an attention mask. Concatenating ids (instead of re-tokenising `x + " " + o`)
 * is what ROME assumes and makes prefix and target boundaries exact for every tokenizer.
 */
import {
  ArgumentError,
  CancelledError,
  type CausalLM,
  generate,
  logSoftmax,
  noGrad,
  targetIds,
  tidy,
  type RgbImage,
  topkLast,
  type Tokenizer,
} from '@medit/core';

import { meanNll, type TargetNll } from '../counterfact';
import type { TokenPrediction } from '../token';

/** A prompt and the continuation to score after it. */
export interface TargetQuery {
  /** Full prompt text (no `{}`). */
  prompt: string;
  /** Continuation; a leading space is added unless present (core's `targetIds`). */
  target: string;
  /** Vision-language models: the image the prompt is about (its tokens precede the prompt). */
  image?: RgbImage | null;
}

/** Teacher-forced result for one {@link TargetQuery}. */
export interface ScoredTarget {
  /** Token ids of the prompt (with the tokenizer's special tokens). */
  promptIds: number[];
  /** Token ids of `" " + target` (no special tokens). */
  targetIds: number[];
  /** `log p(targetᵢ | prompt, target<ᵢ)` per target token (natural log, ≤ 0). */
  logProbs: number[];
  /** Argmax id at each position that predicts a target token (teacher forcing). */
  predicted: number[];
  /** With `PredictOptions.topK`: the k most likely ids at each of those positions, best first. */
  topK?: number[][];
}

/** Options of the batched prediction functions. */
export interface PredictOptions {
  /** Sequences per forward pass (default 16). Memory grows with batch × length × vocabulary. */
  batchSize?: number;
  /** Checked before each forward pass; an aborted signal throws `CancelledError`. */
  signal?: AbortSignal;
  /** Also return the top-k ids at each target position (MMEdit's M-Locality compares top-10 lists). */
  topK?: number;
}

function tokenizerOf(model: CausalLM, who: string): Tokenizer {
  if (!model.tokenizer) throw new ArgumentError(`${who}: the model has no tokenizer (load a directory with tokenizer.json)`);
  return model.tokenizer;
}

function checkBatchSize(n: number | undefined): number {
  const b = n ?? 16;
  if (!Number.isInteger(b) || b < 1) throw new ArgumentError(`Expected a positive integer for batchSize but received ${String(n)}`);
  return b;
}

/** Pad id for right padding: masked out, so any in-vocabulary id works; EOS as HF does. */
function padId(model: CausalLM): number {
  return model.config.eosTokenId ?? model.config.bosTokenId ?? 0;
}

/**
 * Teacher-forced scoring of many (prompt, target) pairs: per target token its log-probability and
 * the argmax at the position that predicts it (`logits[promptLen + j − 1]`). One forward pass per
 * batch of `batchSize` sequences, sorted by length to limit padding.
 *
 * @throws {ArgumentError} when the model has no tokenizer, a prompt tokenises to nothing, or a
 *   prompt + target is longer than the model's context (the message names the prompt).
 * @example
 * const [s] = scoreTargets(model, [{ prompt: 'The Eiffel Tower is in', target: 'Paris' }]);
 * s.predicted; // argmax ids, compare with s.targetIds
 */
export function scoreTargets(model: CausalLM, queries: readonly TargetQuery[], opts: PredictOptions = {}): ScoredTarget[] {
  const batchSize = checkBatchSize(opts.batchSize);
  if (opts.topK !== undefined && !(Number.isInteger(opts.topK) && opts.topK >= 1)) throw new ArgumentError(`Expected a positive integer for topK but received ${String(opts.topK)}`);
  if (queries.length === 0) return [];
  const tok = tokenizerOf(model, 'scoreTargets');
  const maxLen = model.config.maxPositions;
  const encoded = queries.map((q, i) => {
    if (typeof q.prompt !== 'string' || typeof q.target !== 'string') {
      throw new ArgumentError(`Expected string prompt and target for queries[${i}] but received ${typeof q.prompt} and ${typeof q.target}`);
    }
    const promptIds = tok.encode(q.prompt);
    // The first target token is predicted from the last prompt position, so a prompt needs one token.
    if (promptIds.length === 0) throw new ArgumentError(`queries[${i}]: prompt ${JSON.stringify(q.prompt)} tokenises to nothing`);
    const tIds = targetIds(tok, q.target);
    const len = promptIds.length + tIds.length;
    if (len > maxLen) {
      throw new ArgumentError(
        `queries[${i}]: prompt ${JSON.stringify(q.prompt)} + target ${JSON.stringify(q.target)} is ${len} tokens, longer than the model's context (${maxLen})`,
      );
    }
    return { promptIds, targetIds: tIds };
  });
  const order = encoded.map((_, i) => i).sort((a, b) => encoded[a].promptIds.length + encoded[a].targetIds.length - (encoded[b].promptIds.length + encoded[b].targetIds.length));
  const out = new Array<ScoredTarget>(queries.length);
  const pad = padId(model);
  for (let start = 0; start < order.length; start += batchSize) {
    if (opts.signal?.aborted) throw new CancelledError('scoreTargets: aborted');
    const idx = order.slice(start, start + batchSize);
    const seqs = idx.map((i) => [...encoded[i].promptIds, ...encoded[i].targetIds]);
    const width = Math.max(...seqs.map((s) => s.length));
    const ragged = seqs.some((s) => s.length !== width);
    const ids = seqs.map((s) => [...s, ...Array(width - s.length).fill(pad)]);
    const mask = ragged ? seqs.map((s) => [...Array(s.length).fill(1), ...Array(width - s.length).fill(0)]) : undefined;
    // Positions predicting target token j of row b: promptLen + j − 1.
    const positions: { batch: number; token: number }[] = [];
    idx.forEach((i, b) => {
      const p = encoded[i].promptIds.length;
      for (let j = 0; j < encoded[i].targetIds.length; j++) positions.push({ batch: b, token: p + j - 1 });
    });
    const images = idx.map((i) => queries[i].image ?? null);
    let top: Int32Array | undefined;
    const logp = noGrad(() =>
      tidy(() => {
        // the final norm and the vocabulary projection run at the scored positions only
        const { logits } = model.forward(ids, { attentionMask: mask, logitsFor: positions, images: images.some((x) => x) ? images : undefined });
        const picked = logSoftmax(logits);
        if (opts.topK) top = topkLast(picked, opts.topK).indices.data() as Int32Array;
        return picked.data() as Float32Array;
      }, 'scoreTargets'),
    );
    const V = logp.length / positions.length;
    let row = 0;
    for (const i of idx) {
      const e = encoded[i];
      const logProbs: number[] = [];
      const predicted: number[] = [];
      const k = opts.topK ?? 0;
      const topK: number[][] = [];
      for (const t of e.targetIds) {
        if (top) topK.push(Array.from(top.subarray(row * k, (row + 1) * k)));
        const base = row * V;
        let best = 0;
        for (let v = 1; v < V; v++) if (logp[base + v] > logp[base + best]) best = v;
        // log-softmax is ≤ 0 mathematically; clamp float round-off so meanNll's check holds.
        logProbs.push(Math.min(logp[base + t], 0));
        predicted.push(best);
        row++;
      }
      out[i] = top ? { promptIds: e.promptIds, targetIds: e.targetIds, logProbs, predicted, topK } : { promptIds: e.promptIds, targetIds: e.targetIds, logProbs, predicted };
    }
  }
  return out;
}

/**
 * Mean per-token NLL of `target` after each prompt: `NLL(x, o) = −(1/|o|) Σⱼ log p(oⱼ | x, o<ⱼ)`
 * with `o = tok(" " + target)` (ROME CounterFact probability test, locate-then-edit spec §9).
 *
 * @example targetNll(model, ['The Eiffel Tower is in'], 'Paris') // [0.12]
 */
export function targetNll(model: CausalLM, prompts: readonly string[], target: string, opts: PredictOptions = {}): number[] {
  return scoreTargets(model, prompts.map((prompt) => ({ prompt, target })), opts).map((s) => meanNll(s.logProbs));
}

/**
 * `{nllNew, nllTrue}` for each prompt, scored in one batched pass (ROME compares both targets).
 * @example targetNlls(model, ['Danielle Darrieux speaks'], 'English', 'French')[0].nllNew
 */
export function targetNlls(model: CausalLM, prompts: readonly string[], targetNew: string, targetTrue: string, opts: PredictOptions = {}): TargetNll[] {
  const qs = prompts.flatMap((prompt) => [
    { prompt, target: targetNew },
    { prompt, target: targetTrue },
  ]);
  const s = scoreTargets(model, qs, opts);
  return prompts.map((_, i) => ({ nllNew: meanNll(s[2 * i].logProbs), nllTrue: meanNll(s[2 * i + 1].logProbs) }));
}

/**
 * Teacher-forced argmax ids over `target`'s tokens after each prompt, paired with those tokens:
 * the input of EasyEdit's `rewrite_acc` / `rephrase_acc` / `portability` and zsRE's token accuracy
 * (locate-then-edit spec §10).
 */
export function teacherForcedPredictions(model: CausalLM, prompts: readonly string[], target: string, opts: PredictOptions = {}): TokenPrediction[] {
  return scoreTargets(model, prompts.map((prompt) => ({ prompt, target })), opts).map((s) => ({ predicted: s.predicted, target: s.targetIds }));
}

/** Options of {@link generateTexts}. */
export interface GenerationOptions {
  /** Total length in tokens, prompt included (ROME `max_out_len`, default 100), capped at the context. */
  maxLength?: number;
  /** Greedy decoding instead of sampling (default false). */
  greedy?: boolean;
  /** Top-k of the sampler (default 5, ROME `generate_fast`). */
  topK?: number;
  /** Sampler seed (default 0). */
  seed?: number;
  /** Prompts per generation batch (default 16). */
  batchSize?: number;
}

/**
 * Free generations for fluency / generation entropy, as ROME's `generate_fast`: top-k 5 sampling
 * (or greedy) until `maxLength` tokens in total per batch; each text is the prompt followed by its
 * continuation (special tokens dropped), which is what ROME's n-gram entropy is computed on.
 * Seeded: equal inputs and seed give equal texts.
 */
export function generateTexts(model: CausalLM, prompts: readonly string[], opts: GenerationOptions = {}): string[] {
  if (prompts.length === 0) return [];
  const tok = tokenizerOf(model, 'generateTexts');
  const batchSize = checkBatchSize(opts.batchSize);
  const maxLength = Math.min(opts.maxLength ?? 100, model.config.maxPositions);
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new ArgumentError(`Expected a positive integer for maxLength but received ${String(opts.maxLength)}`);
  const out: string[] = [];
  for (let start = 0; start < prompts.length; start += batchSize) {
    const chunk = prompts.slice(start, start + batchSize);
    const ids = chunk.map((p) => tok.encode(p));
    const longest = Math.max(...ids.map((x) => x.length));
    const room = maxLength - longest;
    const cont =
      room > 0 && ids.every((x) => x.length > 0)
        ? generate(model, ids, { maxNewTokens: room, doSample: !opts.greedy, topK: opts.topK ?? 5, seed: (opts.seed ?? 0) + start })
        : ids.map(() => []);
    ids.forEach((p, i) => out.push(tok.decode([...p, ...cont[i]], { skipSpecialTokens: true })));
  }
  return out;
}
