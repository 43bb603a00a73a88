/**
 * A `@medit/core` BERT encoder (HF BertModel weights) as ONNX (opset 17), the layout of the usual
 * sentence-encoder exports: inputs `input_ids`, `attention_mask`, `token_type_ids` (int64
 * [batch, sequence]), output `last_hidden_state` (float32 [batch, sequence, hidden]). The graph
 * is BERT's post-norm encoder with standard ops only — Gather, Shape, Slice, Add, Sub, Mul, Cast,
 * Unsqueeze, MatMul, Reshape, Transpose, Softmax, Erf, LayerNormalization — so the same weights
 * run in medit's engine and in onnxruntime (SERAC's ONNX encoder path).
 */
import { ArgumentError, type Bert } from '@medit/core';

import { GraphBuilder, ONNX_OPSET } from './graph';
import { ONNX_FLOAT, ONNX_INT64 } from './protobuf';

/**
 * Serialises `bert` as an ONNX model (deterministic bytes for equal weights).
 * @throws ArgumentError for an activation other than the exact "gelu"
 * @example fs.writeFileSync('model.onnx', bertToOnnx(await loadEncoder(dir)));
 */
export function bertToOnnx(bert: Bert): Buffer {
  const cfg = bert.config;
  const { hiddenSize: C, numHeads: NH, headDim: HS, normEps: eps } = cfg;
  if (cfg.activation !== 'gelu') throw new ArgumentError(`ONNX export: only BERT's exact "gelu" activation is exported (the model uses ${cfg.activation})`);
  const p = bert.prefix;
  const g = new GraphBuilder();
  const param = (name: string): string => {
    const t = bert.param(name);
    return g.init(name, t.shape, t.data() as Float32Array);
  };
  /** HF Linear [out, in] stored transposed as [in, out] for MatMul. */
  const linearT = (name: string): string => {
    const [out, inp] = bert.param(`${name}.weight`).shape;
    const w = bert.param(`${name}.weight`).data() as Float32Array;
    const t = new Float32Array(out * inp);
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i];
    return g.init(`${name}.weight_t`, [inp, out], t);
  };
  const dense = (x: string, name: string): string => g.op('Add', [g.op('MatMul', [x, linearT(name)]), param(`${name}.bias`)]);
  const norm = (x: string, name: string): string => g.op('LayerNormalization', [x, param(`${name}.weight`), param(`${name}.bias`)], { axis: { i: -1 }, epsilon: { f: eps } });

  const dims = ['batch', 'sequence'];
  for (const name of ['input_ids', 'attention_mask', 'token_type_ids']) g.input(name, ONNX_INT64, dims);
  // embeddings: word + token type + positions 0..T−1
  const words = g.op('Gather', [param(`${p}embeddings.word_embeddings.weight`), 'input_ids'], { axis: { i: 0 } });
  const types = g.op('Gather', [param(`${p}embeddings.token_type_embeddings.weight`), 'token_type_ids'], { axis: { i: 0 } });
  const seqLen = g.op('Shape', ['input_ids'], { start: { i: 1 }, end: { i: 2 } });
  const positions = g.op('Slice', [param(`${p}embeddings.position_embeddings.weight`), g.ints('zero_1d', [0]), seqLen, g.ints('axis0', [0])]);
  let x = norm(g.op('Add', [g.op('Add', [words, types]), positions]), `${p}embeddings.LayerNorm`);
  // additive key mask [B, 1, 1, T]: 0 for tokens, −1e9 for padding
  const maskF = g.op('Cast', ['attention_mask'], { to: { i: ONNX_FLOAT } });
  const maskBias = g.op('Unsqueeze', [g.op('Mul', [g.op('Sub', [g.floats('one', 1), maskF]), g.floats('neg_big', -1e9)]), g.ints('axes12', [1, 2])]);
  const headShape = g.ints('head_shape', [0, 0, NH, HS]);
  const mergedShape = g.ints('merged_shape', [0, 0, C]);
  const scale = g.floats('attn_scale', 1 / Math.sqrt(HS));
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${p}encoder.layer.${l}.`;
    const heads = (name: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [dense(x, pre + name), headShape])], { perm: { ints: perm } });
    const q = heads('attention.self.query', [0, 2, 1, 3]);
    const k = heads('attention.self.key', [0, 2, 3, 1]);
    const v = heads('attention.self.value', [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, k]), scale]), maskBias]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: { i: -1 } }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), mergedShape]);
    const m = norm(g.op('Add', [dense(merged, pre + 'attention.output.dense'), x]), pre + 'attention.output.LayerNorm');
    const h = dense(m, pre + 'intermediate.dense');
    // exact GELU: 0.5·h·(1 + erf(h/√2))
    const gelu = g.op('Mul', [g.op('Mul', [h, g.floats('half', 0.5)]), g.op('Add', [g.floats('one', 1), g.op('Erf', [g.op('Mul', [h, g.floats('inv_sqrt2', Math.SQRT1_2)])])])]);
    x = norm(g.op('Add', [dense(gelu, pre + 'output.dense'), m]), pre + 'output.LayerNorm');
  }
  g.output('last_hidden_state', x, [...dims, C]);
  return g.toModel('medit_bert', ONNX_OPSET);
}
