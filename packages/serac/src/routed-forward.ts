/**
 * Routed forward passes: each row of a batch is answered either by the base model or by another
 * forward function (SERAC's counterfactual model, or for IKE the base model itself) reading a
 * per-row context before the row's tokens. The returned logits are aligned to the row's own token
 * positions, so callers (the metrics harness, generation) see an ordinary `[B, T, V]` output.
 *
 * Without a KV cache the contexted rows are `context ++ row tokens` (right-padded), and position t
 * of the row reads the other model's logits at `|context| + rank(t)`, rank(t) = real tokens before
 * t. With a cache (generation) the decision is taken on the first call (the prompt) and kept with
 * the cache: the other model keeps its own cache, its rows left-padded so new tokens line up.
 */
import {
  ArgumentError,
  concat,
  type ForwardOptions,
  type ForwardOutput,
  gatherAt,
  indexSelect,
  KVCache,
  reshape,
  type RgbImage,
  type Tensor,
} from '@medit/core';

/** A model's forward function. */
export type ForwardFn = (ids: number[][], opts?: ForwardOptions) => ForwardOutput;

/**
 * Where the other model reads a routed row: after `context`, and with the row's first `lead.replaced`
 * tokens read as `lead.tokens` when the row is tokenized differently after the context than at
 * the start of a sequence (IKE: a byte-level BPE word has no leading space at a sequence's start
 * but has one after "Prompt:"). The row's later tokens, and so the logits of every position from
 * the last replaced one on, are unaffected; a replaced position reads the lead at the same
 * distance from its end (or the context's last token).
 */
export interface RowContext {
  context: number[];
  lead?: { replaced: number; tokens: number[] };
}

/**
 * Decides, per row (its real tokens, padding removed), where the other model reads it, or null
 * for the base model. `reserve`: positions the row may still grow by (a cached forward starts a
 * generation), which a router that can shorten its context (IKE) leaves free.
 */
export type RowRouter = (rows: number[][], reserve: number) => (RowContext | null)[];

/** The other model's tokens for a routed row, and the index in them of each of the row's real tokens. */
function routedSequence(c: RowContext, row: number[]): { seq: number[]; at: (rank: number) => number } {
  const lead = c.lead ?? { replaced: 0, tokens: [] };
  const seq = [...c.context, ...lead.tokens, ...row.slice(lead.replaced)];
  const shift = lead.tokens.length - lead.replaced;
  return { seq, at: (rank) => Math.max(0, c.context.length + Math.max(rank + shift, -1)) };
}

/**
 * Positions a cached forward's routed rows keep free for the tokens generated after them (the
 * short answers `medit edit` and the playground show); a longer generation still fails the
 * context check, naming the lengths.
 */
const GENERATION_RESERVE = 16;

interface CacheState {
  contexts: (RowContext | null)[];
  routed: number[];
  cache: KVCache;
  mask: number[][];
}

function realTokens(ids: number[][], mask: number[][] | undefined, past: number): number[][] {
  return ids.map((row, b) => (mask ? row.filter((_, t) => mask[b][past + t] !== 0) : row));
}

/**
 * Logit-row index in the other model's output for each base position t of a row: `at(rank)` for a
 * real token (rank = real tokens before it), the previous real token's for padding; `start` is
 * where the row's sequence begins in the padded batch.
 */
function alignedIndex(maskRow: number[] | undefined, past: number, T: number, start: number, len: number, at: (rank: number) => number): number[] {
  const out: number[] = [];
  let rank = 0;
  for (let t = 0; t < T; t++) {
    const real = !maskRow || maskRow[past + t] !== 0;
    out.push(start + at(Math.max(0, Math.min(real ? rank : rank - 1, len - 1))));
    if (real) rank++;
  }
  return out;
}

/** Stacks base rows and other rows back into batch order: out[b] = rows of b. */
function merge(base: Tensor | null, baseRows: number[], other: Tensor, otherRows: number[], B: number): Tensor {
  const parts = base ? [base, other] : [other];
  const at = new Array<number>(B);
  baseRows.forEach((b, i) => (at[b] = i));
  otherRows.forEach((b, i) => (at[b] = baseRows.length + i));
  return indexSelect(base ? concat(parts, 0) : other, 0, at);
}

/** The images of the routed rows (vision-language models), or none. */
function routedImages(opts: ForwardOptions, routed: readonly number[]): (RgbImage | null)[] | undefined {
  return opts.images ? routed.map((b) => opts.images![b] ?? null) : undefined;
}

/**
 * Creates a forward function that routes rows between `base` and `other`. With
 * `ForwardOptions.images` (a vision-language model), each row keeps its image on whichever model
 * answers it: the other model reads image, context, then the row's tokens.
 * @param maxOtherPositions - the other model's context size (a contexted row longer than it throws)
 */
export function routedForward(base: ForwardFn, other: ForwardFn, route: RowRouter, maxOtherPositions: number, pad: number): ForwardFn {
  const states = new WeakMap<KVCache, CacheState>();
  const check = (len: number) => {
    if (len > maxOtherPositions) throw new ArgumentError(`routed forward: context + query is ${len} tokens, longer than the routed model's context (${maxOtherPositions})`);
  };

  const select = (logits: Tensor, rows: number, picks: number[][]): Tensor => {
    const positions = picks.flatMap((p, r) => p.map((token) => ({ batch: r, token })));
    return reshape(gatherAt(logits, positions), [rows, picks[0].length, logits.shape[2]]);
  };

  const uncached = (ids: number[][], opts: ForwardOptions): ForwardOutput => {
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    const mask = opts.attentionMask;
    const rows = realTokens(ids, mask, 0);
    const contexts = route(rows, 0);
    const routed = contexts.flatMap((c, b) => (c ? [b] : []));
    if (routed.length === 0) return base(ids, opts);
    if (opts.outputHiddenStates) throw new ArgumentError('routed forward: hidden states are not available for rows answered by the routed model');
    const kept = contexts.flatMap((c, b) => (c ? [] : [b]));
    const sub = <X>(xs: X[] | undefined, idx: number[]) => (xs ? idx.map((b) => xs[b]) : undefined);
    const baseOut = kept.length > 0 ? base(sub(ids, kept)!, { ...opts, attentionMask: sub(mask, kept), positionIds: sub(opts.positionIds, kept), logitsAt: sub(opts.logitsAt, kept), images: sub(opts.images as (RgbImage | null)[] | undefined, kept) }).logits : null;
    const reads = routed.map((b) => routedSequence(contexts[b]!, rows[b]));
    const seqs = reads.map((r) => r.seq);
    seqs.forEach((s) => check(s.length));
    const W = Math.max(...seqs.map((s) => s.length));
    const otherLogits = other(
      seqs.map((s) => [...s, ...Array(W - s.length).fill(pad)]),
      { attentionMask: seqs.map((s) => [...Array(s.length).fill(1), ...Array(W - s.length).fill(0)]), images: routedImages(opts, routed) },
    ).logits;
    const picks = routed.map((b, i) => {
      const idx = alignedIndex(mask?.[b], 0, T, 0, rows[b].length, reads[i].at);
      return opts.logitsAt ? [idx[opts.logitsAt[b]]] : idx;
    });
    return { logits: merge(baseOut, kept, select(otherLogits, routed.length, picks), routed, B) };
  };

  const cached = (ids: number[][], opts: ForwardOptions, cache: KVCache): ForwardOutput => {
    const B = ids.length;
    const T = ids[0]?.length ?? 0;
    const past = cache.length;
    const mask = opts.attentionMask;
    let state = states.get(cache);
    let otherLogits: Tensor | null = null;
    let picks: number[][] = [];
    if (past === 0 || !state) {
      if (past !== 0) throw new ArgumentError('routed forward: the cache was filled before the routing was installed');
      const rows = realTokens(ids, mask, 0);
      const contexts = route(rows, GENERATION_RESERVE);
      const routed = contexts.flatMap((c, b) => (c ? [b] : []));
      state = { contexts, routed, cache: new KVCache(), mask: [] };
      states.set(cache, state);
      // The other model's cache lives as long as the caller's.
      const own = state.cache;
      const dispose = cache.dispose.bind(cache);
      cache.dispose = () => {
        own.dispose();
        dispose();
      };
      if (routed.length > 0) {
        const reads = routed.map((b) => routedSequence(contexts[b]!, rows[b]));
        const seqs = reads.map((r) => r.seq);
        seqs.forEach((s) => check(s.length));
        const W = Math.max(...seqs.map((s) => s.length));
        state.mask = seqs.map((s) => [...Array(W - s.length).fill(0), ...Array(s.length).fill(1)]);
        otherLogits = other(
          seqs.map((s) => [...Array(W - s.length).fill(pad), ...s]),
          { cache: state.cache, attentionMask: state.mask.map((m) => [...m]), images: routedImages(opts, routed) },
        ).logits;
        picks = routed.map((b, i) => alignedIndex(mask?.[b], 0, T, W - seqs[i].length, rows[b].length, reads[i].at));
      }
    } else if (state.routed.length > 0) {
      const s = state;
      s.routed.forEach((b, i) => {
        for (let t = 0; t < T; t++) s.mask[i].push(mask ? mask[b][past + t] : 1);
      });
      check(s.mask[0].length);
      otherLogits = other(
        s.routed.map((b) => ids[b]),
        { cache: s.cache, attentionMask: s.mask.map((m) => [...m]), images: routedImages(opts, s.routed) },
      ).logits;
      picks = s.routed.map(() => Array.from({ length: T }, (_, t) => t));
    }
    const baseOut = base(ids, opts);
    if (!otherLogits || state.routed.length === 0) return baseOut;
    if (opts.outputHiddenStates) throw new ArgumentError('routed forward: hidden states are not available for rows answered by the routed model');
    const routed = state.routed;
    const kept = Array.from({ length: B }, (_, b) => b).filter((b) => !routed.includes(b));
    const chosen = opts.logitsAt ? routed.map((b, i) => [picks[i][opts.logitsAt![b]]]) : picks;
    const keptLogits = kept.length > 0 ? indexSelect(baseOut.logits, 0, kept) : null;
    return { logits: merge(keptLogits, kept, select(otherLogits, routed.length, chosen), routed, B) };
  };

  return (ids: number[][], opts: ForwardOptions = {}) => {
    if (opts.startAt) throw new ArgumentError('routed forward: startAt is not available (the routed model reads each row from its tokens)');
    if (opts.logitsFor) {
      // every position of the routed rows, then the asked ones ([N, V] as the base model gives)
      const { logitsFor, ...rest } = opts;
      const { logits } = opts.cache ? cached(ids, rest, opts.cache) : uncached(ids, rest);
      return { logits: gatherAt(logits, logitsFor) };
    }
    return opts.cache ? cached(ids, opts, opts.cache) : uncached(ids, opts);
  };
}
