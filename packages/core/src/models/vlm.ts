/**
 * `medit-vlm`: a vision-language model in the BLIP-2 / LLaVA mould — a ViT image encoder, a
 * projector into the language model, and a GPT-2 language model that reads the projected image
 * tokens as a prefix of its input embeddings (`inputs_embeds = [image tokens; text embeddings]`,
 * attention mask `[1…1; text mask]`). Two projectors, chosen by config.json:
 *
 * - `qformer_config` + `num_query_tokens` (BLIP-2, Li et al., ICML 2023): a Q-Former's learned
 *   queries cross-attend to the image features; their outputs go through `language_projection`;
 * - `projector_config: {pool_size}` (LLaVA-style, Liu et al., NeurIPS 2023, with a pooled grid):
 *   the ViT's class token and its patch grid mean-pooled over pool×pool windows go through the
 *   linear `language_projection`, so each image token keeps where it is in the picture.
 *
 * config.json (`model_type: "medit-vlm"`): `vision_config`, one of the two above, `text_config` (a
 * GPT-2 config); weights keep BLIP-2's names (`vision_model.*`, `qformer.*`, `query_tokens`,
 * `language_projection.*`) and GPT-2's under `language_model.` (see vision.ts for the differences
 * from BLIP-2).
 *
 * As a {@link CausalLM} it is its language model: `config` describes the LM (with `maxPositions`
 * the text budget left after the image tokens), `rewriteModule` and the `h.<l>.*` hooks are the
 * LM's, and `forward` without images is the LM alone (MMEdit's text-only inputs). With
 * `ForwardOptions.images`, each row's image tokens precede its text: logits, hidden states and
 * `logitsAt` / `logitsFor` stay aligned to the text, while hooks and a `startAt` hidden state see the
 * whole sequence (image tokens first).
 * With a KV cache the image tokens are computed on the first call and cached; pass the same
 * `images` on every call.
 */
import type { DType } from '@medit/native';

import { ArgumentError, ShapeError } from '../errors';
import type { RgbImage } from '../io/image';
import { clone } from '../linalg';
import { concat, indexSelect, slice } from '../ops/layout';
import { linear } from '../ops/linalg';
import { type Tensor, full, randn, zeros } from '../tensor';
import type { MlpLinear } from '../editing/grad-decomp';
import { GPT2, gpt2Config, gpt2InitParams } from './gpt2';
import { CausalLM, checkIds, type ForwardOptions, type ForwardOutput, type ModelConfig, type RewriteModule } from './model';
import { type QFormerConfig, type VisionConfig, initVisionParams, pixelValues, poolPatchGrid, qformerConfig, qformerForward, qformerParamShapes, visionConfig, visionForward, visionParamShapes } from './vision';
import type { Hooks } from './hooks';

export const VLM_MODEL_TYPE = 'medit-vlm';
const LM = 'language_model.';

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = raw[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ArgumentError(`config.json: expected an object for ${key} but received ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function queryTokens(raw: Record<string, unknown>): number {
  const q = raw.num_query_tokens;
  if (typeof q !== 'number' || !Number.isInteger(q) || q < 1) throw new ArgumentError(`config.json: expected a positive integer for num_query_tokens but received ${JSON.stringify(q)}`);
  return q;
}

/** How the image features become the language model's image tokens. */
export type ImageProjector = { kind: 'qformer'; qformer: QFormerConfig } | { kind: 'pooled'; poolSize: number };

/** Reads the projector section of a medit-vlm config.json. @throws ArgumentError naming the field */
function projectorOf(raw: Record<string, unknown>, vision: VisionConfig): ImageProjector {
  const hasQ = raw.qformer_config !== undefined;
  const hasP = raw.projector_config !== undefined;
  if (hasQ === hasP) throw new ArgumentError('config.json: expected exactly one of qformer_config (BLIP-2 Q-Former) and projector_config (pooled linear projector)');
  if (hasQ) return { kind: 'qformer', qformer: qformerConfig(section(raw, 'qformer_config'), queryTokens(raw), vision.hiddenSize) };
  const pool = section(raw, 'projector_config').pool_size ?? 1;
  const grid = vision.imageSize / vision.patchSize;
  if (typeof pool !== 'number' || !Number.isInteger(pool) || pool < 1 || grid % pool !== 0) throw new ArgumentError(`config.json: expected projector_config.pool_size to divide the ${grid}×${grid} patch grid but received ${JSON.stringify(pool)}`);
  return { kind: 'pooled', poolSize: pool };
}

/** Image tokens per image. */
function imageTokens(p: ImageProjector, vision: VisionConfig): number {
  return p.kind === 'qformer' ? p.qformer.numQueryTokens : 1 + (vision.imageSize / vision.patchSize / p.poolSize) ** 2;
}

/** Width of the projector's input (Q-Former output or ViT features). */
function projectorWidth(p: ImageProjector, vision: VisionConfig): number {
  return p.kind === 'qformer' ? p.qformer.hiddenSize : vision.hiddenSize;
}

/**
 * Reads a medit-vlm config.json: the language model's normalised config (GPT-2 `text_config`),
 * with `modelType` "medit-vlm", `maxPositions` = text positions left after the image tokens, and
 * `raw` the whole file. Vision and Q-Former sections are validated too.
 * @throws ArgumentError naming the field
 */
export function vlmConfig(raw: Record<string, unknown>): ModelConfig {
  const text = section(raw, 'text_config');
  if (text.model_type !== undefined && text.model_type !== 'gpt2') throw new ArgumentError(`config.json: text_config.model_type must be "gpt2" but is ${JSON.stringify(text.model_type)}`);
  const lm = gpt2Config({ ...text, model_type: 'gpt2' });
  const vision = visionConfig(section(raw, 'vision_config'));
  const q = imageTokens(projectorOf(raw, vision), vision);
  if (lm.maxPositions <= q) throw new ArgumentError(`config.json: text_config.n_positions (${lm.maxPositions}) leaves no room for text after ${q} image tokens`);
  return { ...lm, modelType: VLM_MODEL_TYPE, maxPositions: lm.maxPositions - q, raw };
}

/** A BLIP-2-style vision-language model over GPT-2 (see the file comment). */
export class VisionLanguageModel extends CausalLM {
  readonly vision: VisionConfig;
  readonly projector: ImageProjector;
  /** The language model; it reads the same parameter map (names under `language_model.`). */
  readonly lm: GPT2;

  /** @throws ArgumentError / ShapeError naming a missing or mis-shaped vision weight */
  constructor(config: ModelConfig, params: Map<string, Tensor>) {
    super(config, params);
    const raw = config.raw;
    this.vision = visionConfig(section(raw, 'vision_config'));
    this.projector = projectorOf(raw, this.vision);
    this.lm = new GPT2(gpt2Config({ ...section(raw, 'text_config'), model_type: 'gpt2' }), params, { prefix: LM });
    for (const [name, shape] of this.sideShapes()) {
      const t = this.param(name);
      if (t.shape.join() !== shape.join()) throw new ShapeError(`medit-vlm: tensor ${name} has shape [${t.shape}], expected [${shape}] from config.json`);
    }
  }

  /** Names and shapes of every weight outside the language model. */
  private sideShapes(): Map<string, number[]> {
    return new Map([
      ...visionParamShapes(this.vision),
      ...(this.projector.kind === 'qformer' ? qformerParamShapes(this.projector.qformer) : []),
      ['language_projection.weight', [this.config.hiddenSize, projectorWidth(this.projector, this.vision)]],
      ['language_projection.bias', [this.config.hiddenSize]],
    ]);
  }

  /** Image tokens per image (the prefix length). */
  get numImageTokens(): number {
    return imageTokens(this.projector, this.vision);
  }

  /** The Q-Former's config, or undefined for a pooled linear projector. */
  get qformer(): QFormerConfig | undefined {
    return this.projector.kind === 'qformer' ? this.projector.qformer : undefined;
  }

  override rewriteModule(layer: number): RewriteModule {
    return this.lm.rewriteModule(layer);
  }

  /**
   * The language model alone as a standalone GPT-2 (HF `GPT2LMHeadModel`: the `language_model.*`
   * weights without the prefix, config.json the `text_config`, this model's tokenizer): it reads
   * text as `forward` without images does and saves as a plain GPT-2 directory. The weights are
   * copies (same dtype), so either model can be trained or disposed without the other.
   * @example const lm = vlm.textModel(); // e.g. the init of @medit/serac's trainLmScopeClassifier
   */
  textModel(): GPT2 {
    const params = new Map<string, Tensor>();
    for (const [name, t] of this.params) if (name.startsWith(LM)) params.set(name.slice(LM.length), clone(t));
    const lm = new GPT2(gpt2Config({ ...section(this.config.raw, 'text_config'), model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }), params);
    lm.tokenizer = this.tokenizer;
    return lm;
  }

  /** The dtype the weights compute in. */
  private get dtype(): DType {
    return this.param('language_projection.weight').dtype;
  }

  /**
   * The image tokens in the language model's input space, [B, tokens, C]: ViT → Q-Former or pooled
   * grid → language_projection (vision and Q-Former hooks apply).
   */
  imageEmbeds(images: readonly RgbImage[], hooks?: Hooks): Tensor {
    const w = (name: string) => this.param(name);
    const features = visionForward(w, this.vision, pixelValues(images, this.vision, this.dtype), hooks);
    const p = this.projector;
    const tokens = p.kind === 'qformer' ? qformerForward(w, p.qformer, features, hooks) : poolPatchGrid(features, this.vision.imageSize / this.vision.patchSize, p.poolSize);
    return linear(tokens, w('language_projection.weight'), w('language_projection.bias'));
  }

  /**
   * The feed-forward linears of a vision-side block, hooked at `<stack>.h.<layer>.*`: the ViT's
   * (`mlp.fc1` role `in`, `mlp.fc2` role `out`; stack `vision`) or the Q-Former's
   * (`intermediate_query.dense`, `output_query.dense`; stack `qformer`) — MMEdit's MEND vision
   * variant edits the last ones' output projections (BLIP-2 `layer.{10,11}.output_query.dense`).
   * @throws ArgumentError for a layer out of range or a Q-Former the model does not have
   */
  visionMlpLinears(stack: 'vision' | 'qformer', layer: number): MlpLinear[] {
    const q = this.qformer;
    if (stack === 'qformer' && !q) throw new ArgumentError('this medit-vlm has a pooled linear projector, no Q-Former');
    const layers = stack === 'qformer' ? q!.numLayers : this.vision.numLayers;
    if (!Number.isInteger(layer) || layer < 0 || layer >= layers) throw new ArgumentError(`${stack} layer ${layer} is outside [0, ${layers})`);
    const [pre, names, D, F] = stack === 'qformer' ? [`qformer.encoder.layer.${layer}.`, ['intermediate_query.dense', 'output_query.dense'], q!.hiddenSize, q!.intermediateSize] : [`vision_model.encoder.layers.${layer}.`, ['mlp.fc1', 'mlp.fc2'], this.vision.hiddenSize, this.vision.intermediateSize];
    const make = (name: string, role: 'in' | 'out', inDim: number, outDim: number): MlpLinear => ({
      layer,
      role,
      weightName: `${pre}${name}.weight`,
      biasName: `${pre}${name}.bias`,
      layout: 'out_in',
      inDim,
      outDim,
      hookPrefix: `${stack}.`,
    });
    return [make(names[0], 'in', D, F), make(names[1], 'out', F, D)];
  }

  override forward(inputIds: number[][], opts: ForwardOptions = {}): ForwardOutput {
    const { B, T } = checkIds(inputIds, this.config.vocabSize);
    const images = opts.images;
    const { images: _i, ...rest } = opts;
    if (!images || images.every((x) => x === null || x === undefined)) return this.lm.forward(inputIds, rest);
    if (images.length !== B) throw new ArgumentError(`medit-vlm: expected one image (or null) per batch row, ${B}, but received ${images.length}`);
    if (opts.positionIds) throw new ArgumentError('medit-vlm: positionIds cannot be given with images (positions follow the image tokens)');
    const Q = this.numImageTokens;
    const past = opts.cache?.length ?? 0;
    if (past > 0 && past < Q) throw new ArgumentError(`medit-vlm: the cache holds ${past} tokens, fewer than the ${Q} image tokens it should start with`);
    const hasImage = images.map((x) => x !== null && x !== undefined);
    const prefixMask = hasImage.map((h) => Array<number>(Q).fill(h ? 1 : 0));
    // with startAt the hidden state already holds the image tokens (as the hooks saw them)
    let embeds: Tensor | null = null;
    if (!opts.startAt) {
      embeds = this.lm.embedTokens(inputIds);
      if (past === 0) {
        const rows = hasImage.flatMap((h, b) => (h ? [b] : []));
        let prefix = this.imageEmbeds(rows.map((b) => images[b]!), opts.hooks);
        if (rows.length < B) {
          // text-only rows get masked zero tokens so every row's text starts at the same index
          const at = new Map(rows.map((b, i) => [b, i]));
          const filler = zeros([1, Q, this.config.hiddenSize], this.dtype);
          prefix = indexSelect(concat([prefix, filler], 0), 0, hasImage.map((_, b) => at.get(b) ?? rows.length));
        }
        embeds = concat([prefix, embeds], 1);
      }
    }
    const text = opts.attentionMask ?? (hasImage.every(Boolean) ? undefined : inputIds.map(() => Array<number>(past - (past ? Q : 0) + T).fill(1)));
    const mask = text ? text.map((row, b) => [...prefixMask[b], ...row]) : undefined;
    const offset = past === 0 ? Q : 0;
    const out = this.lm.forwardEmbeds(embeds, {
      ...rest,
      attentionMask: mask,
      logitsAt: opts.logitsAt?.map((t) => t + offset),
      logitsFor: opts.logitsFor?.map((p) => ({ batch: p.batch, token: p.token + offset })),
    });
    if (offset === 0) return out;
    return {
      logits: opts.logitsAt || opts.logitsFor ? out.logits : slice(out.logits, 1, Q, T),
      hiddenStates: out.hiddenStates?.map((h) => slice(h, 1, Q, T)),
    };
  }
}

/**
 * Fresh medit-vlm weights: BLIP-2's initialisation for the vision side and the projection
 * (N(0, 0.02)), GPT-2's for the language model (names under `language_model.`).
 */
export function vlmInitParams(config: ModelConfig, seed: number): Map<string, Tensor> {
  const raw = config.raw;
  const vision = visionConfig(section(raw, 'vision_config'));
  const projector = projectorOf(raw, vision);
  const params = initVisionParams(new Map([...visionParamShapes(vision), ...(projector.kind === 'qformer' ? qformerParamShapes(projector.qformer) : [])]), seed * 7919 + 1);
  params.set('language_projection.weight', randn([config.hiddenSize, projectorWidth(projector, vision)], { seed: seed * 7919 + 2, std: 0.02 }));
  params.set('language_projection.bias', full([config.hiddenSize], 0));
  const lm = gpt2InitParams(gpt2Config({ ...section(raw, 'text_config'), model_type: 'gpt2' }), seed);
  for (const [name, t] of lm) params.set(LM + name, t);
  return params;
}

/** An image-conditioned view of a model: see {@link withImages}. @internal */
class ImageInputModel extends CausalLM {
  constructor(
    private readonly base: CausalLM,
    private readonly images: readonly (RgbImage | null)[],
  ) {
    super(base.config, base.params);
    this.tokenizer = base.tokenizer;
    this.source = base.source;
  }

  override forward(inputIds: number[][], opts: ForwardOptions = {}): ForwardOutput {
    if (opts.images) return this.base.forward(inputIds, opts);
    const B = inputIds.length;
    if (this.images.length !== 1 && this.images.length !== B) throw new ArgumentError(`withImages: the view holds ${this.images.length} images but the batch has ${B} rows`);
    return this.base.forward(inputIds, { ...opts, images: this.images.length === 1 ? Array(B).fill(this.images[0]) : this.images });
  }

  override rewriteModule(layer: number): RewriteModule {
    return this.base.rewriteModule(layer);
  }

  /** The view owns nothing: the base model's weights stay alive. */
  override dispose(): void {}
}

/**
 * A view of `model` whose `forward` passes `images` (one per batch row, or one for every row)
 * unless the call gives its own — so image-unaware code (an editor's `edit`, a loss over
 * `model.forward`) runs on image + text inputs. The view shares the model's weights, tokenizer
 * and config: an {@link EditDelta} applied through it changes the model. Memory-based deltas
 * (SERAC, IKE) belong on the model itself, with images passed per call.
 * @example const delta = await mend.edit(withImages(vlm, [image]), [request]);
 */
export function withImages(model: CausalLM, images: readonly (RgbImage | null)[]): CausalLM {
  if (images.length === 0) throw new ArgumentError('withImages: expected at least one image');
  return new ImageInputModel(model, images);
}
