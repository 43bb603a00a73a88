/**
 * GPT-2 (Radford et al. 2019), matching HF transformers' GPT2LMHeadModel in eval mode:
 * pre-norm blocks, fused QKV projection, learned absolute positions, tied LM head.
 * Weights keep the checkpoint's names and GPT-2's Conv1D layout ([in, out]).
 * Not supported: `reorder_and_upcast_attn` (a numerics option of training), cross-attention.
 */
import { ArgumentError } from '../errors';
import { add } from '../ops/elementwise';
import { concat, gatherAt, permute, reshape, slice } from '../ops/layout';
import { type LinearActivation, linear, linearAct } from '../ops/linalg';
import { attention, embedding, layerNorm } from '../ops/nn';
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

/** Reads the GPT-2 fields of an HF config.json. */
export function gpt2Config(raw: Record<string, unknown>): ModelConfig {
  const num = (k: string, d?: number): number => {
    const v = raw[k] ?? d;
    if (typeof v !== 'number') throw new ArgumentError(`config.json: expected a number for ${k} but received ${JSON.stringify(v)}`);
    return v;
  };
  const hidden = num('n_embd');
  const heads = num('n_head');
  return {
    modelType: 'gpt2',
    vocabSize: num('vocab_size'),
    hiddenSize: hidden,
    numLayers: num('n_layer'),
    numHeads: heads,
    numKvHeads: heads,
    headDim: hidden / heads,
    intermediateSize: typeof raw.n_inner === 'number' ? raw.n_inner : 4 * hidden,
    maxPositions: num('n_positions', 1024),
    normEps: num('layer_norm_epsilon', 1e-5),
    activation: typeof raw.activation_function === 'string' ? raw.activation_function : 'gelu_new',
    tieWordEmbeddings: raw.tie_word_embeddings !== false,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : undefined,
    eosTokenId: typeof raw.eos_token_id === 'number' ? raw.eos_token_id : undefined,
    raw,
  };
}

export class GPT2 extends CausalLM {
  /** Prefix of the transformer's weights in this checkpoint ("transformer." or ""). */
  readonly prefix: string;
  /** Prefix of the whole language model inside a larger checkpoint ("" alone; "language_model." in a VLM). */
  private readonly outer: string;
  private readonly act: LinearActivation;

  /** @param opts.prefix - where the LM's weights sit in `params` when it is part of a larger model */
  constructor(config: ModelConfig, params: Map<string, Tensor>, opts: { prefix?: string } = {}) {
    super(config, params);
    this.outer = opts.prefix ?? '';
    this.prefix = this.outer + (params.has(`${this.outer}transformer.wte.weight`) ? 'transformer.' : '');
    this.act = activationName(config.activation);
    if (config.raw.reorder_and_upcast_attn === true) {
      throw new ArgumentError('gpt2: reorder_and_upcast_attn=true is not supported');
    }
    this.checkParams(this.requiredShapes());
  }

  /** Every weight this config needs, with its shape (GPT-2's Conv1D weights are [in, out]). */
  private requiredShapes(): Map<string, number[]> {
    const p = this.prefix;
    const { hiddenSize: C, intermediateSize: F, vocabSize: V, maxPositions: P } = this.config;
    const shapes = new Map<string, number[]>([
      [`${p}wte.weight`, [V, C]],
      [`${p}wpe.weight`, [P, C]],
      [`${p}ln_f.weight`, [C]],
      [`${p}ln_f.bias`, [C]],
    ]);
    const blockShapes: [string, number[], number[]][] = [
      ['ln_1', [C], [C]],
      ['attn.c_attn', [C, 3 * C], [3 * C]],
      ['attn.c_proj', [C, C], [C]],
      ['ln_2', [C], [C]],
      ['mlp.c_fc', [C, F], [F]],
      ['mlp.c_proj', [F, C], [C]],
    ];
    for (let l = 0; l < this.config.numLayers; l++) {
      for (const [w, weight, bias] of blockShapes) {
        shapes.set(`${p}h.${l}.${w}.weight`, weight);
        shapes.set(`${p}h.${l}.${w}.bias`, bias);
      }
    }
    if (!this.config.tieWordEmbeddings) shapes.set(`${this.outer}lm_head.weight`, [V, C]);
    return shapes;
  }

  private w(name: string): Tensor {
    return this.param(this.prefix + name);
  }

  /** The LM head weight [V, C] (the token embedding when tied). */
  lmHead(): Tensor {
    return this.config.tieWordEmbeddings ? this.w('wte.weight') : this.param(`${this.outer}lm_head.weight`);
  }

  override rewriteModule(layer: number): RewriteModule {
    return this.mlpOutputModule(layer, `${this.prefix}h.${layer}.mlp.c_proj.weight`, 'in_out');
  }

  override forward(inputIds: number[][], opts: ForwardOptions = {}): ForwardOutput {
    checkIds(inputIds, this.config.vocabSize);
    checkNoImages(opts, 'gpt2');
    return this.forwardEmbeds(opts.startAt ? null : this.embedTokens(inputIds), opts);
  }

  /** Token embeddings [B, T, C] of ids (no positions; checked by the caller). */
  embedTokens(inputIds: number[][]): Tensor {
    return embedding(idsTensor(inputIds), this.w('wte.weight'));
  }

  /**
   * Runs the model on input embeddings [B, T, C] instead of token ids (HF `inputs_embeds`):
   * positions are added here, from the mask as in {@link forward}. A vision-language model feeds
   * its image tokens this way. With `opts.startAt` no embeddings are read: pass null (the batch's
   * shape is the hidden state's).
   */
  forwardEmbeds(inputsEmbeds: Tensor | null, opts: ForwardOptions = {}): ForwardOutput {
    const cfg = this.config;
    const start = inputsEmbeds ?? opts.startAt?.hidden;
    if (!start) throw new ArgumentError('gpt2: forwardEmbeds needs input embeddings or startAt');
    const [B, T] = start.shape;
    const past = opts.cache?.length ?? 0;
    const positions = opts.positionIds ?? positionsFor(B, T, past, opts.attentionMask);
    if (positions.flat().some((p) => p >= cfg.maxPositions)) {
      throw new ArgumentError(`gpt2: sequence longer than n_positions (${cfg.maxPositions})`);
    }
    const mask = opts.attentionMask ? tensor(Int32Array.from(opts.attentionMask.flat()), [B, past + T], 'int32') : null;
    const C = cfg.hiddenSize;
    const NH = cfg.numHeads;
    const HS = cfg.headDim;
    const p = 'h.';
    const from = firstLayer(opts, cfg, B, T);
    let x = opts.startAt?.hidden ?? add(inputsEmbeds!, embedding(idsTensor(positions), this.w('wpe.weight')));
    const hidden: Tensor[] = [];
    const scaleBase = cfg.raw.scale_attn_weights === false ? 1 : 1 / Math.sqrt(HS);
    for (let l = from; l < cfg.numLayers; l++) {
      if (opts.outputHiddenStates) hidden.push(x);
      x = runHook(opts.hooks, l, 'resid_in', x);
      const pre = `${p}${l}.`;
      // attention: split the fused projection into heads [B, NH, T, HS]
      const h1 = layerNorm(x, this.w(pre + 'ln_1.weight'), this.w(pre + 'ln_1.bias'), cfg.normEps);
      const qkv = linear(h1, this.w(pre + 'attn.c_attn.weight'), this.w(pre + 'attn.c_attn.bias'), 'in_out');
      const heads = (i: number) => permute(reshape(slice(qkv, 2, i * C, C), [B, T, NH, HS]), [0, 2, 1, 3]);
      let k = heads(1);
      let v = heads(2);
      if (opts.cache) {
        const prev = opts.cache.layers[l];
        if (prev) {
          k = concatTime(prev.k, k);
          v = concatTime(prev.v, v);
        }
        opts.cache.set(l, k, v);
      }
      const scale = cfg.raw.scale_attn_by_inverse_layer_idx === true ? scaleBase / (l + 1) : scaleBase;
      const att = attention(heads(0), k, v, { causal: true, keyMask: mask, scale });
      const merged = reshape(permute(att, [0, 2, 1, 3]), [B, T, C]);
      let a = linear(merged, this.w(pre + 'attn.c_proj.weight'), this.w(pre + 'attn.c_proj.bias'), 'in_out');
      a = runHook(opts.hooks, l, 'attn_out', a);
      x = add(x, a);
      // MLP: c_proj(act(c_fc(ln_2(x))))
      let m = layerNorm(x, this.w(pre + 'ln_2.weight'), this.w(pre + 'ln_2.bias'), cfg.normEps);
      m = runHook(opts.hooks, l, 'mlp_in', m);
      let key = linearAct(m, this.w(pre + 'mlp.c_fc.weight'), this.w(pre + 'mlp.c_fc.bias'), 'in_out', this.act);
      key = runHook(opts.hooks, l, 'mlp_key', key);
      let out = linear(key, this.w(pre + 'mlp.c_proj.weight'), this.w(pre + 'mlp.c_proj.bias'), 'in_out');
      out = runHook(opts.hooks, l, 'mlp_out', out);
      x = add(x, out);
      x = runHook(opts.hooks, l, 'resid_out', x);
    }
    // the final norm and the head run on the rows whose logits are asked for
    const rows = logitPositions(opts, B);
    if (rows && !opts.outputHiddenStates) x = gatherAt(x, rows);
    x = layerNorm(x, this.w('ln_f.weight'), this.w('ln_f.bias'), cfg.normEps);
    if (opts.outputHiddenStates) hidden.push(x);
    if (rows && opts.outputHiddenStates) x = gatherAt(x, rows);
    return { logits: shapeLogits(linear(x, this.lmHead()), opts, B), hiddenStates: opts.outputHiddenStates ? hidden : undefined };
  }
}

/** Appends new keys/values to cached ones along the time axis. */
function concatTime(past: Tensor, now: Tensor): Tensor {
  return concat([past, now], 2);
}

/**
 * Fresh GPT-2 weights as HF initialises them (GPT2PreTrainedModel._init_weights):
 * N(0, 0.02) for projections and embeddings, residual projections (`c_proj`) scaled by
 * 1/√(2·n_layer), LayerNorm weight 1 and bias 0, biases 0.
 */
export function gpt2InitParams(config: ModelConfig, seed: number): Map<string, Tensor> {
  const { hiddenSize: C, intermediateSize: F, vocabSize: V, maxPositions: P, numLayers: L } = config;
  const params = new Map<string, Tensor>();
  let s = seed;
  const normal = (shape: number[], std: number) => randn(shape, { seed: s++, std });
  params.set('transformer.wte.weight', normal([V, C], 0.02));
  params.set('transformer.wpe.weight', normal([P, C], 0.02));
  const residStd = 0.02 / Math.sqrt(2 * L);
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    params.set(p + 'ln_1.weight', full([C], 1));
    params.set(p + 'ln_1.bias', full([C], 0));
    params.set(p + 'attn.c_attn.weight', normal([C, 3 * C], 0.02));
    params.set(p + 'attn.c_attn.bias', full([3 * C], 0));
    params.set(p + 'attn.c_proj.weight', normal([C, C], residStd));
    params.set(p + 'attn.c_proj.bias', full([C], 0));
    params.set(p + 'ln_2.weight', full([C], 1));
    params.set(p + 'ln_2.bias', full([C], 0));
    params.set(p + 'mlp.c_fc.weight', normal([C, F], 0.02));
    params.set(p + 'mlp.c_fc.bias', full([F], 0));
    params.set(p + 'mlp.c_proj.weight', normal([F, C], residStd));
    params.set(p + 'mlp.c_proj.bias', full([C], 0));
  }
  params.set('transformer.ln_f.weight', full([C], 1));
  params.set('transformer.ln_f.bias', full([C], 0));
  if (!config.tieWordEmbeddings) params.set('lm_head.weight', normal([V, C], 0.02));
  return params;
}
