/**
 * The Llama family (Touvron et al. 2023), matching HF transformers' (v4.45)
 * LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM in eval mode with eager
 * attention: pre-norm blocks with RMSNorm, rotary position embeddings (half-split
 * pairing, `rope_scaling` default/linear/dynamic/llama3), grouped-query attention
 * (`num_key_value_heads`), SwiGLU MLP `down_proj(act(gate_proj(x)) · up_proj(x))`
 * (Shazeer 2020), LM head tied or not per `tie_word_embeddings`.
 *
 * The three `model_type`s differ only in config:
 * - `llama`: q/k/v/o biases when `attention_bias`; MLP biases when `mlp_bias`.
 * - `qwen2`: q/k/v biases always, no o_proj bias (HF Qwen2Attention).
 * - `mistral`: no biases; sliding-window attention over `sliding_window` keys.
 *
 * Not supported: sliding-window attention itself. A window only changes the result once
 * the sequence (cache included) is longer than it, so a forward that long throws instead
 * of silently attending to every key. Weights keep the checkpoint's names and
 * nn.Linear's [out, in] layout.
 */
import { ArgumentError } from '../errors';
import { add, mul } from '../ops/elementwise';
import { concat, gatherAt, permute, reshape } from '../ops/layout';
import { type LinearActivation, linear, linearAct } from '../ops/linalg';
import { attention, embedding, rmsNorm } from '../ops/nn';
import { Tensor, full, randn, tensor } from '../tensor';
import { activationName } from './activations';
import { runHook } from './hooks';
import {
  CausalLM,
  checkIds,
  checkNoImages,
  firstLayer,
  idsTensor,
  logitPositions,
  positionsFor,
  shapeLogits,
  type ForwardOptions,
  type ForwardOutput,
  type ModelConfig,
  type RewriteModule,
} from './model';
import { applyRotary, parseRopeScaling, rotaryTables, type RotaryConfig } from './rotary';

/** The `model_type`s this file implements. */
export const LLAMA_MODEL_TYPES = ['llama', 'mistral', 'qwen2'] as const;

/** Reads a number field of config.json (with an optional default). @internal */
export function configNumber(raw: Record<string, unknown>, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`config.json: expected a number for ${key} but received ${JSON.stringify(raw[key])}`);
  return v;
}

/** The first id of a token-id field that may be a number or a list (Llama 3 lists several EOS ids). @internal */
export function configTokenId(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return undefined;
}

/**
 * Reads the fields of a Llama / Mistral / Qwen2 config.json. Absent optional fields take
 * HF's defaults (num_key_value_heads = num_attention_heads, head_dim = hidden/heads,
 * rms_norm_eps 1e-6, silu, untied embeddings).
 * @throws ArgumentError for a missing or inconsistent field (named).
 */
export function llamaConfig(raw: Record<string, unknown>): ModelConfig {
  const modelType = String(raw.model_type);
  if (!(LLAMA_MODEL_TYPES as readonly string[]).includes(modelType)) throw new ArgumentError(`llama: unexpected model_type ${JSON.stringify(raw.model_type)} (expected ${LLAMA_MODEL_TYPES.join(', ')})`);
  const num = (k: string, d?: number) => configNumber(raw, k, d);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  const headDim = num('head_dim', hidden / heads);
  if (!Number.isInteger(headDim) || headDim <= 0) throw new ArgumentError(`config.json: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}; set head_dim`);
  if (heads % kvHeads !== 0) throw new ArgumentError(`config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  return {
    modelType,
    vocabSize: num('vocab_size'),
    hiddenSize: hidden,
    numLayers: num('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    intermediateSize: num('intermediate_size'),
    maxPositions: num('max_position_embeddings', 2048),
    normEps: num('rms_norm_eps', 1e-6),
    activation: typeof raw.hidden_act === 'string' ? raw.hidden_act : 'silu',
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    bosTokenId: configTokenId(raw.bos_token_id),
    eosTokenId: configTokenId(raw.eos_token_id),
    raw,
  };
}

/** Which optional biases a config implies. @internal */
function biasesOf(config: ModelConfig): { qkv: boolean; o: boolean; mlp: boolean } {
  const raw = config.raw;
  if (config.modelType === 'qwen2') return { qkv: true, o: false, mlp: false };
  if (config.modelType === 'mistral') return { qkv: false, o: false, mlp: false };
  return { qkv: raw.attention_bias === true, o: raw.attention_bias === true, mlp: raw.mlp_bias === true };
}

/** The rotary settings of a Llama-family config. @internal */
export function llamaRotary(config: ModelConfig): RotaryConfig {
  const raw = config.raw;
  const partial = configNumber(raw, 'partial_rotary_factor', 1);
  return {
    rotaryDim: Math.floor(config.headDim * partial),
    base: configNumber(raw, 'rope_theta', 10000),
    layout: 'half',
    scaling: parseRopeScaling(raw.rope_scaling),
    maxPositions: config.maxPositions,
  };
}

/** Keys a forward may attend to before sliding-window attention would drop some (Infinity: none). */
function slidingWindow(config: ModelConfig): number {
  const raw = config.raw;
  const w = raw.sliding_window;
  if (typeof w !== 'number') return Infinity;
  if (config.modelType === 'mistral') return w;
  if (config.modelType === 'qwen2' && raw.use_sliding_window === true) return w;
  return Infinity;
}

/** Llama / Mistral / Qwen2 causal LM. */
export class Llama extends CausalLM {
  /** Prefix of the decoder's weights in this checkpoint ("model." or ""). */
  readonly prefix: string;
  readonly rotary: RotaryConfig;
  private readonly act: LinearActivation;
  private readonly bias: { qkv: boolean; o: boolean; mlp: boolean };
  private readonly window: number;

  /** @throws ArgumentError naming a missing weight or an unsupported config field. */
  constructor(config: ModelConfig, params: Map<string, Tensor>) {
    super(config, params);
    this.prefix = params.has('model.embed_tokens.weight') ? 'model.' : '';
    this.act = activationName(config.activation);
    this.rotary = llamaRotary(config);
    this.bias = biasesOf(config);
    this.window = slidingWindow(config);
    this.checkParams(this.requiredShapes());
  }

  /** Every weight this config needs, with its shape (nn.Linear weights are [out, in]). */
  private requiredShapes(): Map<string, number[]> {
    const p = this.prefix;
    const { hiddenSize: C, intermediateSize: F, vocabSize: V, numHeads: NH, numKvHeads: NKV, headDim: HS } = this.config;
    const shapes = new Map<string, number[]>([
      [`${p}embed_tokens.weight`, [V, C]],
      [`${p}norm.weight`, [C]],
    ]);
    const linear = (name: string, out: number, inp: number, bias: boolean) => {
      shapes.set(`${name}.weight`, [out, inp]);
      if (bias) shapes.set(`${name}.bias`, [out]);
    };
    for (let l = 0; l < this.config.numLayers; l++) {
      const pre = `${p}layers.${l}.`;
      shapes.set(pre + 'input_layernorm.weight', [C]);
      shapes.set(pre + 'post_attention_layernorm.weight', [C]);
      linear(`${pre}self_attn.q_proj`, NH * HS, C, this.bias.qkv);
      linear(`${pre}self_attn.k_proj`, NKV * HS, C, this.bias.qkv);
      linear(`${pre}self_attn.v_proj`, NKV * HS, C, this.bias.qkv);
      linear(`${pre}self_attn.o_proj`, C, NH * HS, this.bias.o);
      linear(`${pre}mlp.gate_proj`, F, C, this.bias.mlp);
      linear(`${pre}mlp.up_proj`, F, C, this.bias.mlp);
      linear(`${pre}mlp.down_proj`, C, F, this.bias.mlp);
    }
    if (!this.config.tieWordEmbeddings) shapes.set('lm_head.weight', [V, C]);
    return shapes;
  }

  private w(name: string): Tensor {
    return this.param(this.prefix + name);
  }

  private b(name: string, present: boolean): Tensor | null {
    return present ? this.param(this.prefix + name) : null;
  }

  /** The LM head weight [V, C] (the token embedding when tied). */
  lmHead(): Tensor {
    return this.config.tieWordEmbeddings ? this.w('embed_tokens.weight') : this.param('lm_head.weight');
  }

  override checkpointNames(): string[] {
    // A tied checkpoint stores the embedding once even if a stray lm_head was loaded.
    return [...this.params.keys()].filter((n) => !(this.config.tieWordEmbeddings && n === 'lm_head.weight'));
  }

  override rewriteModule(layer: number): RewriteModule {
    return this.mlpOutputModule(layer, `${this.prefix}layers.${layer}.mlp.down_proj.weight`, 'out_in');
  }

  /**
   * Runs the model on token ids [B][T]; see {@link ForwardOptions}.
   * @throws ArgumentError for ids outside the vocabulary, or a sequence longer than Mistral's sliding window.
   */
  override forward(inputIds: number[][], opts: ForwardOptions = {}): ForwardOutput {
    const cfg = this.config;
    const { B, T } = checkIds(inputIds, cfg.vocabSize);
    checkNoImages(opts, this.config.modelType);
    const past = opts.cache?.length ?? 0;
    if (past + T > this.window) {
      throw new ArgumentError(`${cfg.modelType}: ${past + T} tokens exceed the sliding window (${this.window}), which is not implemented`);
    }
    const positions = opts.positionIds ?? positionsFor(B, T, past, opts.attentionMask);
    const mask = opts.attentionMask ? tensor(Int32Array.from(opts.attentionMask.flat()), [B, past + T], 'int32') : null;
    const { numHeads: NH, numKvHeads: NKV, headDim: HS, normEps: eps } = cfg;
    const from = firstLayer(opts, cfg, B, T);
    let x = opts.startAt?.hidden ?? embedding(idsTensor(inputIds), this.w('embed_tokens.weight'));
    const tables = rotaryTables(this.rotary, positions, x.dtype);
    const hidden: Tensor[] = [];
    for (let l = from; l < cfg.numLayers; l++) {
      if (opts.outputHiddenStates) hidden.push(x);
      x = runHook(opts.hooks, l, 'resid_in', x);
      const pre = `layers.${l}.`;
      // attention: [B, T, H·HS] → [B, H, T, HS], rotary on q and k (the cache holds rotated keys, as HF's)
      const h1 = rmsNorm(x, this.w(pre + 'input_layernorm.weight'), eps);
      const proj = (name: string, heads: number) => {
        const y = linear(h1, this.w(`${pre}self_attn.${name}.weight`), this.b(`${pre}self_attn.${name}.bias`, this.bias.qkv));
        return permute(reshape(y, [B, T, heads, HS]), [0, 2, 1, 3]);
      };
      const q = applyRotary(proj('q_proj', NH), tables, 'half');
      let k = applyRotary(proj('k_proj', NKV), tables, 'half');
      let v = proj('v_proj', NKV);
      if (opts.cache) {
        const prev = opts.cache.layers[l];
        if (prev) {
          k = concat([prev.k, k], 2);
          v = concat([prev.v, v], 2);
        }
        opts.cache.set(l, k, v);
      }
      const att = attention(q, k, v, { causal: true, keyMask: mask, scale: 1 / Math.sqrt(HS) });
      const merged = reshape(permute(att, [0, 2, 1, 3]), [B, T, NH * HS]);
      let a = linear(merged, this.w(pre + 'self_attn.o_proj.weight'), this.b(pre + 'self_attn.o_proj.bias', this.bias.o));
      a = runHook(opts.hooks, l, 'attn_out', a);
      x = add(x, a);
      // SwiGLU MLP: down_proj(act(gate_proj(m)) · up_proj(m)); the key is down_proj's input
      let m = rmsNorm(x, this.w(pre + 'post_attention_layernorm.weight'), eps);
      m = runHook(opts.hooks, l, 'mlp_in', m);
      const gate = linearAct(m, this.w(pre + 'mlp.gate_proj.weight'), this.b(pre + 'mlp.gate_proj.bias', this.bias.mlp), 'out_in', this.act);
      let key = mul(gate, linear(m, this.w(pre + 'mlp.up_proj.weight'), this.b(pre + 'mlp.up_proj.bias', this.bias.mlp)));
      key = runHook(opts.hooks, l, 'mlp_key', key);
      let out = linear(key, this.w(pre + 'mlp.down_proj.weight'), this.b(pre + 'mlp.down_proj.bias', this.bias.mlp));
      out = runHook(opts.hooks, l, 'mlp_out', out);
      x = add(x, out);
      x = runHook(opts.hooks, l, 'resid_out', x);
    }
    // the final norm and the head run on the rows whose logits are asked for
    const rows = logitPositions(opts, B);
    if (rows && !opts.outputHiddenStates) x = gatherAt(x, rows);
    x = rmsNorm(x, this.w('norm.weight'), eps);
    if (opts.outputHiddenStates) hidden.push(x);
    if (rows && opts.outputHiddenStates) x = gatherAt(x, rows);
    return { logits: shapeLogits(linear(x, this.lmHead()), opts, B), hiddenStates: opts.outputHiddenStates ? hidden : undefined };
  }
}

/**
 * Fresh Llama-family weights as HF initialises them (LlamaPreTrainedModel._init_weights):
 * every linear and the embedding ~ N(0, initializer_range) (default 0.02), biases 0,
 * RMSNorm weights 1. Names follow the `model.` checkpoint layout.
 */
export function llamaInitParams(config: ModelConfig, seed: number): Map<string, Tensor> {
  const { hiddenSize: C, intermediateSize: F, vocabSize: V, numLayers: L, numHeads: NH, numKvHeads: NKV, headDim: HS } = config;
  const std = configNumber(config.raw, 'initializer_range', 0.02);
  const bias = biasesOf(config);
  const params = new Map<string, Tensor>();
  let s = seed;
  const normal = (shape: number[]) => randn(shape, { seed: s++, std });
  params.set('model.embed_tokens.weight', normal([V, C]));
  const linearInit = (name: string, out: number, inp: number, withBias: boolean) => {
    params.set(`${name}.weight`, normal([out, inp]));
    if (withBias) params.set(`${name}.bias`, full([out], 0));
  };
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    params.set(p + 'input_layernorm.weight', full([C], 1));
    linearInit(p + 'self_attn.q_proj', NH * HS, C, bias.qkv);
    linearInit(p + 'self_attn.k_proj', NKV * HS, C, bias.qkv);
    linearInit(p + 'self_attn.v_proj', NKV * HS, C, bias.qkv);
    linearInit(p + 'self_attn.o_proj', C, NH * HS, bias.o);
    params.set(p + 'post_attention_layernorm.weight', full([C], 1));
    linearInit(p + 'mlp.gate_proj', F, C, bias.mlp);
    linearInit(p + 'mlp.up_proj', F, C, bias.mlp);
    linearInit(p + 'mlp.down_proj', C, F, bias.mlp);
  }
  params.set('model.norm.weight', full([C], 1));
  if (!config.tieWordEmbeddings) params.set('lm_head.weight', normal([V, C]));
  return params;
}
