/**
 * The vision side of a BLIP-2-style vision-language model (Li et al., ICML 2023), written over
 * core's ops with BLIP-2's checkpoint names (HF transformers `Blip2VisionModel`,
 * `Blip2QFormerModel`):
 *
 * - a ViT image encoder (Dosovitskiy et al., ICLR 2021): the image is cut into p×p patches, each
 *   flattened and projected by a linear layer (stored as the Conv2d weight [D, 3, p, p] it is
 *   equivalent to), a class token and learned positions are added, then pre-norm transformer
 *   blocks (bidirectional attention, GELU MLP) and a final LayerNorm;
 * - a Q-Former: learned query tokens go through post-norm (BERT-style) blocks of self-attention,
 *   cross-attention to the image features, and a feed-forward network; their outputs are the
 *   image's tokens (the VLM projects them into the language model).
 *
 * Differences from BLIP-2, deliberate for a small model: the ViT's fused qkv projection has one
 * bias vector (BLIP-2: `q_bias` and `v_bias`, no key bias); every Q-Former layer cross-attends
 * (`cross_attention_frequency` 1; BLIP-2 uses 2); the Q-Former has no text branch. Not done: dropout
 * (editing runs in eval mode), image resizing (images must already have `image_size`).
 *
 * Hook points (see hooks.ts): ViT blocks `vision.h.<l>.<point>`, Q-Former blocks
 * `qformer.h.<l>.<point>` with `mlp_in` (FFN input), `mlp_key` (after the activation, the input of
 * `fc2` / `output_query.dense`), `mlp_out` (FFN output before the residual) and `resid_out`.
 */
import type { DType } from '@medit/native';

import { ArgumentError, ShapeError } from '../errors';
import { checkRgbImage, type RgbImage } from '../io/image';
import { add, broadcastTo, mean } from '../ops/elementwise';
import { concat, permute, reshape, slice } from '../ops/layout';
import { linear } from '../ops/linalg';
import { attention, layerNorm } from '../ops/nn';
import { type Tensor, full, randn, tensor } from '../tensor';
import { activationFn } from './activations';
import { type Hooks, runHook } from './hooks';

/** BLIP-2's `vision_config`, normalised. */
export interface VisionConfig {
  imageSize: number;
  patchSize: number;
  numChannels: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  normEps: number;
  activation: string;
  /** per-channel normalisation of pixel values in [0, 1] (the image processor's image_mean / image_std) */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
}

/** BLIP-2's `qformer_config` (query branch only), normalised. */
export interface QFormerConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  normEps: number;
  activation: string;
  /** width of the image features it cross-attends to */
  encoderHiddenSize: number;
  numQueryTokens: number;
}

type Raw = Record<string, unknown>;

function reader(raw: Raw, where: string) {
  return {
    num(k: string, d?: number): number {
      const v = raw[k] ?? d;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`config.json: expected a number for ${where}.${k} but received ${JSON.stringify(v)}`);
      return v;
    },
    int(k: string, d?: number): number {
      const v = this.num(k, d);
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`config.json: expected a positive integer for ${where}.${k} but received ${v}`);
      return v;
    },
    triple(k: string, d: [number, number, number]): [number, number, number] {
      const v = raw[k] ?? d;
      if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number')) throw new ArgumentError(`config.json: expected three numbers for ${where}.${k} but received ${JSON.stringify(v)}`);
      return v as [number, number, number];
    },
    str(k: string, d: string): string {
      const v = raw[k] ?? d;
      if (typeof v !== 'string') throw new ArgumentError(`config.json: expected a string for ${where}.${k} but received ${JSON.stringify(v)}`);
      return v;
    },
  };
}

/** Reads `vision_config`. @throws ArgumentError naming the field */
export function visionConfig(raw: Raw): VisionConfig {
  const r = reader(raw, 'vision_config');
  const cfg: VisionConfig = {
    imageSize: r.int('image_size'),
    patchSize: r.int('patch_size'),
    numChannels: r.int('num_channels', 3),
    hiddenSize: r.int('hidden_size'),
    intermediateSize: r.int('intermediate_size'),
    numLayers: r.int('num_hidden_layers'),
    numHeads: r.int('num_attention_heads'),
    normEps: r.num('layer_norm_eps', 1e-5),
    activation: r.str('hidden_act', 'gelu'),
    imageMean: r.triple('image_mean', [0.5, 0.5, 0.5]),
    imageStd: r.triple('image_std', [0.5, 0.5, 0.5]),
  };
  if (cfg.numChannels !== 3) throw new ArgumentError(`config.json: vision_config.num_channels must be 3 (RGB) but is ${cfg.numChannels}`);
  if (cfg.imageSize % cfg.patchSize !== 0) throw new ArgumentError(`config.json: vision_config.image_size ${cfg.imageSize} is not a multiple of patch_size ${cfg.patchSize}`);
  if (cfg.hiddenSize % cfg.numHeads !== 0) throw new ArgumentError(`config.json: vision_config.hidden_size ${cfg.hiddenSize} is not a multiple of num_attention_heads ${cfg.numHeads}`);
  if (cfg.imageStd.some((s) => s <= 0)) throw new ArgumentError('config.json: vision_config.image_std must be positive');
  activationFn(cfg.activation);
  return cfg;
}

/** Reads `qformer_config` (with the top-level `num_query_tokens`). @throws ArgumentError naming the field */
export function qformerConfig(raw: Raw, numQueryTokens: number, visionWidth: number): QFormerConfig {
  const r = reader(raw, 'qformer_config');
  const cfg: QFormerConfig = {
    hiddenSize: r.int('hidden_size'),
    intermediateSize: r.int('intermediate_size'),
    numLayers: r.int('num_hidden_layers'),
    numHeads: r.int('num_attention_heads'),
    normEps: r.num('layer_norm_eps', 1e-12),
    activation: r.str('hidden_act', 'gelu'),
    encoderHiddenSize: r.int('encoder_hidden_size', visionWidth),
    numQueryTokens,
  };
  if (r.int('cross_attention_frequency', 1) !== 1) throw new ArgumentError('config.json: qformer_config.cross_attention_frequency must be 1 (every layer cross-attends)');
  if (cfg.encoderHiddenSize !== visionWidth) throw new ArgumentError(`config.json: qformer_config.encoder_hidden_size ${cfg.encoderHiddenSize} differs from vision_config.hidden_size ${visionWidth}`);
  if (cfg.hiddenSize % cfg.numHeads !== 0) throw new ArgumentError(`config.json: qformer_config.hidden_size ${cfg.hiddenSize} is not a multiple of num_attention_heads ${cfg.numHeads}`);
  activationFn(cfg.activation);
  return cfg;
}

/** Patches per image side and in all. */
export function numPatches(cfg: VisionConfig): number {
  return (cfg.imageSize / cfg.patchSize) ** 2;
}

/**
 * Cuts images [B, C, H, W] into non-overlapping p×p patches, flattened: [B, (H/p)·(W/p), C·p·p].
 * Patches are in row-major order; inside a patch the values are channel-major, then row, then
 * column — the order in which a Conv2d weight [D, C, p, p] flattens, so `linear(patchify(x),
 * reshape(w, [D, C·p·p]))` is the stride-p convolution. Differentiable (reshape and permute).
 */
export function patchify(x: Tensor, patch: number): Tensor {
  if (x.rank !== 4) throw new ShapeError(`patchify: expected images [B, C, H, W] but received [${x.shape}]`);
  const [B, C, H, W] = x.shape;
  if (!Number.isInteger(patch) || patch < 1 || H % patch !== 0 || W % patch !== 0) throw new ShapeError(`patchify: image size ${H}×${W} is not a multiple of the patch size ${patch}`);
  const gh = H / patch;
  const gw = W / patch;
  const split = reshape(x, [B, C, gh, patch, gw, patch]);
  return reshape(permute(split, [0, 2, 4, 1, 3, 5]), [B, gh * gw, C * patch * patch]);
}

/**
 * The pixel tensor [B, 3, H, W] of images: `(v/255 − mean_c) / std_c`, as BLIP-2's image processor
 * does after resizing (here the images must already be `image_size` square).
 * @throws ArgumentError naming the image whose size differs
 */
export function pixelValues(images: readonly RgbImage[], cfg: VisionConfig, dtype: DType = 'float32'): Tensor {
  const S = cfg.imageSize;
  const plane = S * S;
  const data = dtype === 'float64' ? new Float64Array(images.length * 3 * plane) : new Float32Array(images.length * 3 * plane);
  images.forEach((img, b) => {
    checkRgbImage(img, `images[${b}]`);
    if (img.width !== S || img.height !== S) throw new ArgumentError(`images[${b}] is ${img.width}×${img.height}; the vision encoder takes ${S}×${S} images`);
    for (let c = 0; c < 3; c++) {
      const base = (b * 3 + c) * plane;
      const m = cfg.imageMean[c];
      const s = cfg.imageStd[c];
      for (let i = 0; i < plane; i++) data[base + i] = (img.data[i * 3 + c] / 255 - m) / s;
    }
  });
  return tensor(data, [images.length, 3, S, S], dtype);
}

/**
 * Mean-pools the patch grid of ViT features [B, 1 + g², D] (class token first) over `pool`×`pool`
 * windows: [B, 1 + (g/pool)², D], the class token kept in front. Coarser image tokens that keep
 * where things are (a linear projector's input; LLaVA projects every patch, here a pooled grid
 * keeps the language model's prefix short). Differentiable.
 */
export function poolPatchGrid(features: Tensor, grid: number, pool: number): Tensor {
  const [B, T, D] = features.shape;
  if (T !== 1 + grid * grid) throw new ShapeError(`poolPatchGrid: expected 1 + ${grid}² tokens but received ${T}`);
  if (!Number.isInteger(pool) || pool < 1 || grid % pool !== 0) throw new ShapeError(`poolPatchGrid: the ${grid}×${grid} patch grid is not a multiple of the pool size ${pool}`);
  const g = grid / pool;
  const windows = reshape(permute(reshape(slice(features, 1, 1, grid * grid), [B, g, pool, g, pool, D]), [0, 1, 3, 2, 4, 5]), [B, g * g, pool * pool, D]);
  return concat([slice(features, 1, 0, 1), mean(windows, 2)], 1);
}

/** [B, T, C] → [B, NH, T, C/NH]. */
function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, T, C] = x.shape;
  return permute(reshape(x, [B, T, heads, C / heads]), [0, 2, 1, 3]);
}

/** [B, NH, T, HS] → [B, T, NH·HS]. */
function mergeHeads(x: Tensor): Tensor {
  const [B, NH, T, HS] = x.shape;
  return reshape(permute(x, [0, 2, 1, 3]), [B, T, NH * HS]);
}

/** A weight by checkpoint name. */
export type ParamLookup = (name: string) => Tensor;

const V = 'vision_model.';

/** Checkpoint names and shapes of the ViT's weights. */
export function visionParamShapes(cfg: VisionConfig): Map<string, number[]> {
  const D = cfg.hiddenSize;
  const F = cfg.intermediateSize;
  const p = cfg.patchSize;
  const m = new Map<string, number[]>([
    [`${V}embeddings.patch_embedding.weight`, [D, cfg.numChannels, p, p]],
    [`${V}embeddings.patch_embedding.bias`, [D]],
    [`${V}embeddings.class_embedding`, [1, 1, D]],
    [`${V}embeddings.position_embedding`, [1, numPatches(cfg) + 1, D]],
  ]);
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${V}encoder.layers.${l}.`;
    m.set(pre + 'layer_norm1.weight', [D]).set(pre + 'layer_norm1.bias', [D]);
    m.set(pre + 'self_attn.qkv.weight', [3 * D, D]).set(pre + 'self_attn.qkv.bias', [3 * D]);
    m.set(pre + 'self_attn.projection.weight', [D, D]).set(pre + 'self_attn.projection.bias', [D]);
    m.set(pre + 'layer_norm2.weight', [D]).set(pre + 'layer_norm2.bias', [D]);
    m.set(pre + 'mlp.fc1.weight', [F, D]).set(pre + 'mlp.fc1.bias', [F]);
    m.set(pre + 'mlp.fc2.weight', [D, F]).set(pre + 'mlp.fc2.bias', [D]);
  }
  m.set(`${V}post_layernorm.weight`, [D]).set(`${V}post_layernorm.bias`, [D]);
  return m;
}

/** Checkpoint names and shapes of the Q-Former's weights (and `query_tokens`). */
export function qformerParamShapes(cfg: QFormerConfig): Map<string, number[]> {
  const D = cfg.hiddenSize;
  const E = cfg.encoderHiddenSize;
  const F = cfg.intermediateSize;
  const m = new Map<string, number[]>([
    ['query_tokens', [1, cfg.numQueryTokens, D]],
    ['qformer.layernorm.weight', [D]],
    ['qformer.layernorm.bias', [D]],
  ]);
  const dense = (name: string, out: number, inp: number) => m.set(`${name}.weight`, [out, inp]).set(`${name}.bias`, [out]);
  const norm = (name: string) => m.set(`${name}.weight`, [D]).set(`${name}.bias`, [D]);
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `qformer.encoder.layer.${l}.`;
    for (const w of ['query', 'key', 'value']) dense(`${pre}attention.attention.${w}`, D, D);
    dense(`${pre}attention.output.dense`, D, D);
    norm(`${pre}attention.output.LayerNorm`);
    dense(`${pre}crossattention.attention.query`, D, D);
    dense(`${pre}crossattention.attention.key`, D, E);
    dense(`${pre}crossattention.attention.value`, D, E);
    dense(`${pre}crossattention.output.dense`, D, D);
    norm(`${pre}crossattention.output.LayerNorm`);
    dense(`${pre}intermediate_query.dense`, F, D);
    dense(`${pre}output_query.dense`, D, F);
    norm(`${pre}output_query.LayerNorm`);
  }
  return m;
}

/**
 * The ViT on a pixel tensor [B, 3, H, W] → image features [B, N+1, D] (class token first),
 * after `post_layernorm` (what BLIP-2's Q-Former reads).
 */
export function visionForward(w: ParamLookup, cfg: VisionConfig, pixels: Tensor, hooks?: Hooks): Tensor {
  const D = cfg.hiddenSize;
  const B = pixels.shape[0];
  const act = activationFn(cfg.activation);
  const kernel = reshape(w(`${V}embeddings.patch_embedding.weight`), [D, cfg.numChannels * cfg.patchSize ** 2]);
  const patches = linear(patchify(pixels, cfg.patchSize), kernel, w(`${V}embeddings.patch_embedding.bias`));
  const cls = broadcastTo(w(`${V}embeddings.class_embedding`), [B, 1, D]);
  let x = add(concat([cls, patches], 1), w(`${V}embeddings.position_embedding`));
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${V}encoder.layers.${l}.`;
    const h = layerNorm(x, w(pre + 'layer_norm1.weight'), w(pre + 'layer_norm1.bias'), cfg.normEps);
    const qkv = linear(h, w(pre + 'self_attn.qkv.weight'), w(pre + 'self_attn.qkv.bias'));
    const part = (i: number) => splitHeads(slice(qkv, 2, i * D, D), cfg.numHeads);
    const att = mergeHeads(attention(part(0), part(1), part(2), { causal: false }));
    x = add(x, linear(att, w(pre + 'self_attn.projection.weight'), w(pre + 'self_attn.projection.bias')));
    let m = layerNorm(x, w(pre + 'layer_norm2.weight'), w(pre + 'layer_norm2.bias'), cfg.normEps);
    m = runHook(hooks, l, 'mlp_in', m, 'vision.');
    let key = act(linear(m, w(pre + 'mlp.fc1.weight'), w(pre + 'mlp.fc1.bias')));
    key = runHook(hooks, l, 'mlp_key', key, 'vision.');
    let out = linear(key, w(pre + 'mlp.fc2.weight'), w(pre + 'mlp.fc2.bias'));
    out = runHook(hooks, l, 'mlp_out', out, 'vision.');
    x = runHook(hooks, l, 'resid_out', add(x, out), 'vision.');
  }
  return layerNorm(x, w(`${V}post_layernorm.weight`), w(`${V}post_layernorm.bias`), cfg.normEps);
}

/**
 * The Q-Former's query branch: learned queries, each layer self-attention → cross-attention to
 * `imageEmbeds` [B, N, E] → feed-forward, each sub-layer followed by a residual LayerNorm (BERT's
 * post-norm). Returns the query outputs [B, Q, D].
 */
export function qformerForward(w: ParamLookup, cfg: QFormerConfig, imageEmbeds: Tensor, hooks?: Hooks): Tensor {
  const B = imageEmbeds.shape[0];
  const D = cfg.hiddenSize;
  const act = activationFn(cfg.activation);
  const dense = (x: Tensor, name: string) => linear(x, w(`${name}.weight`), w(`${name}.bias`));
  const norm = (x: Tensor, name: string) => layerNorm(x, w(`${name}.weight`), w(`${name}.bias`), cfg.normEps);
  let q = norm(broadcastTo(w('query_tokens'), [B, cfg.numQueryTokens, D]), 'qformer.layernorm');
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `qformer.encoder.layer.${l}.`;
    const attend = (kind: 'attention' | 'crossattention', kv: Tensor) => {
      const a = `${pre}${kind}.attention.`;
      const heads = (x: Tensor) => splitHeads(x, cfg.numHeads);
      const ctx = mergeHeads(attention(heads(dense(q, a + 'query')), heads(dense(kv, a + 'key')), heads(dense(kv, a + 'value')), { causal: false }));
      return norm(add(q, dense(ctx, `${pre}${kind}.output.dense`)), `${pre}${kind}.output.LayerNorm`);
    };
    q = attend('attention', q);
    q = attend('crossattention', imageEmbeds);
    const m = runHook(hooks, l, 'mlp_in', q, 'qformer.');
    let key = act(dense(m, `${pre}intermediate_query.dense`));
    key = runHook(hooks, l, 'mlp_key', key, 'qformer.');
    let out = dense(key, `${pre}output_query.dense`);
    out = runHook(hooks, l, 'mlp_out', out, 'qformer.');
    q = runHook(hooks, l, 'resid_out', norm(add(q, out), `${pre}output_query.LayerNorm`), 'qformer.');
  }
  return q;
}

/**
 * Fresh weights as BLIP-2 initialises them (`Blip2PreTrainedModel._init_weights`, initializer
 * range 0.02): N(0, 0.02) for projections, embeddings, class token, positions and query tokens;
 * LayerNorm weight 1, bias 0; biases 0.
 */
export function initVisionParams(shapes: Map<string, number[]>, seed: number): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  let s = seed;
  for (const [name, shape] of shapes) {
    const isNorm = /layer_?norm|LayerNorm/i.test(name);
    if (isNorm) out.set(name, full(shape, name.endsWith('.weight') ? 1 : 0));
    else if (name.endsWith('.bias')) out.set(name, full(shape, 0));
    else out.set(name, randn(shape, { seed: s++, std: 0.02 }));
  }
  return out;
}
