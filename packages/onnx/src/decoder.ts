/**
 * Decoder-only models (`@medit/core`'s GPT-2, Llama / Mistral / Qwen2 and GPT-J) as ONNX graphs
 * (opset 17) with the weights as they are in memory — edited or not — so onnxruntime gives the
 * engine's logits. Two graphs, named and laid out as Hugging Face Optimum's decoder exports:
 *
 * - without past (`decoder_model.onnx`): inputs `input_ids`, `attention_mask`, `position_ids`;
 * - with past (`decoder_with_past_model.onnx`): also `past_key_values.<l>.key` / `.value`
 *   [batch, kv heads, past, head size];
 *
 * both output `logits` [batch, sequence, vocab] and `present.<l>.key` / `.value` (the past and the
 * new tokens' keys and values, rotated keys for rotary models, as HF's cache holds them), so the
 * first graph runs the prompt and the second continues from its cache. `attention_mask` covers
 * past + new tokens (1 = token, 0 = padding); `position_ids` are the new tokens' positions
 * (left padding: count real tokens, as HF generate does).
 *
 * Standard ops only: Gather embeddings; MatMul (+ Add) for linears, through a Transpose of the
 * stored [out, in] weight for nn.Linear (GPT-2's Conv1D [in, out] is used directly);
 * LayerNormalization, or RMSNorm decomposed (ReduceMean, Sqrt, Div, Mul); attention as MatMul,
 * Softmax and a boolean mask (causal LessOrEqual over Range positions, And the key mask, Where);
 * rotary embeddings from position_ids with explicit Cos / Sin (in float64, as the engine builds
 * its tables) and Mul / Add, half-split or interleaved pairing, partial rotary by Slice; grouped-
 * query attention by repeating each kv head (Unsqueeze, Concat, Reshape — HF repeat_kv);
 * activations composed (gelu_new as 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), exact gelu with Erf).
 *
 * Not exported (refused with the reason): float64 weights, dynamic NTK rope scaling (its base
 * depends on the sequence length), sliding-window attention narrower than the model's positions.
 */
import { type CausalLM, ArgumentError, GPT2, GPTJ, Llama, type RotaryConfig, ropeInvFreq } from '@medit/core';

import { type Dim, GraphBuilder, ONNX_OPSET } from './graph';
import { ONNX_BOOL, ONNX_DOUBLE, ONNX_FLOAT, ONNX_INT64 } from './protobuf';

/** Options of {@link decoderToOnnx}. */
export interface DecoderOnnxOptions {
  /** Take `past_key_values.*` inputs (the with-past graph). */
  past: boolean;
}

/** Activation name (config `activation_function` / `hidden_act`) → graph nodes. */
function activation(g: GraphBuilder, name: string, x: string): string {
  switch (name) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
      const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.floats('gelu_c', 0.044715)])]), g.floats('sqrt_2_over_pi', Math.sqrt(2 / Math.PI))]);
      return g.op('Mul', [g.op('Mul', [x, g.floats('half', 0.5)]), g.op('Add', [g.floats('one', 1), g.op('Tanh', [inner])])]);
    }
    case 'gelu':
      return g.op('Mul', [g.op('Mul', [x, g.floats('half', 0.5)]), g.op('Add', [g.floats('one', 1), g.op('Erf', [g.op('Mul', [x, g.floats('inv_sqrt2', Math.SQRT1_2)])])])]);
    case 'relu':
      return g.op('Relu', [x]);
    case 'silu':
    case 'swish':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'tanh':
      return g.op('Tanh', [x]);
    default:
      throw new ArgumentError(`ONNX export: activation "${name}" is not exported (known: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu, silu, swish, tanh)`);
  }
}

/** The graph pieces every family shares. */
class DecoderGraph {
  readonly g = new GraphBuilder();
  /** bool [B, 1, Tq, Tk]: key j is visible to query i (causal and not padding) */
  readonly allowed: string;
  private readonly cfg: CausalLM['config'];

  constructor(
    private readonly model: CausalLM,
    readonly past: boolean,
  ) {
    const cfg = (this.cfg = model.config);
    const g = this.g;
    g.input('input_ids', ONNX_INT64, ['batch', 'sequence']);
    g.input('attention_mask', ONNX_INT64, ['batch', 'total_sequence']);
    g.input('position_ids', ONNX_INT64, ['batch', 'sequence']);
    if (past) {
      for (let l = 0; l < cfg.numLayers; l++) for (const kv of ['key', 'value']) g.input(`past_key_values.${l}.${kv}`, ONNX_FLOAT, this.cacheDims('past_sequence'));
    }
    // query i (absolute position past + i) sees keys j ≤ past + i whose mask is 1
    const axis0 = g.ints('axis_0', [0]);
    const tq = g.op('Shape', ['input_ids'], { start: { i: 1 }, end: { i: 2 } });
    const tk = g.op('Shape', ['attention_mask'], { start: { i: 1 }, end: { i: 2 } });
    const pastLen = g.op('Sub', [tk, tq]);
    const one = g.ints('one_i64', 1);
    const qPos = g.op('Range', [g.op('Squeeze', [pastLen, axis0]), g.op('Squeeze', [tk, axis0]), one]);
    const kPos = g.op('Range', [g.ints('zero_i64', 0), g.op('Squeeze', [tk, axis0]), one]);
    const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [kPos, axis0]), g.op('Unsqueeze', [qPos, g.ints('axis_1', [1])])]);
    const keys = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: { i: ONNX_BOOL } }), g.ints('axes_1_2', [1, 2])]);
    this.allowed = g.op('And', [causal, keys]);
  }

  cacheDims(time: string): Dim[] {
    return ['batch', this.cfg.numKvHeads, time, this.cfg.headDim];
  }

  /** A float32 weight of the model as an initializer (named as in the checkpoint). */
  weight(name: string): string {
    const t = this.model.param(name);
    if (t.dtype !== 'float32') throw new ArgumentError(`ONNX export: ${name} is ${t.dtype}; export a float32 model (load it without dtype)`);
    return this.g.init(name, t.shape, t.data() as Float32Array);
  }

  has(name: string): boolean {
    return this.model.params.has(name);
  }

  /** x @ W (+ b): `in_out` weights (Conv1D) directly, `out_in` (nn.Linear) through a Transpose. */
  linear(x: string, stem: string, layout: 'in_out' | 'out_in'): string {
    const w = this.weight(`${stem}.weight`);
    const y = this.g.op('MatMul', [x, layout === 'in_out' ? w : this.g.op('Transpose', [w], { perm: { ints: [1, 0] } })]);
    return this.has(`${stem}.bias`) ? this.g.op('Add', [y, this.weight(`${stem}.bias`)]) : y;
  }

  layerNorm(x: string, stem: string): string {
    return this.g.op('LayerNormalization', [x, this.weight(`${stem}.weight`), this.weight(`${stem}.bias`)], { axis: { i: -1 }, epsilon: { f: this.cfg.normEps } });
  }

  /** RMSNorm (HF LlamaRMSNorm): x / √(mean(x²) + eps) · w. */
  rmsNorm(x: string, stem: string): string {
    const g = this.g;
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    const rms = g.op('Sqrt', [g.op('Add', [ms, g.floats('rms_eps', this.cfg.normEps)])]);
    return g.op('Mul', [g.op('Div', [x, rms]), this.weight(`${stem}.weight`)]);
  }

  /** [B, T, n·HS] → [B, n, T, HS] */
  heads(y: string, n: number): string {
    return this.g.op('Transpose', [this.g.op('Reshape', [y, this.g.ints(`heads_${n}`, [0, 0, n, this.cfg.headDim])])], { perm: { ints: [0, 2, 1, 3] } });
  }

  /** cos / sin [B, 1, T, d] for the positions, from the inverse frequencies (float64 Cos / Sin, then float32). */
  rotaryTables(rc: RotaryConfig): { cos: string; sin: string } {
    if (rc.scaling.type === 'dynamic') throw new ArgumentError('ONNX export: dynamic NTK rope scaling is not exported (its base depends on the sequence length)');
    const g = this.g;
    const d = rc.rotaryDim;
    const angles = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: { i: ONNX_DOUBLE } }), g.ints('axis_2', [2])]), g.init('rope_inv_freq', [d / 2], ropeInvFreq(rc))]);
    const table = (fn: 'Cos' | 'Sin') => {
      const half = g.op(fn, [angles]); // [B, T, d/2]
      const full =
        rc.layout === 'half'
          ? g.op('Concat', [half, half], { axis: { i: -1 } }) // [θ₀..θ_{d/2−1}, θ₀..θ_{d/2−1}]
          : g.op('Reshape', [g.op('Concat', [g.op('Unsqueeze', [half, g.ints('axis_3', [3])]), g.op('Unsqueeze', [half, g.ints('axis_3', [3])])], { axis: { i: 3 } }), g.ints('rope_shape', [0, 0, d])]); // [θ₀, θ₀, θ₁, θ₁, ...]
      return g.op('Unsqueeze', [g.op('Cast', [full], { to: { i: ONNX_FLOAT } }), g.ints('axis_1', [1])]);
    };
    return { cos: table('Cos'), sin: table('Sin') };
  }

  /** x·cos + partner(x)·sin on the first d channels of each head of x [B, H, T, HS] (core's applyRotary). */
  rotary(x: string, t: { cos: string; sin: string }, rc: RotaryConfig): string {
    const g = this.g;
    const d = rc.rotaryDim;
    const HS = this.cfg.headDim;
    const slice = (v: string, axis: number, start: number, end: number) => g.op('Slice', [v, g.ints(`start_${start}`, [start]), g.ints(`end_${end}`, [end]), g.ints(`axis_${axis}`, [axis])]);
    const rot = d === HS ? x : slice(x, 3, 0, d);
    let partner: string;
    if (rc.layout === 'half') {
      // rotate_half: [−x[d/2:], x[:d/2]]
      partner = g.op('Concat', [g.op('Neg', [slice(rot, 3, d / 2, d)]), slice(rot, 3, 0, d / 2)], { axis: { i: 3 } });
    } else {
      // rotate_every_two: pairs (2i, 2i+1) → (−x₂ᵢ₊₁, x₂ᵢ)
      const pairs = g.op('Reshape', [rot, g.ints('pairs_shape', [0, 0, 0, d / 2, 2])]);
      const swapped = g.op('Concat', [g.op('Neg', [slice(pairs, 4, 1, 2)]), slice(pairs, 4, 0, 1)], { axis: { i: 4 } });
      partner = g.op('Reshape', [swapped, g.ints('unpairs_shape', [0, 0, 0, d])]);
    }
    const out = g.op('Add', [g.op('Mul', [rot, t.cos]), g.op('Mul', [partner, t.sin])]);
    return d === HS ? out : g.op('Concat', [out, slice(x, 3, d, HS)], { axis: { i: 3 } });
  }

  /**
   * Attention of layer l: q [B, NH, Tq, HS] over the past and new keys/values [B, NKV, T, HS]
   * (emitted as `present.<l>.*`), kv heads repeated for grouped-query attention; returns [B, Tq, NH·HS].
   */
  attention(l: number, q: string, k: string, v: string, scale: number): string {
    const g = this.g;
    const { numHeads: NH, numKvHeads: NKV, headDim: HS } = this.cfg;
    const withPast = (x: string, kv: 'key' | 'value') => {
      const all = this.past ? g.op('Concat', [`past_key_values.${l}.${kv}`, x], { axis: { i: 2 } }) : x;
      g.output(`present.${l}.${kv}`, all, this.cacheDims('total_sequence'));
      return all;
    };
    // HF repeat_kv: [B, NKV, T, HS] → [B, NKV, n_rep, T, HS] → [B, NH, T, HS]
    const repeat = (x: string) => {
      if (NKV === NH) return x;
      const one = g.op('Unsqueeze', [x, g.ints('axis_2', [2])]);
      return g.op('Reshape', [g.op('Concat', Array(NH / NKV).fill(one), { axis: { i: 2 } }), g.ints('repeat_shape', [0, NH, -1, HS])]);
    };
    const keys = repeat(withPast(k, 'key'));
    const values = repeat(withPast(v, 'value'));
    const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [keys], { perm: { ints: [0, 1, 3, 2] } })]), g.floats(`attn_scale_${scale}`, scale)]);
    const masked = g.op('Where', [this.allowed, scores, g.floats('mask_min', -3.4028234663852886e38)]);
    const ctx = g.op('MatMul', [g.op('Softmax', [masked], { axis: { i: -1 } }), values]);
    return g.op('Reshape', [g.op('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), g.ints('merged_shape', [0, 0, NH * HS])]);
  }

  /** logits = x Hᵀ (+ b) and the model bytes. */
  finish(x: string, head: string, headBias: string | null): Buffer {
    const g = this.g;
    const y = g.op('MatMul', [x, g.op('Transpose', [this.weight(head)], { perm: { ints: [1, 0] } })]);
    g.output('logits', headBias ? g.op('Add', [y, this.weight(headBias)]) : y, ['batch', 'sequence', this.cfg.vocabSize]);
    return g.toModel(`medit_${this.cfg.modelType}${this.past ? '_with_past' : ''}`, ONNX_OPSET);
  }
}

function gpt2Graph(model: GPT2, past: boolean): Buffer {
  const cfg = model.config;
  const d = new DecoderGraph(model, past);
  const g = d.g;
  const p = model.prefix;
  const C = cfg.hiddenSize;
  let x = g.op('Add', [g.op('Gather', [d.weight(`${p}wte.weight`), 'input_ids'], { axis: { i: 0 } }), g.op('Gather', [d.weight(`${p}wpe.weight`), 'position_ids'], { axis: { i: 0 } })]);
  const scaleBase = cfg.raw.scale_attn_weights === false ? 1 : 1 / Math.sqrt(cfg.headDim);
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${p}h.${l}.`;
    const qkv = d.linear(d.layerNorm(x, pre + 'ln_1'), pre + 'attn.c_attn', 'in_out');
    const part = (i: number) => d.heads(g.op('Slice', [qkv, g.ints(`start_${i * C}`, [i * C]), g.ints(`end_${(i + 1) * C}`, [(i + 1) * C]), g.ints('axis_2', [2])]), cfg.numHeads);
    const scale = cfg.raw.scale_attn_by_inverse_layer_idx === true ? scaleBase / (l + 1) : scaleBase;
    const att = d.attention(l, part(0), part(1), part(2), scale);
    x = g.op('Add', [x, d.linear(att, pre + 'attn.c_proj', 'in_out')]);
    const key = activation(g, cfg.activation, d.linear(d.layerNorm(x, pre + 'ln_2'), pre + 'mlp.c_fc', 'in_out'));
    x = g.op('Add', [x, d.linear(key, pre + 'mlp.c_proj', 'in_out')]);
  }
  x = d.layerNorm(x, `${p}ln_f`);
  return d.finish(x, cfg.tieWordEmbeddings ? `${p}wte.weight` : 'lm_head.weight', null);
}

function llamaGraph(model: Llama, past: boolean): Buffer {
  const cfg = model.config;
  const raw = cfg.raw;
  const window = cfg.modelType === 'mistral' || (cfg.modelType === 'qwen2' && raw.use_sliding_window === true) ? raw.sliding_window : null;
  if (typeof window === 'number' && window < cfg.maxPositions) {
    throw new ArgumentError(`ONNX export: ${cfg.modelType}'s sliding window (${window}) is narrower than its ${cfg.maxPositions} positions; sliding-window attention is not exported`);
  }
  const d = new DecoderGraph(model, past);
  const g = d.g;
  const p = model.prefix;
  const tables = d.rotaryTables(model.rotary);
  let x = g.op('Gather', [d.weight(`${p}embed_tokens.weight`), 'input_ids'], { axis: { i: 0 } });
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${p}layers.${l}.`;
    const h = d.rmsNorm(x, pre + 'input_layernorm');
    const proj = (name: string, n: number) => d.heads(d.linear(h, `${pre}self_attn.${name}`, 'out_in'), n);
    const q = d.rotary(proj('q_proj', cfg.numHeads), tables, model.rotary);
    const k = d.rotary(proj('k_proj', cfg.numKvHeads), tables, model.rotary);
    const att = d.attention(l, q, k, proj('v_proj', cfg.numKvHeads), 1 / Math.sqrt(cfg.headDim));
    x = g.op('Add', [x, d.linear(att, pre + 'self_attn.o_proj', 'out_in')]);
    const m = d.rmsNorm(x, pre + 'post_attention_layernorm');
    const key = g.op('Mul', [activation(g, cfg.activation, d.linear(m, pre + 'mlp.gate_proj', 'out_in')), d.linear(m, pre + 'mlp.up_proj', 'out_in')]);
    x = g.op('Add', [x, d.linear(key, pre + 'mlp.down_proj', 'out_in')]);
  }
  x = d.rmsNorm(x, `${p}norm`);
  return d.finish(x, cfg.tieWordEmbeddings ? `${p}embed_tokens.weight` : 'lm_head.weight', null);
}

function gptjGraph(model: GPTJ, past: boolean): Buffer {
  const cfg = model.config;
  const d = new DecoderGraph(model, past);
  const g = d.g;
  const p = model.prefix;
  const tables = d.rotaryTables(model.rotary);
  let x = g.op('Gather', [d.weight(`${p}wte.weight`), 'input_ids'], { axis: { i: 0 } });
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${p}h.${l}.`;
    const h = d.layerNorm(x, pre + 'ln_1');
    const proj = (name: string) => d.heads(d.linear(h, `${pre}attn.${name}`, 'out_in'), cfg.numHeads);
    const q = d.rotary(proj('q_proj'), tables, model.rotary);
    const k = d.rotary(proj('k_proj'), tables, model.rotary);
    const a = d.linear(d.attention(l, q, k, proj('v_proj'), 1 / Math.sqrt(cfg.headDim)), pre + 'attn.out_proj', 'out_in');
    // attention and MLP read the same normed input in parallel; HF's order: (attn + mlp) + residual
    const out = d.linear(activation(g, cfg.activation, d.linear(h, pre + 'mlp.fc_in', 'out_in')), pre + 'mlp.fc_out', 'out_in');
    x = g.op('Add', [g.op('Add', [a, out]), x]);
  }
  x = d.layerNorm(x, `${p}ln_f`);
  return d.finish(x, 'lm_head.weight', 'lm_head.bias');
}

/**
 * Serialises a causal LM's current weights as an ONNX graph, without or with past key/value
 * inputs (see the file comment for the inputs and outputs). Deterministic bytes for equal weights.
 * @throws ArgumentError for a family or setting that is not exported (named)
 * @example fs.writeFileSync('decoder_model.onnx', decoderToOnnx(model, { past: false }));
 */
export function decoderToOnnx(model: CausalLM, opts: DecoderOnnxOptions): Buffer {
  if (model instanceof GPT2) return gpt2Graph(model, opts.past);
  if (model instanceof Llama) return llamaGraph(model, opts.past);
  if (model instanceof GPTJ) return gptjGraph(model, opts.past);
  throw new ArgumentError(`ONNX export: model_type ${JSON.stringify(model.config.modelType)} is not exported (gpt2, llama, mistral, qwen2, gptj are)`);
}
