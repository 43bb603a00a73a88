/**
 * Second-moment statistics C = E[k kᵀ] of the rewrite module's input (the MLP key) at
 * chosen layers, over a local text corpus — ROME's `layer_stats` (spec §1.5), done in
 * one pass for all layers. Every non-padding token contributes one key vector; the
 * forward pass stops after the last requested layer. The running sums are float64.
 *
 * The job is async: it yields to the event loop between batches, reports progress and
 * tokens/s, stops on an AbortSignal (saving a resumable partial file when a cache dir is
 * set), and caches the result as safetensors + metadata (model fingerprint, layer,
 * corpus hash, token count, dtype). Sums holding NaN/Inf are an error, never cached or
 * saved as a partial file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { keep, noGrad, tidy } from '../engine';
import { ArgumentError, CancelledError, IOError, NonFiniteError } from '../errors';
import { readCheckpoint, writeCheckpointFile } from '../io/checkpoint';
import { secondMomentAccumulate } from '../linalg';
import { assertFinite } from '../ops/finite';
import { mulScalar } from '../ops/elementwise';
import { indexSelect, reshape } from '../ops/layout';
import { modelFingerprint } from '../models/fingerprint';
import { hookName } from '../models/hooks';
import type { CausalLM } from '../models/model';
import { Tensor, wrapHandle, zeros } from '../tensor';
import type { Corpus } from './corpus';

export interface LayerStatsProgress {
  docs: number;
  totalDocs: number;
  tokens: number;
  tokensPerSecond: number;
}

export interface LayerStatsOptions {
  layers: number[];
  corpus: Corpus;
  /** Stop after this many documents (ROME's mom2_n_samples; default all). */
  maxDocs?: number;
  /** Truncate documents to this many tokens (default the model's max positions). */
  maxLength?: number;
  /** Padded tokens per forward batch (default 4096). */
  batchTokens?: number;
  /** Directory for the cached result and the resumable partial state. */
  cacheDir?: string;
  /** Save partial state every this many batches when caching (default 20). */
  checkpointEvery?: number;
  signal?: AbortSignal;
  onProgress?: (p: LayerStatsProgress) => void;
}

/** The statistics of one layer. */
export interface LayerStats {
  layer: number;
  /** Σ k kᵀ over `count` key vectors (float64 [F, F]) */
  mom2Sum: Tensor;
  count: number;
  /** C = mom2Sum / count (float64), a new tensor owned by the caller. */
  mean(): Tensor;
}

/** Thrown by a hook to end a forward pass once the activations it needs are read. */
export class StopForward extends Error {}

function makeStats(layer: number, mom2Sum: Tensor, count: number): LayerStats {
  keep(mom2Sum);
  return { layer, mom2Sum, count, mean: () => mulScalar(mom2Sum, 1 / count) };
}

/** File name of the cached statistics for one layer. */
export function statsCachePath(cacheDir: string, fingerprint: string, corpusHash: string, layer: number, maxDocs: number | 'all'): string {
  return path.join(cacheDir, `mom2-${fingerprint.slice(0, 16)}-${corpusHash.slice(0, 16)}-n${maxDocs}-layer${layer}.safetensors`);
}

/**
 * Computes (or loads from the cache) C for each layer in `opts.layers`.
 * @throws CancelledError when `signal` aborts (partial state is kept for a resume)
 */
export async function computeLayerStats(model: CausalLM, opts: LayerStatsOptions): Promise<Map<number, LayerStats>> {
  const tok = model.tokenizer;
  if (!tok) throw new ArgumentError('computeLayerStats: the model has no tokenizer');
  const layers = [...new Set(opts.layers)].sort((a, b) => a - b);
  if (layers.length === 0) throw new ArgumentError('computeLayerStats: expected at least one layer');
  for (const l of layers) model.rewriteModule(l); // validates the index
  const docs = opts.corpus.docs.slice(0, opts.maxDocs ?? opts.corpus.docs.length);
  const nTag = opts.maxDocs ?? 'all';
  const fingerprint = opts.cacheDir ? modelFingerprint(model) : '';
  const F = model.config.intermediateSize;
  const result = new Map<number, LayerStats>();

  if (opts.cacheDir) {
    const cached = layers.map((l) => statsCachePath(opts.cacheDir!, fingerprint, opts.corpus.hash, l, nTag));
    if (cached.every((f) => fs.existsSync(f))) {
      for (let i = 0; i < layers.length; i++) result.set(layers[i], await loadStatsFile(cached[i], fingerprint));
      return result;
    }
  }

  // State: running sums per layer, documents consumed, tokens seen.
  const sums = new Map<number, Tensor>(layers.map((l) => [l, keep(zeros([F, F], 'float64'))]));
  let docsDone = 0;
  let tokens = 0;
  const partial = opts.cacheDir ? path.join(opts.cacheDir, `mom2-${fingerprint.slice(0, 16)}-${opts.corpus.hash.slice(0, 16)}-n${nTag}-layers${layers.join('_')}.partial.safetensors`) : undefined;
  if (partial && fs.existsSync(partial)) {
    const ck = await readCheckpoint(path.dirname(partial), { file: path.basename(partial) });
    if (ck.metadata.fingerprint === fingerprint && ck.metadata.corpus === opts.corpus.hash) {
      docsDone = Number(ck.metadata.docs);
      tokens = Number(ck.metadata.tokens);
      for (const l of layers) {
        const h = ck.tensors.get(`mom2.${l}`);
        if (!h) throw new IOError(`${partial}: missing mom2.${l}`);
        sums.get(l)!.dispose();
        sums.set(l, keep(wrapHandle(h)));
      }
    }
  }
  /** Throws (and drops the partial file) when a running sum is no longer finite. */
  const checkSums = () => {
    try {
      for (const l of layers) assertFinite(sums.get(l)!, `the covariance statistics of layer ${l} (Σ k kᵀ over ${tokens} tokens of ${opts.corpus.source})`);
    } catch (err) {
      if (partial) fs.rmSync(partial, { force: true });
      throw new NonFiniteError(`${(err as Error).message}: the model's MLP keys are not finite on this text; nothing was cached`, (err as NonFiniteError).tensor);
    }
  };
  const savePartial = async () => {
    if (!partial) return;
    checkSums();
    fs.mkdirSync(path.dirname(partial), { recursive: true });
    await writeCheckpointFile(partial, new Map(layers.map((l) => [`mom2.${l}`, sums.get(l)!.handle()])), {
      fingerprint,
      corpus: opts.corpus.hash,
      docs: String(docsDone),
      tokens: String(tokens),
    });
  };

  const maxLen = Math.min(opts.maxLength ?? model.config.maxPositions, model.config.maxPositions);
  const batchTokens = opts.batchTokens ?? 4096;
  const lastLayer = layers[layers.length - 1];
  const started = Date.now();
  const tokensAtStart = tokens;
  let batches = 0;
  try {
    while (docsDone < docs.length) {
      if (opts.signal?.aborted) throw new CancelledError('layer statistics cancelled');
      // Next batch: consecutive documents up to batchTokens padded tokens (right padding).
      const batch: number[][] = [];
      let width = 0;
      let next = docsDone;
      while (next < docs.length) {
        const ids = tok.encode(docs[next]).slice(0, maxLen);
        const w = Math.max(width, ids.length);
        if (batch.length > 0 && w * (batch.length + 1) > batchTokens) break;
        if (ids.length > 0) batch.push(ids);
        width = w;
        next++;
      }
      if (batch.length > 0) {
        const pad = model.config.eosTokenId ?? 0;
        const ids = batch.map((r) => [...r, ...Array(width - r.length).fill(pad)]);
        const mask = batch.map((r) => Array.from({ length: width }, (_, t) => (t < r.length ? 1 : 0)));
        const rows: number[] = [];
        batch.forEach((r, b) => r.forEach((_, t) => rows.push(b * width + t)));
        const hooks = Object.fromEntries(
          layers.map((l) => [
            hookName(l, 'mlp_key'),
            (k: Tensor) => {
              secondMomentAccumulate(sums.get(l)!, indexSelect(reshape(k, [-1, F]), 0, rows));
              if (l === lastLayer) throw new StopForward();
            },
          ]),
        );
        noGrad(() =>
          tidy(() => {
            try {
              model.forward(ids, { attentionMask: mask, hooks, positionIds: ids.map((r) => r.map((_, t) => t)) });
            } catch (err) {
              if (!(err instanceof StopForward)) throw err;
            }
          }),
        );
        tokens += rows.length;
      }
      docsDone = next;
      batches++;
      const secs = (Date.now() - started) / 1000;
      opts.onProgress?.({ docs: docsDone, totalDocs: docs.length, tokens, tokensPerSecond: secs > 0 ? (tokens - tokensAtStart) / secs : 0 });
      if (partial && batches % (opts.checkpointEvery ?? 20) === 0) await savePartial();
      await new Promise((r) => setImmediate(r));
    }
    if (tokens === 0) throw new ArgumentError('computeLayerStats: the corpus produced no tokens');
    checkSums();
  } catch (err) {
    try {
      if (err instanceof CancelledError) await savePartial();
    } finally {
      for (const t of sums.values()) t.dispose();
    }
    throw err;
  }
  for (const l of layers) result.set(l, makeStats(l, sums.get(l)!, tokens));
  if (opts.cacheDir) {
    fs.mkdirSync(opts.cacheDir, { recursive: true });
    for (const l of layers) {
      await writeCheckpointFile(statsCachePath(opts.cacheDir, fingerprint, opts.corpus.hash, l, nTag), new Map([['mom2', sums.get(l)!.handle()]]), {
        fingerprint,
        layer: String(l),
        corpus: opts.corpus.hash,
        corpus_source: opts.corpus.source,
        count: String(tokens),
        docs: String(docsDone),
        dtype: 'float64',
        module: model.rewriteModule(l).weightName,
      });
    }
    if (partial && fs.existsSync(partial)) fs.rmSync(partial);
  }
  return result;
}

/** Loads one cached statistics file; checks it belongs to the model when a fingerprint is given. */
export async function loadStatsFile(file: string, fingerprint?: string): Promise<LayerStats> {
  const ck = await readCheckpoint(path.dirname(file), { file: path.basename(file) });
  const meta = ck.metadata;
  if (fingerprint && meta.fingerprint !== fingerprint) {
    throw new IOError(`${file}: statistics were computed for a different model (fingerprint ${meta.fingerprint?.slice(0, 12)} ≠ ${fingerprint.slice(0, 12)})`);
  }
  const tensors = new Map([...ck.tensors].map(([k, h]) => [k, wrapHandle(h)]));
  const mom2 = tensors.get('mom2');
  tensors.delete('mom2');
  for (const t of tensors.values()) t.dispose();
  const count = Number(meta.count);
  try {
    if (!mom2 || !(count > 0)) throw new IOError(`${file}: not a medit statistics file (needs tensor mom2 and metadata count)`);
    assertFinite(mom2, `the covariance statistics mom2 of layer ${meta.layer}`, file);
  } catch (err) {
    mom2?.dispose();
    throw err;
  }
  return makeStats(Number(meta.layer), mom2, count);
}
