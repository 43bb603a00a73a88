/**
 * The causal-LM interface every model family implements, and the pieces they share:
 * inputs (token ids, attention mask, positions), the KV cache, and the description of
 * the MLP "rewrite module" that locate-then-edit methods change.
 */
import { keep, noGrad, tidy } from '../engine';
import { ArgumentError, ShapeError } from '../errors';
import { indexSelect, reshape, type Position } from '../ops/layout';
import type { WeightLayout } from '../ops/linalg';
import { Tensor, tensor } from '../tensor';
import type { RgbImage } from '../io/image';
import type { Tokenizer } from '../tokenizer';
import type { Hooks } from './hooks';

/** The normalised view of a Hugging Face config.json. */
export interface ModelConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  normEps: number;
  /** HF activation name (gelu_new, gelu, relu, silu, ...) */
  activation: string;
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  /** config.json as read */
  raw: Record<string, unknown>;
}

/** Per-layer cached keys and values [B, NKV, Tpast, HS]. */
export class KVCache {
  readonly layers: { k: Tensor; v: Tensor }[];
  /** a view reads another cache's layers and neither extends nor frees them */
  private readonly view: boolean;

  /** @param shared internal: the layers a {@link KVCache.readOnly} view reads */
  constructor(shared?: { k: Tensor; v: Tensor }[]) {
    this.layers = shared ?? [];
    this.view = shared !== undefined;
  }

  /** Tokens already cached. */
  get length(): number {
    return this.layers[0]?.k.shape[2] ?? 0;
  }

  /** @internal replaces layer `l`'s tensors, disposing the old ones (a read-only view keeps its own) */
  set(l: number, k: Tensor, v: Tensor): void {
    if (this.view) return;
    const old = this.layers[l];
    this.layers[l] = { k: keep(k), v: keep(v) };
    if (old) {
      old.k.dispose();
      old.v.dispose();
    }
  }

  /**
   * A cache over the same keys and values that forward passes read but never extend: every
   * pass with it attends to the same past (e.g. a prefix shared by the steps of an
   * optimisation). Valid while this cache is; disposing the view frees nothing.
   */
  readOnly(): KVCache {
    return new KVCache(this.layers);
  }

  /** A new cache (owning copies) with the given batch rows of this one, in that order. */
  select(rows: readonly number[]): KVCache {
    const out = new KVCache();
    // `set` keeps the selections; tidy frees the index tensors
    noGrad(() => tidy(() => this.layers.forEach((c, l) => out.set(l, indexSelect(c.k, 0, rows), indexSelect(c.v, 0, rows)))));
    return out;
  }

  dispose(): void {
    if (this.view) return;
    for (const { k, v } of this.layers) {
      k.dispose();
      v.dispose();
    }
    this.layers.length = 0;
  }
}

export interface ForwardOptions {
  /** [B, Tpast+T] 1 = token, 0 = padding. Default all ones. */
  attentionMask?: number[][];
  /** [B, T] absolute positions; default derived from the mask (left padding aware). */
  positionIds?: number[][];
  /** Read or replace activations at hook points. */
  hooks?: Hooks;
  /** Reuse and extend cached keys/values (generation). */
  cache?: KVCache;
  /** Return HF-style hidden states: embeddings, each block's output, the last one after the final norm. */
  outputHiddenStates?: boolean;
  /** Compute logits only at these [B] positions (saves the vocabulary projection elsewhere). */
  logitsAt?: number[];
  /**
   * Vision-language models: one image per batch row (null = a text-only row). The image's tokens
   * precede the row's text; logits, hidden states, `logitsAt` and `logitsFor` stay aligned to the
   * text tokens (a `startAt` hidden state and hooks see the whole sequence, image tokens first).
   * Text-only families reject a non-null image.
   */
  images?: readonly (RgbImage | null)[];
  /**
   * Compute logits only at these (row, token) positions, as [N, V] in this order: the final
   * norm and the vocabulary projection run on those rows alone (where a loss reads them).
   */
  logitsFor?: readonly Position[];
  /**
   * Start at block `layer` from `hidden` [B, T, C], the residual stream entering it (as the
   * `h.<layer>.resid_in` hook or {@link residualAt} reads it), instead of the embeddings:
   * blocks below `layer` and their hooks do not run. `inputIds` still give the batch's shape
   * (and, with the mask and cache, the positions rotary families need). `layer` = numLayers
   * runs only the final norm and the head. Hidden states (`outputHiddenStates`) start there.
   */
  startAt?: { layer: number; hidden: Tensor };
}

export interface ForwardOutput {
  /** [B, T, V] (or [B, 1, V] with `logitsAt`, [N, V] with `logitsFor`) */
  logits: Tensor;
  hiddenStates?: Tensor[];
}

/** Where a locate-then-edit method writes: the MLP output projection of a layer. */
export interface RewriteModule {
  /** checkpoint name of the weight, e.g. `transformer.h.5.mlp.c_proj.weight` */
  weightName: string;
  /** storage layout of that weight in the checkpoint */
  layout: WeightLayout;
  /** hook whose activation is the module's input (the key k) */
  keyHook: string;
  /** hook whose activation is the module's output (the value) */
  valueHook: string;
  /** key dimension (d_ff) and value dimension (d_model) */
  keyDim: number;
  valueDim: number;
}

/** A decoder-only language model. */
export abstract class CausalLM {
  /** Parameters by checkpoint name. */
  readonly params: Map<string, Tensor>;
  tokenizer: Tokenizer | undefined;
  /** The directory the model was loaded from, if any. */
  source: string | undefined;

  constructor(readonly config: ModelConfig, params: Map<string, Tensor>) {
    this.params = params;
    for (const t of params.values()) keep(t);
  }

  /** Runs the model on token ids [B][T] (equal lengths; pad and mask for ragged batches). */
  abstract forward(inputIds: number[][], opts?: ForwardOptions): ForwardOutput;

  /** The MLP output projection of `layer`, which ROME/MEMIT-style editors rewrite. */
  abstract rewriteModule(layer: number): RewriteModule;

  /**
   * The rewrite module of `layer` whose weight is `weightName` (the MLP output projection),
   * with the shared hooks and dimensions; families call this from `rewriteModule`.
   */
  protected mlpOutputModule(layer: number, weightName: string, layout: WeightLayout): RewriteModule {
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.numLayers) {
      throw new ArgumentError(`layer ${layer} is outside [0, ${this.config.numLayers})`);
    }
    return {
      weightName,
      layout,
      keyHook: `h.${layer}.mlp_key`,
      valueHook: `h.${layer}.mlp_out`,
      keyDim: this.config.intermediateSize,
      valueDim: this.config.hiddenSize,
    };
  }

  /**
   * Checks that every weight the family needs is present with the shape config.json implies
   * (families call this from their constructor with their expected shapes).
   * @throws ArgumentError naming a missing weight; ShapeError naming the weight and both shapes
   */
  protected checkParams(expected: ReadonlyMap<string, readonly number[]>): void {
    for (const [name, shape] of expected) {
      const t = this.param(name);
      if (t.shape.join() !== shape.join()) {
        throw new ShapeError(`weight ${name} has shape [${t.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`, name);
      }
    }
  }

  /** Names of the weights saved to the checkpoint (tied weights once). */
  checkpointNames(): string[] {
    return [...this.params.keys()];
  }

  /** A parameter by checkpoint name; throws naming it when absent. */
  param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new ArgumentError(`model has no parameter named ${name}`);
    return t;
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}

/**
 * The first block a forward runs: 0, or `startAt.layer` after checking its hidden state.
 * @internal
 */
export function firstLayer(opts: ForwardOptions, config: ModelConfig, B: number, T: number): number {
  if (!opts.startAt) return 0;
  const { layer, hidden } = opts.startAt;
  if (!Number.isInteger(layer) || layer < 0 || layer > config.numLayers) {
    throw new ArgumentError(`startAt: expected a layer in [0, ${config.numLayers}] but received ${layer}`);
  }
  if (hidden.shape.join() !== [B, T, config.hiddenSize].join()) {
    throw new ShapeError(`startAt: hidden has shape [${hidden.shape}] but the batch needs [${B}, ${T}, ${config.hiddenSize}]`);
  }
  return layer;
}

/**
 * The positions whose logits a forward computes (`logitsAt` or `logitsFor`), or null for
 * every position. @internal
 */
export function logitPositions(opts: ForwardOptions, B: number): Position[] | null {
  if (opts.logitsAt && opts.logitsFor) throw new ArgumentError('forward: pass logitsAt or logitsFor, not both');
  if (opts.logitsAt) {
    if (opts.logitsAt.length !== B) throw new ArgumentError(`logitsAt: expected ${B} positions but received ${opts.logitsAt.length}`);
    return opts.logitsAt.map((token, batch) => ({ batch, token }));
  }
  if (!opts.logitsFor) return null;
  if (opts.logitsFor.length === 0) throw new ArgumentError('logitsFor: expected at least one position');
  return [...opts.logitsFor];
}

/** Logits of the rows `logitPositions` chose [N, V], shaped as the options ask. @internal */
export function shapeLogits(logits: Tensor, opts: ForwardOptions, B: number): Tensor {
  return opts.logitsAt ? reshape(logits, [B, 1, logits.shape[logits.rank - 1]]) : logits;
}

/** Validates a [B][T] batch of ids. @internal */
export function checkIds(ids: number[][], vocab: number): { B: number; T: number } {
  const B = ids.length;
  if (B === 0) throw new ArgumentError('Expected a non-empty batch for inputIds but received []');
  const T = ids[0].length;
  for (const row of ids) {
    if (row.length !== T) throw new ShapeError(`inputIds: rows have different lengths (${T} and ${row.length}); pad them and pass attentionMask`);
    for (const id of row) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new ArgumentError(`inputIds: token id ${id} is outside the vocabulary [0, ${vocab})`);
    }
  }
  return { B, T };
}

/** Throws naming the family when a text-only model is given an image. @internal */
export function checkNoImages(opts: ForwardOptions, modelType: string): void {
  if (opts.images?.some((i) => i !== null && i !== undefined)) {
    throw new ArgumentError(`${modelType} is a text-only model: it cannot take images (load a vision-language model such as model_type "medit-vlm")`);
  }
}

/** int32 tensor from a [B][T] array. @internal */
export function idsTensor(ids: number[][]): Tensor {
  return tensor(Int32Array.from(ids.flat()), [ids.length, ids[0]?.length ?? 0], 'int32');
}

/**
 * Positions for the new tokens: past + index, or, with a mask, the count of real tokens
 * before each one (so left-padded rows start at position 0, as HF's generate does). @internal
 */
export function positionsFor(B: number, T: number, past: number, mask?: number[][]): number[][] {
  return Array.from({ length: B }, (_, b) => {
    if (!mask) return Array.from({ length: T }, (_, t) => past + t);
    // HF generate: position_ids = cumsum(mask) − 1, with padding positions set to 1.
    const row = mask[b];
    if (!row || row.length !== past + T) throw new ShapeError(`attentionMask row ${b} has length ${row?.length}, expected ${past + T}`);
    const out: number[] = [];
    let count = 0;
    for (let j = 0; j < past + T; j++) {
      const pos = row[j] ? count : 1;
      if (row[j]) count++;
      if (j >= past) out.push(pos);
    }
    return out;
  });
}
