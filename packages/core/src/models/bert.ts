/**
 * BERT (Devlin et al. 2019), matching HF transformers' (v4.45) BertModel /
 * BertForMaskedLM in eval mode with eager attention: word + position (absolute) +
 * token-type embeddings, LayerNorm; post-norm encoder blocks with bidirectional
 * attention over a key-padding mask; and the heads the checkpoint has:
 * - MLM head (`cls.predictions`): dense → activation → LayerNorm → decoder tied to the
 *   word embeddings (or `cls.predictions.decoder.weight` when untied) + bias;
 * - pooler (`pooler.dense`): tanh(dense(h[:, 0])) — the [CLS] summary.
 *
 * BERT is not a causal LM, so it is its own class with its own loader ({@link loadEncoder});
 * `loadModel` on a BERT directory names this loader. Hook points are those of the causal
 * families, placed in the post-norm block:
 * resid_in → attention → `attn_out` (self-output dense, before add & norm) →
 * `mlp_in` (= the attention sub-layer's normed output) → intermediate → `mlp_key` (after
 * the activation; input of `output.dense`) → `mlp_out` (its output, before add & norm) →
 * `resid_out` (the block's normed output).
 * Not supported: relative position embeddings, cross-attention, the NSP head.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, ShapeError } from '../errors';
import { readCheckpoint } from '../io/checkpoint';
import { add, tanh } from '../ops/elementwise';
import { cast, permute, reshape, slice } from '../ops/layout';
import { linear } from '../ops/linalg';
import { attention, embedding, layerNorm } from '../ops/nn';
import { Tensor, tensor, wrapHandle } from '../tensor';
import { Tokenizer } from '../tokenizer';
import { keep } from '../engine';
import { activationFn } from './activations';
import { runHook, type Hooks } from './hooks';
import { configNumber, configTokenId } from './llama';
import { checkIds, idsTensor, type ModelConfig } from './model';
import { readConfig, type LoadModelOptions } from './registry';

/**
 * Reads the fields of a BERT config.json (HF BertConfig defaults for absent optional
 * fields: gelu, layer_norm_eps 1e-12, 512 positions, 2 token types).
 * @throws ArgumentError for a missing field, another model_type, or a non-absolute
 *   position_embedding_type.
 */
export function bertConfig(raw: Record<string, unknown>): ModelConfig {
  if (raw.model_type !== 'bert') throw new ArgumentError(`bert: unexpected model_type ${JSON.stringify(raw.model_type)} (expected "bert")`);
  const pe = raw.position_embedding_type ?? 'absolute';
  if (pe !== 'absolute') throw new ArgumentError(`bert: position_embedding_type ${JSON.stringify(pe)} is not supported (only "absolute")`);
  const num = (k: string, d?: number) => configNumber(raw, k, d);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  if (!Number.isInteger(hidden / heads)) throw new ArgumentError(`config.json: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}`);
  return {
    modelType: 'bert',
    vocabSize: num('vocab_size'),
    hiddenSize: hidden,
    numLayers: num('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: heads,
    headDim: hidden / heads,
    intermediateSize: num('intermediate_size'),
    maxPositions: num('max_position_embeddings', 512),
    normEps: num('layer_norm_eps', 1e-12),
    activation: typeof raw.hidden_act === 'string' ? raw.hidden_act : 'gelu',
    tieWordEmbeddings: raw.tie_word_embeddings !== false,
    bosTokenId: configTokenId(raw.bos_token_id),
    eosTokenId: configTokenId(raw.eos_token_id),
    raw,
  };
}

export interface BertForwardOptions {
  /** [B, T] 1 = token, 0 = padding (never attended to). Default all ones. */
  attentionMask?: number[][];
  /** [B, T] segment ids < type_vocab_size. Default all 0. */
  tokenTypeIds?: number[][];
  /** Read or replace activations at hook points (see the file comment for their places). */
  hooks?: Hooks;
  /** Return HF-style hidden states: the embeddings' output, then each block's. */
  outputHiddenStates?: boolean;
}

export interface BertOutput {
  /** [B, T, C] the last block's output */
  lastHiddenState: Tensor;
  /** [B, T, V] MLM logits, when the checkpoint has the MLM head */
  logits?: Tensor;
  /** [B, C] tanh(dense(h[:, 0])), when the checkpoint has the pooler */
  pooled?: Tensor;
  hiddenStates?: Tensor[];
}

/** A BERT encoder with the heads its checkpoint has (MLM head, pooler). */
export class Bert {
  /** Parameters by checkpoint name. */
  readonly params: Map<string, Tensor>;
  tokenizer: Tokenizer | undefined;
  /** The directory the model was loaded from, if any. */
  source: string | undefined;
  /** Prefix of the encoder's weights ("bert." for BertFor* checkpoints, "" for BertModel). */
  readonly prefix: string;
  /** Whether the checkpoint has the MLM head (`cls.predictions`). */
  readonly hasMlmHead: boolean;
  /** Whether the checkpoint has the pooler. */
  readonly hasPooler: boolean;
  private readonly act: (x: Tensor) => Tensor;

  /** @throws ArgumentError naming a missing weight. */
  constructor(readonly config: ModelConfig, params: Map<string, Tensor>) {
    this.params = params;
    for (const t of params.values()) keep(t);
    this.prefix = params.has('bert.embeddings.word_embeddings.weight') ? 'bert.' : '';
    this.hasMlmHead = params.has('cls.predictions.transform.dense.weight');
    this.hasPooler = params.has(`${this.prefix}pooler.dense.weight`);
    this.act = activationFn(config.activation);
    for (const name of this.requiredNames()) this.param(name);
  }

  private requiredNames(): string[] {
    const p = this.prefix;
    const names: string[] = [];
    const dense = (n: string) => names.push(`${n}.weight`, `${n}.bias`);
    dense(`${p}embeddings.LayerNorm`);
    names.push(`${p}embeddings.word_embeddings.weight`, `${p}embeddings.position_embeddings.weight`, `${p}embeddings.token_type_embeddings.weight`);
    for (let l = 0; l < this.config.numLayers; l++) {
      const pre = `${p}encoder.layer.${l}.`;
      for (const n of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'attention.output.LayerNorm', 'intermediate.dense', 'output.dense', 'output.LayerNorm']) dense(pre + n);
    }
    if (this.hasPooler) dense(`${p}pooler.dense`);
    if (this.hasMlmHead) {
      dense('cls.predictions.transform.dense');
      dense('cls.predictions.transform.LayerNorm');
      if (!this.config.tieWordEmbeddings) names.push('cls.predictions.decoder.weight');
      if (!this.params.has('cls.predictions.decoder.bias')) names.push('cls.predictions.bias');
    }
    return names;
  }

  /** A parameter by checkpoint name; throws naming it when absent. */
  param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new ArgumentError(`model has no parameter named ${name}`);
    return t;
  }

  private w(name: string): Tensor {
    return this.param(this.prefix + name);
  }

  /** Names of the weights saved to the checkpoint. */
  checkpointNames(): string[] {
    return [...this.params.keys()];
  }

  /**
   * Encodes token ids [B][T] (equal lengths; pad and pass `attentionMask` for ragged rows).
   * @throws ArgumentError for ids outside the vocabulary, token types ≥ type_vocab_size or T > max_position_embeddings;
   *   ShapeError for a mask or token-type array of another shape.
   * @example const { logits, pooled } = bert.forward([[101, 7592, 102]]);
   */
  forward(inputIds: number[][], opts: BertForwardOptions = {}): BertOutput {
    const cfg = this.config;
    const { B, T } = checkIds(inputIds, cfg.vocabSize);
    if (T > cfg.maxPositions) throw new ArgumentError(`bert: ${T} tokens exceed max_position_embeddings (${cfg.maxPositions})`);
    const typeVocab = this.w('embeddings.token_type_embeddings.weight').shape[0];
    const rows = (arr: number[][] | undefined, what: string): void => {
      if (arr && (arr.length !== B || arr.some((r) => r.length !== T))) throw new ShapeError(`bert: ${what} must be [${B}][${T}] like inputIds`);
    };
    rows(opts.attentionMask, 'attentionMask');
    rows(opts.tokenTypeIds, 'tokenTypeIds');
    const types = opts.tokenTypeIds ?? inputIds.map((r) => r.map(() => 0));
    if (types.flat().some((t) => !Number.isInteger(t) || t < 0 || t >= typeVocab)) throw new ArgumentError(`bert: tokenTypeIds must be integers in [0, ${typeVocab})`);
    const mask = opts.attentionMask ? tensor(Int32Array.from(opts.attentionMask.flat()), [B, T], 'int32') : null;
    const { numHeads: NH, headDim: HS, hiddenSize: C, normEps: eps } = cfg;
    // HF uses positions 0..T−1 for every row, padded or not
    const positions = inputIds.map(() => Array.from({ length: T }, (_, t) => t));
    let x = add(
      add(embedding(idsTensor(inputIds), this.w('embeddings.word_embeddings.weight')), embedding(idsTensor(types), this.w('embeddings.token_type_embeddings.weight'))),
      embedding(idsTensor(positions), this.w('embeddings.position_embeddings.weight')),
    );
    x = layerNorm(x, this.w('embeddings.LayerNorm.weight'), this.w('embeddings.LayerNorm.bias'), eps);
    const hidden: Tensor[] = [];
    const dense = (h: Tensor, name: string) => linear(h, this.param(`${name}.weight`), this.param(`${name}.bias`));
    const norm = (h: Tensor, name: string) => layerNorm(h, this.param(`${name}.weight`), this.param(`${name}.bias`), eps);
    for (let l = 0; l < cfg.numLayers; l++) {
      if (opts.outputHiddenStates) hidden.push(x);
      x = runHook(opts.hooks, l, 'resid_in', x);
      const pre = `${this.prefix}encoder.layer.${l}.`;
      const heads = (name: string) => permute(reshape(dense(x, pre + name), [B, T, NH, HS]), [0, 2, 1, 3]);
      const att = attention(heads('attention.self.query'), heads('attention.self.key'), heads('attention.self.value'), { causal: false, keyMask: mask, scale: 1 / Math.sqrt(HS) });
      let a = dense(reshape(permute(att, [0, 2, 1, 3]), [B, T, C]), pre + 'attention.output.dense');
      a = runHook(opts.hooks, l, 'attn_out', a);
      let m = norm(add(a, x), pre + 'attention.output.LayerNorm');
      m = runHook(opts.hooks, l, 'mlp_in', m);
      let key = this.act(dense(m, pre + 'intermediate.dense'));
      key = runHook(opts.hooks, l, 'mlp_key', key);
      let out = dense(key, pre + 'output.dense');
      out = runHook(opts.hooks, l, 'mlp_out', out);
      x = norm(add(out, m), pre + 'output.LayerNorm');
      x = runHook(opts.hooks, l, 'resid_out', x);
    }
    if (opts.outputHiddenStates) hidden.push(x);
    const result: BertOutput = { lastHiddenState: x, hiddenStates: opts.outputHiddenStates ? hidden : undefined };
    if (this.hasPooler) {
      result.pooled = tanh(dense(reshape(slice(x, 1, 0, 1), [B, C]), `${this.prefix}pooler.dense`));
    }
    if (this.hasMlmHead) {
      const h = norm(this.act(dense(x, 'cls.predictions.transform.dense')), 'cls.predictions.transform.LayerNorm');
      const decoder = cfg.tieWordEmbeddings ? this.w('embeddings.word_embeddings.weight') : this.param('cls.predictions.decoder.weight');
      const bias = this.params.get('cls.predictions.bias') ?? this.param('cls.predictions.decoder.bias');
      result.logits = linear(h, decoder, bias);
    }
    return result;
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}

/**
 * Loads a Hugging Face BERT directory (config.json with model_type "bert",
 * model.safetensors or a sharded index, tokenizer.json when present). bf16/f16 weights
 * are converted to f32 by the checkpoint reader.
 * @throws IOError for a missing or malformed file; ArgumentError for another model_type
 *   or a missing tensor (named).
 * @example const bert = await loadEncoder('test-fixtures/parity/bert');
 */
export async function loadEncoder(dir: string, opts: LoadModelOptions = {}): Promise<Bert> {
  const raw = readConfig(dir);
  if (raw.model_type !== 'bert') throw new ArgumentError(`${path.join(dir, 'config.json')}: loadEncoder supports model_type "bert" but received ${JSON.stringify(raw.model_type)}; load causal LMs with loadModel`);
  const config = bertConfig(raw);
  const ckpt = await readCheckpoint(dir);
  const dtype = opts.dtype ?? 'float32';
  const params = new Map<string, Tensor>();
  for (const [name, handle] of ckpt.tensors) {
    const t = wrapHandle(handle);
    if (t.dtype !== dtype && (t.dtype === 'float32' || t.dtype === 'float64')) {
      params.set(name, cast(t, dtype));
      t.dispose();
    } else {
      params.set(name, t);
    }
  }
  let model: Bert;
  try {
    model = new Bert(config, params);
  } catch (err) {
    for (const t of params.values()) t.dispose();
    if (err instanceof ArgumentError && /no parameter named/.test(err.message)) throw new ArgumentError(`${dir}: checkpoint is missing a tensor (${err.message})`);
    throw err;
  }
  model.source = dir;
  const tokFile = path.join(dir, 'tokenizer.json');
  if (opts.tokenizer !== false && fs.existsSync(tokFile)) model.tokenizer = Tokenizer.fromFile(tokFile);
  return model;
}
