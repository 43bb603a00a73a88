/**
 * Exports a `@medit/core` BERT encoder (HF BertModel weights) to ONNX (opset 17), the layout of
 * the usual sentence-encoder exports: inputs `input_ids`, `attention_mask`, `token_type_ids`
 * (int64 [batch, sequence]), output `last_hidden_state` (float32 [batch, sequence, hidden]).
 * The graph is BERT's post-norm encoder with standard ops only — Gather, Shape, Slice, Add, Sub,
 * Mul, Cast, Unsqueeze, MatMul, Reshape, Transpose, Softmax, Erf, LayerNormalization — so the same
 * weights run in medit's engine and in onnxruntime (used to test SERAC's ONNX encoder path).
 *
 *   node scripts/dist/onnx/export-bert.js --model DIR [--out DIR/model.onnx]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type Bert, loadEncoder } from '@medit/core';

import { type Attr, graphProto, modelProto, type Msg, nodeProto, ONNX_FLOAT, ONNX_INT64, tensorProto, valueInfo } from './protobuf';
import { arg } from '../args';

/** Serialises `bert` as an ONNX model (deterministic bytes for equal weights). */
export function bertToOnnx(bert: Bert): Buffer {
  const cfg = bert.config;
  const { hiddenSize: C, numHeads: NH, headDim: HS, normEps: eps } = cfg;
  if (cfg.activation !== 'gelu') throw new Error(`export-bert: only the exact "gelu" activation is exported (the model uses ${cfg.activation})`);
  const p = bert.prefix;
  const nodes: Msg[] = [];
  const inits: Msg[] = [];
  let n = 0;
  const op = (type: string, inputs: string[], attrs: Record<string, Attr> = {}, name?: string): string => {
    const out = name ?? `${type.toLowerCase()}_${n++}`;
    nodes.push(nodeProto(type, inputs, [out], `${type}_${n}`, attrs));
    return out;
  };
  const weight = (name: string): Float32Array => bert.param(name).data() as Float32Array;
  const init = (name: string, dims: number[], data: Float32Array | BigInt64Array): string => {
    inits.push(tensorProto(name, dims, data));
    return name;
  };
  const param = (name: string): string => init(name, [...bert.param(name).shape], weight(name));
  /** HF Linear [out, in] stored transposed as [in, out] for MatMul. */
  const linearT = (name: string): string => {
    const [out, inp] = bert.param(`${name}.weight`).shape;
    const w = weight(`${name}.weight`);
    const t = new Float32Array(out * inp);
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i];
    return init(`${name}.weight_t`, [inp, out], t);
  };
  const dense = (x: string, name: string): string => op('Add', [op('MatMul', [x, linearT(name)]), param(`${name}.bias`)]);
  const norm = (x: string, name: string): string => op('LayerNormalization', [x, param(`${name}.weight`), param(`${name}.bias`)], { axis: { i: -1 }, epsilon: { f: eps } });
  const scalar = (name: string, v: number): string => init(name, [], Float32Array.of(v));
  const ints = (name: string, v: number[]): string => init(name, [v.length], BigInt64Array.from(v.map(BigInt)));

  // embeddings: word + token type + positions 0..T−1
  const words = op('Gather', [param(`${p}embeddings.word_embeddings.weight`), 'input_ids'], { axis: { i: 0 } });
  const types = op('Gather', [param(`${p}embeddings.token_type_embeddings.weight`), 'token_type_ids'], { axis: { i: 0 } });
  const seqLen = op('Shape', ['input_ids'], { start: { i: 1 }, end: { i: 2 } });
  const positions = op('Slice', [param(`${p}embeddings.position_embeddings.weight`), ints('zero_1d', [0]), seqLen, ints('axis0', [0])]);
  let x = norm(op('Add', [op('Add', [words, types]), positions]), `${p}embeddings.LayerNorm`);
  // additive key mask [B, 1, 1, T]: 0 for tokens, −1e9 for padding
  const maskF = op('Cast', ['attention_mask'], { to: { i: ONNX_FLOAT } });
  const maskBias = op('Unsqueeze', [op('Mul', [op('Sub', [scalar('one', 1), maskF]), scalar('neg_big', -1e9)]), ints('axes12', [1, 2])]);
  const headShape = ints('head_shape', [0, 0, NH, HS]);
  const mergedShape = ints('merged_shape', [0, 0, C]);
  const scale = scalar('attn_scale', 1 / Math.sqrt(HS));
  const half = scalar('half', 0.5);
  const invSqrt2 = scalar('inv_sqrt2', Math.SQRT1_2);
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `${p}encoder.layer.${l}.`;
    const heads = (name: string, perm: number[]) => op('Transpose', [op('Reshape', [dense(x, pre + name), headShape])], { perm: { ints: perm } });
    const q = heads('attention.self.query', [0, 2, 1, 3]);
    const k = heads('attention.self.key', [0, 2, 3, 1]);
    const v = heads('attention.self.value', [0, 2, 1, 3]);
    const scores = op('Add', [op('Mul', [op('MatMul', [q, k]), scale]), maskBias]);
    const ctx = op('MatMul', [op('Softmax', [scores], { axis: { i: -1 } }), v]);
    const merged = op('Reshape', [op('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), mergedShape]);
    const m = norm(op('Add', [dense(merged, pre + 'attention.output.dense'), x]), pre + 'attention.output.LayerNorm');
    const h = dense(m, pre + 'intermediate.dense');
    // exact GELU: 0.5·h·(1 + erf(h/√2))
    const gelu = op('Mul', [op('Mul', [h, half]), op('Add', [scalar(`one_${l}`, 1), op('Erf', [op('Mul', [h, invSqrt2])])])]);
    x = norm(op('Add', [dense(gelu, pre + 'output.dense'), m]), pre + 'output.LayerNorm');
  }
  nodes.push(nodeProto('Identity', [x], ['last_hidden_state'], 'output'));
  const dims = ['batch', 'sequence'];
  const graph = graphProto(
    'medit_bert',
    nodes,
    inits,
    ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => valueInfo(name, ONNX_INT64, dims)),
    [valueInfo('last_hidden_state', ONNX_FLOAT, [...dims, C])],
  );
  return modelProto(graph, 17);
}

/** Loads a BERT directory and writes its ONNX export atomically. */
export async function exportBertOnnx(modelDir: string, out: string): Promise<void> {
  const bert = await loadEncoder(modelDir);
  try {
    const bytes = bertToOnnx(bert);
    const tmp = `${out}.tmp-${process.pid}`;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, out);
  } finally {
    bert.dispose();
  }
}

if (require.main === module) {
  const dir = arg('model');
  exportBertOnnx(dir, arg('out', path.join(dir, 'model.onnx'))).catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
