/**
 * GPT-J (Wang & Komatsuzaki 2021), matching HF transformers' (v4.45) GPTJForCausalLM in
 * eval mode: one LayerNorm feeds attention and the MLP in parallel
 * (x + attn(ln(x)) + mlp(ln(x))), rotary embeddings on the first `rotary_dim` channels
 * of each head with GPT-J's interleaved pairing (`rotate_every_two`), q/k/v/out
 * projections without biases, MLP fc_in → activation → fc_out with biases, and an untied
 * LM head with a bias. Weights keep the checkpoint's names and nn.Linear's [out, in] layout.
 * Not supported: tie_word_embeddings=true (GPT-J checkpoints keep the head untied).
 */
import { ArgumentError } from '../errors';
import { add } from '../ops/elementwise';
import { concat, gatherAt, permute, reshape } from '../ops/layout';
import { type LinearActivation, linear, linearAct } from '../ops/linalg';
import { attention, embedding, layerNorm } from '../ops/nn';
import { Tensor, full, randn, tensor } from '../tensor';
import { activationName } from './activations';
import { runHook } from './hooks';
import { configNumber, configTokenId } from './llama';
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
import { applyRotary, rotaryTables, type RotaryConfig } from './rotary';

/**
 * Reads the GPT-J fields of an HF config.json (HF GPTJConfig defaults for absent optional
 * fields: n_inner 4·n_embd, rotary_dim = head size, gelu_new, layer_norm_epsilon 1e-5).
 * @throws ArgumentError for a missing or inconsistent field (named).
 */
export function gptjConfig(raw: Record<string, unknown>): ModelConfig {
  const num = (k: string, d?: number) => configNumber(raw, k, d);
  const hidden = num('n_embd');
  const heads = num('n_head');
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim)) throw new ArgumentError(`config.json: n_embd ${hidden} is not divisible by n_head ${heads}`);
  if (raw.tie_word_embeddings === true) throw new ArgumentError('gptj: tie_word_embeddings=true is not supported');
  const rotaryDim = typeof raw.rotary_dim === 'number' ? raw.rotary_dim : headDim;
  if (rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 !== 0) throw new ArgumentError(`config.json: rotary_dim ${rotaryDim} must be even and in (0, ${headDim}]`);
  return {
    modelType: 'gptj',
    vocabSize: num('vocab_size'),
    hiddenSize: hidden,
    numLayers: num('n_layer'),
    numHeads: heads,
    numKvHeads: heads,
    headDim,
    intermediateSize: typeof raw.n_inner === 'number' ? raw.n_inner : 4 * hidden,
    maxPositions: num('n_positions', 2048),
    normEps: num('layer_norm_epsilon', 1e-5),
    activation: typeof raw.activation_function === 'string' ? raw.activation_function : 'gelu_new',
    tieWordEmbeddings: false,
    bosTokenId: configTokenId(raw.bos_token_id),
    eosTokenId: configTokenId(raw.eos_token_id),
    raw,
  };
}

/** GPT-J causal LM. */
export class GPTJ extends CausalLM {
  /** Prefix of the transformer's weights ("transformer." or ""). */
  readonly prefix: string;
  readonly rotary: RotaryConfig;
  private readonly act: LinearActivation;

  /** @throws ArgumentError naming a missing weight. */
  constructor(config: ModelConfig, params: Map<string, Tensor>) {
    super(config, params);
    this.prefix = params.has('transformer.wte.weight') ? 'transformer.' : '';
    this.act = activationName(config.activation);
    this.rotary = {
      rotaryDim: typeof config.raw.rotary_dim === 'number' ? config.raw.rotary_dim : config.headDim,
      // GPT-J's create_sinusoidal_positions has a fixed base and no scaling
      base: 10000,
      layout: 'interleaved',
      scaling: { type: 'default' },
      maxPositions: config.maxPositions,
    };
    this.checkParams(this.requiredShapes());
  }

  /** Every weight this config needs, with its shape (nn.Linear weights are [out, in]). */
  private requiredShapes(): Map<string, number[]> {
    const p = this.prefix;
    const { hiddenSize: C, intermediateSize: F, vocabSize: V } = this.config;
    const shapes = new Map<string, number[]>([
      [`${p}wte.weight`, [V, C]],
      [`${p}ln_f.weight`, [C]],
      [`${p}ln_f.bias`, [C]],
      ['lm_head.weight', [V, C]],
      ['lm_head.bias', [V]],
    ]);
    for (let l = 0; l < this.config.numLayers; l++) {
      const pre = `${p}h.${l}.`;
      shapes.set(pre + 'ln_1.weight', [C]);
      shapes.set(pre + 'ln_1.bias', [C]);
      for (const w of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) shapes.set(`${pre}attn.${w}.weight`, [C, C]);
      shapes.set(pre + 'mlp.fc_in.weight', [F, C]);
      shapes.set(pre + 'mlp.fc_in.bias', [F]);
      shapes.set(pre + 'mlp.fc_out.weight', [C, F]);
      shapes.set(pre + 'mlp.fc_out.bias', [C]);
    }
    return shapes;
  }

  private w(name: string): Tensor {
    return this.param(this.prefix + name);
  }

  override rewriteModule(layer: number): RewriteModule {
    return this.mlpOutputModule(layer, `${this.prefix}h.${layer}.mlp.fc_out.weight`, 'out_in');
  }

  /**
   * Runs the model on token ids [B][T]; see {@link ForwardOptions}. The `mlp_in` hook sees
   * ln_1's output as the MLP's input only (attention keeps the unhooked one).
   * @throws ArgumentError for ids outside the vocabulary or positions ≥ n_positions.
   */
  override forward(inputIds: number[][], opts: ForwardOptions = {}): ForwardOutput {
    const cfg = this.config;
    const { B, T } = checkIds(inputIds, cfg.vocabSize);
    checkNoImages(opts, 'gptj');
    const past = opts.cache?.length ?? 0;
    const positions = opts.positionIds ?? positionsFor(B, T, past, opts.attentionMask);
    // HF's sinusoid table has n_positions rows; beyond it HF fails, so we refuse too
    if (positions.flat().some((p) => p >= cfg.maxPositions)) throw new ArgumentError(`gptj: position beyond n_positions (${cfg.maxPositions})`);
    const mask = opts.attentionMask ? tensor(Int32Array.from(opts.attentionMask.flat()), [B, past + T], 'int32') : null;
    const { numHeads: NH, headDim: HS, hiddenSize: C, normEps: eps } = cfg;
    const from = firstLayer(opts, cfg, B, T);
    let x = opts.startAt?.hidden ?? embedding(idsTensor(inputIds), this.w('wte.weight'));
    const tables = rotaryTables(this.rotary, positions, x.dtype);
    const hidden: Tensor[] = [];
    for (let l = from; l < cfg.numLayers; l++) {
      if (opts.outputHiddenStates) hidden.push(x);
      x = runHook(opts.hooks, l, 'resid_in', x);
      const pre = `h.${l}.`;
      const h1 = layerNorm(x, this.w(pre + 'ln_1.weight'), this.w(pre + 'ln_1.bias'), eps);
      const heads = (name: string) => permute(reshape(linear(h1, this.w(`${pre}attn.${name}.weight`)), [B, T, NH, HS]), [0, 2, 1, 3]);
      const q = applyRotary(heads('q_proj'), tables, 'interleaved');
      let k = applyRotary(heads('k_proj'), tables, 'interleaved');
      let v = heads('v_proj');
      if (opts.cache) {
        const prev = opts.cache.layers[l];
        if (prev) {
          k = concat([prev.k, k], 2);
          v = concat([prev.v, v], 2);
        }
        opts.cache.set(l, k, v);
      }
      const att = attention(q, k, v, { causal: true, keyMask: mask, scale: 1 / Math.sqrt(HS) });
      let a = linear(reshape(permute(att, [0, 2, 1, 3]), [B, T, C]), this.w(pre + 'attn.out_proj.weight'));
      a = runHook(opts.hooks, l, 'attn_out', a);
      // the MLP reads the same normed input in parallel
      const m = runHook(opts.hooks, l, 'mlp_in', h1);
      let key = linearAct(m, this.w(pre + 'mlp.fc_in.weight'), this.w(pre + 'mlp.fc_in.bias'), 'out_in', this.act);
      key = runHook(opts.hooks, l, 'mlp_key', key);
      let out = linear(key, this.w(pre + 'mlp.fc_out.weight'), this.w(pre + 'mlp.fc_out.bias'));
      out = runHook(opts.hooks, l, 'mlp_out', out);
      // HF's order: (attn + mlp) + residual
      x = add(add(a, out), x);
      x = runHook(opts.hooks, l, 'resid_out', x);
    }
    // the final norm and the head run on the rows whose logits are asked for
    const rows = logitPositions(opts, B);
    if (rows && !opts.outputHiddenStates) x = gatherAt(x, rows);
    x = layerNorm(x, this.w('ln_f.weight'), this.w('ln_f.bias'), eps);
    if (opts.outputHiddenStates) hidden.push(x);
    if (rows && opts.outputHiddenStates) x = gatherAt(x, rows);
    const logits = linear(x, this.param('lm_head.weight'), this.param('lm_head.bias'));
    return { logits: shapeLogits(logits, opts, B), hiddenStates: opts.outputHiddenStates ? hidden : undefined };
  }
}

/**
 * Fresh GPT-J weights as HF initialises them (GPTJPreTrainedModel._init_weights): linears
 * and the embedding ~ N(0, initializer_range) (default 0.02), biases 0, LayerNorm 1 and 0.
 */
export function gptjInitParams(config: ModelConfig, seed: number): Map<string, Tensor> {
  const { hiddenSize: C, intermediateSize: F, vocabSize: V, numLayers: L } = config;
  const std = configNumber(config.raw, 'initializer_range', 0.02);
  const params = new Map<string, Tensor>();
  let s = seed;
  const normal = (shape: number[]) => randn(shape, { seed: s++, std });
  params.set('transformer.wte.weight', normal([V, C]));
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    params.set(p + 'ln_1.weight', full([C], 1));
    params.set(p + 'ln_1.bias', full([C], 0));
    for (const w of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) params.set(`${p}attn.${w}.weight`, normal([C, C]));
    params.set(p + 'mlp.fc_in.weight', normal([F, C]));
    params.set(p + 'mlp.fc_in.bias', full([F], 0));
    params.set(p + 'mlp.fc_out.weight', normal([C, F]));
    params.set(p + 'mlp.fc_out.bias', full([C], 0));
  }
  params.set('transformer.ln_f.weight', full([C], 1));
  params.set('transformer.ln_f.bias', full([C], 0));
  params.set('lm_head.weight', normal([V, C]));
  params.set('lm_head.bias', full([V], 0));
  return params;
}
