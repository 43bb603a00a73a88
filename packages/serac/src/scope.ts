/**
 * SERAC's scope classifier g(z_i, x) ∈ (0, 1] at inference (specs/meta-and-memory.md §2.1–§2.2),
 * over any {@link TextEncoder} (engine BERT, ONNX, or a fine-tuned GPT-2: {@link LmEncoder}), in
 * its two published variants:
 * - `embedding` (bi-encoder, SERAC's zsRE default): log g = −κ‖e(c_i) − e(x)‖² with e the pooled
 *   sentence vector and κ the fixed `scale`; the e(c_i) of the memory are computed once per edit
 *   (§2.7 pitfall 4 [R]), so a query costs one encoder pass plus |M| distances;
 * - `cross` (cross-encoder, SERAC's FEVER / VitaminC choice): g = softmax(W·h_[CLS](c_i [SEP] x) + b)[0]
 *   (class 0 = in scope, §2.7 pitfall 2), one encoder pass per memory entry and query.
 * The context c_i is the edit statement (filled prompt and new object, {@link editStatement}).
 */
import * as fs from 'node:fs';

import { ArgumentError, IOError } from '@medit/core';

import { embedTexts, encodePair, type EncoderFamily, padBatch, type Pooling, type TextEncoder } from './encoder';
import { LmEncoder } from './lm-encoder';

/** What a trained scope classifier needs besides its encoder (saved as `scope.json`). */
export interface ScopeConfig {
  kind: 'embedding' | 'cross';
  /** the classifier directory's model: a BERT (absent: the files written before LM encoders) or a GPT-2 ({@link LmEncoder}, embedding variant only) */
  encoder?: EncoderFamily;
  pooling: Pooling;
  /** κ of the embedding variant (SERAC: a fixed buffer equal to 1) */
  scale: number;
  /** cross variant: the 2-way head on the pooled state, weight [2][C] and bias [2] */
  head?: { weight: number[][]; bias: number[] };
  /** routing threshold chosen on held-out training subjects ({@link calibrateThreshold}); absent: SERAC's 0.5 */
  threshold?: number;
}

/** Reads and checks a `scope.json`. */
export function readScopeConfig(file: string): ScopeConfig {
  let cfg: ScopeConfig;
  try {
    cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new IOError(`${file}: cannot read the scope classifier config (${(err as Error).message})`);
  }
  if (cfg.kind !== 'embedding' && cfg.kind !== 'cross') throw new IOError(`${file}: kind must be "embedding" or "cross", not ${JSON.stringify(cfg.kind)}`);
  if (cfg.encoder !== undefined && cfg.encoder !== 'bert' && cfg.encoder !== 'lm') throw new IOError(`${file}: encoder must be "bert" or "lm", not ${JSON.stringify(cfg.encoder)}`);
  if (cfg.encoder === 'lm' && cfg.kind !== 'embedding') throw new IOError(`${file}: an "lm" encoder is trained for kind "embedding" only, not ${JSON.stringify(cfg.kind)}`);
  if (!['cls', 'mean', 'last'].includes(cfg.pooling)) throw new IOError(`${file}: pooling must be "cls", "mean" or "last", not ${JSON.stringify(cfg.pooling)}`);
  if (cfg.kind === 'cross' && (!cfg.head || cfg.head.weight.length !== 2 || cfg.head.bias.length !== 2)) throw new IOError(`${file}: a cross-encoder needs a 2-way head`);
  if (!(cfg.scale > 0)) throw new IOError(`${file}: scale must be positive`);
  if (cfg.threshold !== undefined && !(cfg.threshold > 0 && cfg.threshold < 1)) throw new IOError(`${file}: threshold must be in (0, 1), not ${JSON.stringify(cfg.threshold)}`);
  return cfg;
}

/** The classifier's best memory entry for a query. */
export interface ScopeDecision {
  /** index of the memory entry with the highest g, or -1 for an empty memory */
  index: number;
  /** that g */
  score: number;
}

/** A scope classifier ready to route: an encoder and its {@link ScopeConfig}. */
export class ScopeClassifier {
  constructor(
    readonly encoder: TextEncoder,
    readonly config: ScopeConfig,
  ) {
    if (config.pooling !== encoder.pooling) throw new ArgumentError(`ScopeClassifier: the encoder pools by ${encoder.pooling} but the classifier was trained with ${config.pooling}`);
    const family = encoder instanceof LmEncoder ? 'lm' : 'bert';
    if (family !== (config.encoder ?? 'bert')) throw new ArgumentError(`ScopeClassifier: the encoder is ${family === 'lm' ? 'an LM' : 'a BERT'} but the classifier was trained with encoder ${config.encoder ?? 'bert'}`);
    if (config.kind === 'cross' && config.head!.weight[0].length !== encoder.hiddenSize) {
      throw new ArgumentError(`ScopeClassifier: head width ${config.head!.weight[0].length} does not match the encoder's hidden size ${encoder.hiddenSize}`);
    }
  }

  /** Per-entry state kept in the memory: the context's sentence vector (embedding variant) or nothing. */
  contextVectors(statements: readonly string[]): Float32Array[] | undefined {
    return this.config.kind === 'embedding' ? embedTexts(this.encoder, statements) : undefined;
  }

  /**
   * g(c_i, x) for every memory entry and query: [queries][entries].
   * @param vectors - the entries' {@link contextVectors} (embedding variant)
   */
  scores(statements: readonly string[], vectors: readonly Float32Array[] | undefined, queries: readonly string[]): number[][] {
    if (statements.length === 0) return queries.map(() => []);
    if (this.config.kind === 'embedding') {
      if (!vectors || vectors.length !== statements.length) throw new ArgumentError('ScopeClassifier: the memory has no context vectors for the embedding classifier');
      const q = embedTexts(this.encoder, queries);
      return q.map((x) => vectors.map((c) => Math.exp(-this.config.scale * squaredDistance(c, x))));
    }
    return queries.map((x) => this.crossScores(statements, x));
  }

  /** The best entry per query (SERAC's arg max over the memory). */
  decide(statements: readonly string[], vectors: readonly Float32Array[] | undefined, queries: readonly string[]): ScopeDecision[] {
    return this.scores(statements, vectors, queries).map((row) => {
      let index = -1;
      let score = 0;
      row.forEach((g, i) => {
        if (index < 0 || g > score) [index, score] = [i, g];
      });
      return { index, score };
    });
  }

  private crossScores(statements: readonly string[], x: string, batchSize = 32): number[] {
    const { weight, bias } = this.config.head!;
    const C = this.encoder.hiddenSize;
    const out: number[] = [];
    for (let s = 0; s < statements.length; s += batchSize) {
      const pairs = statements.slice(s, s + batchSize).map((c) => encodePair(this.encoder, c, x));
      const batch = padBatch(
        pairs.map((p) => p.ids),
        pairs.map((p) => p.types),
      );
      const hidden = this.encoder.lastHidden(batch);
      const T = batch.ids[0].length;
      pairs.forEach((_, b) => {
        const h = hidden.subarray(b * T * C, b * T * C + C);
        const z = [0, 1].map((k) => bias[k] + dot(weight[k], h));
        // softmax(z)[0] = σ(z0 − z1)
        out.push(1 / (1 + Math.exp(z[1] - z[0])));
      });
    }
    return out;
  }
}

function dot(a: readonly number[], b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += a[i] * b[i];
  return s;
}

/** ‖a − b‖². */
export function squaredDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}
