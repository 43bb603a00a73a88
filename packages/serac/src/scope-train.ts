/**
 * Training SERAC's scope classifier with the engine (specs/meta-and-memory.md §2.3): the balanced
 * binary cross-entropy of the original supervised recipe,
 *
 *   ℓ(φ) = mean_pos(−log g_φ(z_e, x_in)) + mean_neg(−log(1 − g_φ(z_e, x_out)))   (§0.3, `balanced_bce`)
 *
 * on in-scope queries (the edit, its rephrases) and hard out-of-scope ones ({@link buildScopeTrainingSet}).
 * The encoder here is a small BERT over the base model's tokenizer, initialised from scratch
 * (BERT's N(0, 0.02) init) because no pretrained encoder can be downloaded; hence a larger
 * learning rate than SERAC's 1e-5 for a pretrained DistilBERT. scope-lm.ts trains a copy of
 * the base model's own language model instead, with the same pairs, loss and schedule
 * ({@link trainScopePairs}).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  AdamW,
  add,
  addScalar,
  ArgumentError,
  Bert,
  bertConfig,
  cast,
  clone,
  keep,
  CancelledError,
  type CausalLM,
  crossEntropy,
  exp,
  grad,
  indexSelect,
  linear,
  log,
  mean,
  mul,
  mulScalar,
  neg,
  ones,
  randn,
  reshape,
  saveModel,
  slice,
  square,
  sub,
  sum,
  type Tensor,
  tensor,
  tidy,
  Tokenizer,
  zeros,
  writeFileAtomic,
} from '@medit/core';

import { type EncoderBatch, EngineEncoder, encodePair, encodeSingle, padBatch, type Pooling, type TextEncoder } from './encoder';
import { editStatement, makeRng, presentQuery, type ScopeTrainingEdit } from './examples';
import type { ScopeConfig } from './scope';
import type { TrainProgress } from './train-progress';
import { maybePerturbWords, type WordNoise } from './word-noise';

/** Shape and training settings of a scope classifier. */
export interface ScopeTrainOptions {
  kind: 'embedding' | 'cross';
  /**
   * Start from this encoder's weights instead of a random init (SERAC starts from a pretrained
   * DistilBERT; here e.g. a trained embedding classifier's encoder for the cross-encoder). Its
   * shape options override the ones below; the encoder is not modified (a copy is trained).
   */
  init?: Bert;
  /**
   * Word-embedding table [V, hiddenSize] to start from (e.g. the base LM's token embeddings: a
   * word-level vocabulary has words that the classifier's training pairs never contain — the
   * eval split's subject names — and a random row would leave them meaningless).
   */
  wordEmbeddings?: Tensor;
  /** `cls` (SERAC, the BERT default), `mean` or `last` (the LM default); the cross-encoder always reads the first token */
  pooling?: Pooling;
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  intermediateSize?: number;
  maxPositions?: number;
  /** κ of the embedding variant (default 1, SERAC's fixed scale) */
  scale?: number;
  steps?: number;
  /** edits per step; each contributes `positives` in-scope and `negatives` out-of-scope pairs */
  batchEdits?: number;
  positives?: number;
  /**
   * Share of the positives drawn from the edit's rephrases (context sentence + another wording)
   * rather than from all in-scope queries (default 0: uniform over in-scope queries). SERAC's
   * positives are the equivalence neighbourhood; weighting it raises rephrase recall.
   */
  rephraseShare?: number;
  negatives?: number;
  /**
   * EDA word noise on the training queries, in and out of scope alike ({@link perturbWords};
   * default none): the classifier learns the words that carry a question's content instead of the
   * filler of the few phrasings it trains on
   */
  queryNoise?: WordNoise;
  /** default 1e-3 for a BERT from scratch, 1e-4 for an LM ({@link trainLmScopeClassifier}) */
  lr?: number;
  weightDecay?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
}

/** A BERT encoder initialised as HF's `BertPreTrainedModel._init_weights` does (normal(0, 0.02), LayerNorm 1/0, zero biases). */
export function createBertEncoder(tokenizer: Tokenizer, o: { hiddenSize: number; layers: number; heads: number; intermediateSize: number; maxPositions: number; seed: number }): Bert {
  const raw: Record<string, unknown> = {
    model_type: 'bert',
    architectures: ['BertModel'],
    vocab_size: tokenizer.vocabSize,
    hidden_size: o.hiddenSize,
    num_hidden_layers: o.layers,
    num_attention_heads: o.heads,
    intermediate_size: o.intermediateSize,
    max_position_embeddings: o.maxPositions,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    torch_dtype: 'float32',
  };
  const config = bertConfig(raw);
  const C = o.hiddenSize;
  const F = o.intermediateSize;
  let seed = o.seed;
  const params = new Map<string, Tensor>();
  const normal = (name: string, shape: number[]) => params.set(name, randn(shape, { std: 0.02, seed: seed++ }));
  const dense = (name: string, out: number, inp: number) => {
    normal(`${name}.weight`, [out, inp]);
    params.set(`${name}.bias`, zeros([out]));
  };
  const norm = (name: string) => {
    params.set(`${name}.weight`, ones([C]));
    params.set(`${name}.bias`, zeros([C]));
  };
  normal('embeddings.word_embeddings.weight', [tokenizer.vocabSize, C]);
  normal('embeddings.position_embeddings.weight', [o.maxPositions, C]);
  normal('embeddings.token_type_embeddings.weight', [2, C]);
  norm('embeddings.LayerNorm');
  for (let l = 0; l < o.layers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const n of ['query', 'key', 'value']) dense(`${p}attention.self.${n}`, C, C);
    dense(`${p}attention.output.dense`, C, C);
    norm(`${p}attention.output.LayerNorm`);
    dense(`${p}intermediate.dense`, F, C);
    dense(`${p}output.dense`, C, F);
    norm(`${p}output.LayerNorm`);
  }
  const bert = new Bert(config, params);
  bert.tokenizer = tokenizer;
  return bert;
}

/** Float32 copies of a model's weights, to train while the source stays as it is. */
export function float32Copy(src: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  // cast returns its input when the dtype already matches: clone so the source can be freed
  for (const [name, t] of src) params.set(name, t.dtype === 'float32' ? clone(t) : cast(t, 'float32'));
  return params;
}

/** A trainable copy of a BERT (float32 weights). */
function copyBert(src: Bert, tokenizer: Tokenizer): Bert {
  const bert = new Bert(src.config, float32Copy(src.params));
  bert.tokenizer = tokenizer;
  return bert;
}

/** An encoder whose hidden states [B, T, C] the loss can differentiate ({@link EngineEncoder}, {@link LmEncoder}). */
export interface TrainableEncoder extends TextEncoder {
  hidden(batch: EncoderBatch): Tensor;
}

/** Differentiable pooled sentence vectors [N, C] of a padded batch. */
function pooled(enc: TrainableEncoder, batch: EncoderBatch, pooling: Pooling): Tensor {
  const h = enc.hidden(batch);
  const [N, T, C] = h.shape;
  if (pooling === 'cls') return reshape(slice(h, 1, 0, 1), [N, C]);
  if (pooling === 'last') return indexSelect(reshape(h, [N * T, C]), 0, batch.mask.map((m, b) => b * T + m.lastIndexOf(1)));
  const m = tensor(Float32Array.from(batch.mask.flat()), [N, T, 1]);
  const counts = tensor(Float32Array.from(batch.mask.map((r) => 1 / Math.max(r.reduce((a, b) => a + b, 0), 1))), [N, 1]);
  return mul(sum(mul(h, m), 1), counts);
}

/** Balanced BCE from −log g of the positives and −log(1 − g) of the negatives (both [n]). */
function balancedBce(nlogPos: Tensor, nlogNeg: Tensor): Tensor {
  return add(mean(nlogPos), mean(nlogNeg));
}

/** One step's pairs: context statements and queries with labels. */
interface PairBatch {
  contexts: string[];
  queries: string[];
  labels: boolean[];
}

function sampleBatch(
  edits: readonly ScopeTrainingEdit[],
  prefixes: readonly string[],
  o: Required<Pick<ScopeTrainOptions, 'batchEdits' | 'positives' | 'rephraseShare' | 'negatives'>> & Pick<ScopeTrainOptions, 'queryNoise'>,
  rng: ReturnType<typeof makeRng>,
): PairBatch {
  const out: PairBatch = { contexts: [], queries: [], labels: [] };
  for (let k = 0; k < o.batchEdits; k++) {
    const e = rng.pick(edits);
    const c = editStatement(e.request);
    for (let i = 0; i < o.positives; i++) {
      out.contexts.push(c);
      // no draw when the share is 0, so that runs without it keep their random stream
      const pool = o.rephraseShare > 0 && e.rephrases.length > 0 && rng.next() < o.rephraseShare ? e.rephrases : e.inScope;
      out.queries.push(presentQuery(maybePerturbWords(rng.pick(pool), o.queryNoise, rng), e.tails, prefixes, rng));
      out.labels.push(true);
    }
    // Negatives cycle through the kinds so every step sees near misses of each sort.
    const kinds = ['locality', 'other-subject', 'same-subject', 'random'] as const;
    for (let i = 0; i < o.negatives; i++) {
      const pool = e.outOfScope.filter((q) => q.kind === kinds[i % kinds.length]);
      const q = pool.length > 0 ? rng.pick(pool) : rng.pick(e.outOfScope);
      out.contexts.push(c);
      out.queries.push(presentQuery(maybePerturbWords(q.query, o.queryNoise, rng), e.tails, prefixes, rng));
      out.labels.push(false);
    }
  }
  return out;
}

/** The classifier's loss on a pair batch (embedding: squared-distance g; cross: 2-way head). */
function pairLoss(enc: TrainableEncoder, head: { weight: Tensor; bias: Tensor } | null, batch: PairBatch, kind: 'embedding' | 'cross', pooling: Pooling, scale: number): Tensor {
  const pos = batch.labels.flatMap((l, i) => (l ? [i] : []));
  const negIdx = batch.labels.flatMap((l, i) => (l ? [] : [i]));
  if (kind === 'embedding') {
    const uniq = [...new Set(batch.contexts)];
    const ctx = pooled(enc, padBatch(uniq.map((t) => encodeSingle(enc, t))), pooling);
    const qs = pooled(enc, padBatch(batch.queries.map((t) => encodeSingle(enc, t))), pooling);
    const cFor = indexSelect(ctx, 0, batch.contexts.map((c) => uniq.indexOf(c)));
    // −log g = κ‖e(c) − e(x)‖²
    const nlog = mulScalar(sum(square(sub(cFor, qs)), 1), scale);
    const nlogPos = indexSelect(nlog, 0, pos);
    // −log(1 − g) = −log(1 − exp(−κd²)); 1e-6 keeps it finite when a negative sits on its context
    const nlogNeg = neg(log(addScalar(neg(exp(neg(indexSelect(nlog, 0, negIdx)))), 1 + 1e-6)));
    return balancedBce(nlogPos, nlogNeg);
  }
  const pairs = batch.contexts.map((c, i) => encodePair(enc, c, batch.queries[i]));
  const b = padBatch(
    pairs.map((p) => p.ids),
    pairs.map((p) => p.types),
  );
  const logits = linear(pooled(enc, b, 'cls'), head!.weight, head!.bias);
  // class 0 = in scope (SERAC's cross-attention classifier reads softmax(logits)[0])
  const lp = crossEntropy(indexSelect(logits, 0, pos), pos.map(() => 0));
  const ln = crossEntropy(indexSelect(logits, 0, negIdx), negIdx.map(() => 1));
  return add(lp, ln);
}

/** The settings of a training run that every encoder shares, with their defaults (`lr`: the encoder's). */
export function scopeRunSettings(opts: Omit<ScopeTrainOptions, 'kind'>, lr: number) {
  return {
    scale: opts.scale ?? 1,
    steps: opts.steps ?? 1500,
    batchEdits: opts.batchEdits ?? 8,
    positives: opts.positives ?? 2,
    rephraseShare: opts.rephraseShare ?? 0,
    negatives: opts.negatives ?? 4,
    queryNoise: opts.queryNoise,
    lr: opts.lr ?? lr,
    weightDecay: opts.weightDecay ?? 0.01,
    seed: opts.seed ?? 0,
  };
}

/** What {@link trainScopePairs} trains: the encoder, its weights, and the cross-encoder's head. */
export interface ScopeTrainee {
  encoder: TrainableEncoder;
  params: Iterable<Tensor>;
  head: { weight: Tensor; bias: Tensor } | null;
  kind: 'embedding' | 'cross';
  pooling: Pooling;
}

/**
 * SERAC's supervised recipe on a classifier's weights: one pair batch a step ({@link sampleBatch}),
 * the balanced BCE, AdamW with a linear warm-up over the first tenth of the steps (at most 100)
 * and a linear decay to a tenth of `lr`. The weights train in place.
 * @param name - the caller, for the cancellation error
 * @returns the per-step losses
 * @throws CancelledError when `signal` aborts
 */
export function trainScopePairs(
  t: ScopeTrainee,
  edits: readonly ScopeTrainingEdit[],
  prefixes: readonly string[],
  o: ReturnType<typeof scopeRunSettings>,
  opts: Pick<ScopeTrainOptions, 'signal' | 'onProgress'>,
  name: string,
): { step: number; loss: number }[] {
  const params = [...t.params, ...(t.head ? [t.head.weight, t.head.bias] : [])];
  for (const p of params) p.requiresGrad = true;
  const opt = new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  const rng = makeRng(o.seed);
  const history: { step: number; loss: number }[] = [];
  const warmup = Math.min(100, Math.floor(o.steps / 10));
  try {
    for (let step = 0; step < o.steps; step++) {
      if (opts.signal?.aborted) throw new CancelledError(`${name}: aborted`);
      const lr = step < warmup ? (o.lr * (step + 1)) / warmup : o.lr * (1 - (0.9 * (step - warmup)) / Math.max(o.steps - warmup, 1));
      const batch = sampleBatch(edits, prefixes, o, rng);
      const loss = tidy(() => {
        const l = pairLoss(t.encoder, t.head, batch, t.kind, t.pooling, o.scale);
        opt.update(grad(l, params), lr);
        return l.item();
      });
      history.push({ step, loss });
      opts.onProgress?.({ stage: `scope-${t.kind}`, done: step + 1, total: o.steps, info: { loss, lr } });
    }
  } finally {
    for (const p of params) p.requiresGrad = false;
    opt.dispose();
  }
  return history;
}

/** A trained scope classifier: its BERT and config. */
export interface TrainedScope {
  bert: Bert;
  config: ScopeConfig;
  history: { step: number; loss: number }[];
}

/**
 * Trains a scope classifier on training edits.
 * @param prefixes - context sentences queries may start with ({@link contextPrefixes})
 * @throws CancelledError when `signal` aborts
 */
export function trainScopeClassifier(tokenizer: Tokenizer, edits: readonly ScopeTrainingEdit[], prefixes: readonly string[], opts: ScopeTrainOptions): TrainedScope {
  if (edits.length === 0) throw new ArgumentError('trainScopeClassifier: no training edits');
  // Routing reads [CLS] (position 0 of "[CLS] text [SEP]"); without one, training would pool the
  // text's first word instead and the saved classifier would see other inputs than it learned on.
  if (tokenizer.clsTokenId === undefined) throw new ArgumentError('trainScopeClassifier: the tokenizer declares no [CLS] token; train with classifierTokenizer(baseDir, { cls, sep })');
  const o = {
    ...scopeRunSettings(opts, 1e-3),
    pooling: opts.kind === 'cross' ? ('cls' as const) : (opts.pooling ?? 'cls'),
    hiddenSize: opts.hiddenSize ?? 128,
    layers: opts.layers ?? 2,
    heads: opts.heads ?? 4,
    intermediateSize: opts.intermediateSize ?? 512,
    maxPositions: opts.maxPositions ?? 128,
  };
  if (opts.wordEmbeddings && !opts.init) {
    const [V, C] = opts.wordEmbeddings.shape;
    if (V !== tokenizer.vocabSize) throw new ArgumentError(`trainScopeClassifier: wordEmbeddings has ${V} rows for a vocabulary of ${tokenizer.vocabSize}`);
    o.hiddenSize = C;
    o.intermediateSize = opts.intermediateSize ?? 4 * C;
  }
  const bert = opts.init ? copyBert(opts.init, tokenizer) : createBertEncoder(tokenizer, { ...o, seed: o.seed * 1000 + 1 });
  if (opts.wordEmbeddings && !opts.init) {
    const name = 'embeddings.word_embeddings.weight';
    bert.params.get(name)!.dispose();
    bert.params.set(name, keep(clone(cast(opts.wordEmbeddings, 'float32'))));
  }
  o.hiddenSize = bert.config.hiddenSize;
  const head = opts.kind === 'cross' ? { weight: randn([2, o.hiddenSize], { std: 0.02, seed: o.seed * 1000 }), bias: zeros([2]) } : null;
  const history = trainScopePairs({ encoder: new EngineEncoder(bert, o.pooling), params: bert.params.values(), head, kind: opts.kind, pooling: o.pooling }, edits, prefixes, o, opts, 'trainScopeClassifier');
  const config: ScopeConfig = { kind: opts.kind, pooling: o.pooling, scale: o.scale };
  if (head) {
    const w = head.weight.data() as Float32Array;
    config.head = { weight: [Array.from(w.subarray(0, o.hiddenSize)), Array.from(w.subarray(o.hiddenSize))], bias: Array.from(head.bias.data() as Float32Array) };
    head.weight.dispose();
    head.bias.dispose();
  }
  return { bert, config, history };
}

/** `tokenizer_config.json` of a classifier directory: the base tokenizer's, with the encoder's [CLS]/[SEP]. */
function classifierTokenizerConfig(tokenizerDir: string, specials: { cls: string; sep: string }, maxLength?: number): Record<string, unknown> {
  const file = path.join(tokenizerDir, 'tokenizer_config.json');
  const base = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  return { ...base, cls_token: specials.cls, sep_token: specials.sep, pad_token: specials.sep, ...(maxLength === undefined ? {} : { model_max_length: maxLength }) };
}

/**
 * The base model's tokenizer with `specials` as [CLS]/[SEP] — the tokenizer a saved classifier
 * directory declares ({@link saveScopeClassifier}), so that training encodes `[CLS] text [SEP]`
 * exactly as routing later does. Train classifiers with this tokenizer, not the LM's own.
 * @param tokenizerDir - directory holding the base model's tokenizer.json
 */
export function classifierTokenizer(tokenizerDir: string, specials: { cls: string; sep: string }): Tokenizer {
  const file = path.join(tokenizerDir, 'tokenizer.json');
  return Tokenizer.fromJSON(JSON.parse(fs.readFileSync(file, 'utf8')), { source: file, config: classifierTokenizerConfig(tokenizerDir, specials) });
}

/**
 * Writes a classifier directory: the BERT as a Hugging Face directory (config.json,
 * model.safetensors, the tokenizer files from `tokenizerDir`, and a tokenizer_config.json
 * declaring `clsToken`/`sepToken`) plus `scope.json`. Atomic (temp + rename).
 */
export async function saveScopeClassifier(scope: { bert: Bert; config: ScopeConfig }, dir: string, tokenizerDir: string, specials: { cls: string; sep: string }): Promise<void> {
  const staging = `${dir}.side-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    for (const f of ['tokenizer.json', 'vocab.json', 'special_tokens_map.json']) if (fs.existsSync(path.join(tokenizerDir, f))) fs.copyFileSync(path.join(tokenizerDir, f), path.join(staging, f));
    fs.writeFileSync(path.join(staging, 'tokenizer_config.json'), JSON.stringify(classifierTokenizerConfig(tokenizerDir, specials, scope.bert.config.maxPositions), null, 2) + '\n');
    // saveModel only reads params, config.raw, checkpointNames and source, which Bert has too.
    await saveModel(scope.bert as unknown as CausalLM, dir, { sideFilesFrom: staging, metadata: { medit_trained: `serac-scope-${scope.config.kind}` } });
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  writeFileAtomic(path.join(dir, 'scope.json'), JSON.stringify(scope.config) + '\n');
}
