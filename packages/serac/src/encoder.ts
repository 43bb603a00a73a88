/**
 * Sentence encoders for SERAC's scope classifier and IKE's demonstration retrieval
 * (specs/meta-and-memory.md §2.1, §4.2): a BERT-family model run by medit's engine
 * (`@medit/core` `Bert`), or any ONNX sentence encoder (the usual MiniLM-type export: inputs
 * `input_ids`, `attention_mask` and optionally `token_type_ids` as int64, output
 * `last_hidden_state` [B, T, C]) run by onnxruntime-node; also a GPT-2 run by the engine
 * ({@link LmEncoder}). {@link loadTextEncoder} picks the backend from the model path. All return
 * the last hidden states; pooling (first token, last token or masked mean) and any head are
 * computed here, on the host, so the same weights give the same sentence vectors in both backends.
 *
 * onnxruntime-node's public `InferenceSession.run` is asynchronous, but a scope classifier runs
 * inside `model.forward` (synchronous), so the ONNX backend drives the package's native session
 * object directly (its `run` is synchronous; the public API only defers it with `setImmediate`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ArgumentError, type Bert, IOError, loadEncoder, loadModel, noGrad, type Tensor, tidy, Tokenizer } from '@medit/core';

import { LmEncoder } from './lm-encoder';

/**
 * How token states become one sentence vector: the first token's state (BERT `[CLS]`, SERAC), the
 * masked mean (sentence-transformers MiniLM), or the last real token's state (a causal LM, whose
 * last position is the only one that has read the whole text).
 */
export type Pooling = 'cls' | 'mean' | 'last';

/** What computes the hidden states: a bidirectional BERT-family encoder, or a causal LM ({@link LmEncoder}). */
export type EncoderFamily = 'bert' | 'lm';

/** A padded batch of token ids with its attention mask and segment ids, all [B][T]. */
export interface EncoderBatch {
  ids: number[][];
  mask: number[][];
  types: number[][];
}

/** A text encoder: a tokenizer and a function from a padded batch to last hidden states. */
export interface TextEncoder {
  readonly backend: 'engine' | 'onnx';
  readonly tokenizer: Tokenizer;
  readonly hiddenSize: number;
  /** Longest sequence the encoder accepts (position table / tokenizer limit). */
  readonly maxLength: number;
  readonly pooling: Pooling;
  /** Last hidden states of a batch, row-major [B, T, C]. */
  lastHidden(batch: EncoderBatch): Float32Array;
  /** Token ids of one text, for an encoder that reads texts otherwise than {@link encodeSingle}'s `[CLS] text [SEP]`. */
  encode?(text: string): number[];
  dispose(): void;
}

/** Options of {@link loadTextEncoder}. */
export interface LoadTextEncoderOptions {
  /** Force a backend (default: ONNX for a `.onnx` file or a directory with `model.onnx` / `onnx/model.onnx` and no safetensors, else the engine). */
  backend?: 'engine' | 'onnx';
  /** Pooling (default: sentence-transformers' `1_Pooling/config.json` when present, else `cls`; `last` for an LM). */
  pooling?: Pooling;
  /** `lm`: the directory is a GPT-2 read as an {@link LmEncoder} (engine only); default `bert`. */
  encoder?: EncoderFamily;
  /** onnxruntime intra-op threads (default 1: medit's machines are shared). */
  threads?: number;
}

function clsSep(tok: Tokenizer): { cls?: number; sep?: number } {
  return { cls: tok.clsTokenId, sep: tok.sepTokenId ?? tok.eosTokenId };
}

/**
 * Token ids of one text as the encoder expects them: its own `encode` when it has one, else
 * `[CLS] text [SEP]` when the tokenizer declares a classifier token, else the tokenizer's own
 * encoding; truncated to `maxLength` (keeping the final separator).
 */
export function encodeSingle(enc: Pick<TextEncoder, 'tokenizer' | 'maxLength' | 'encode'>, text: string): number[] {
  if (enc.encode) return enc.encode(text);
  const { cls, sep } = clsSep(enc.tokenizer);
  const ids = cls === undefined ? enc.tokenizer.encode(text) : [cls, ...enc.tokenizer.encode(text, { addSpecialTokens: false }), ...(sep === undefined ? [] : [sep])];
  return truncate(ids, enc.maxLength, sep);
}

/**
 * A sentence pair for a cross-encoder: `[CLS] a [SEP] b [SEP]` with segment ids 0 for the first
 * part and 1 for the second (BERT convention; DistilBERT-style models ignore them). The first text
 * is kept whole and the second truncated when the pair is too long.
 * @throws ArgumentError when the tokenizer declares no separator token
 */
export function encodePair(enc: Pick<TextEncoder, 'tokenizer' | 'maxLength'>, a: string, b: string): { ids: number[]; types: number[] } {
  const { cls, sep } = clsSep(enc.tokenizer);
  if (sep === undefined) throw new ArgumentError('encodePair: the encoder tokenizer declares no separator (sep or eos) token');
  const first = [...(cls === undefined ? [] : [cls]), ...enc.tokenizer.encode(a, { addSpecialTokens: false }), sep];
  const second = [...enc.tokenizer.encode(b, { addSpecialTokens: false }), sep];
  const room = Math.max(enc.maxLength - first.length, 1);
  const tail = second.length > room ? [...second.slice(0, room - 1), sep] : second;
  const ids = [...first, ...tail].slice(0, enc.maxLength);
  return { ids, types: ids.map((_, i) => (i < first.length ? 0 : 1)) };
}

function truncate(ids: number[], max: number, sep: number | undefined): number[] {
  if (ids.length <= max) return ids;
  return sep === undefined ? ids.slice(0, max) : [...ids.slice(0, max - 1), sep];
}

/** Right-pads sequences (pad id 0, masked) into an {@link EncoderBatch}. */
export function padBatch(seqs: readonly number[][], types?: readonly number[][], pad = 0): EncoderBatch {
  if (seqs.length === 0) throw new ArgumentError('padBatch: no sequences');
  const T = Math.max(...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...s, ...Array(T - s.length).fill(pad)]),
    mask: seqs.map((s) => [...Array(s.length).fill(1), ...Array(T - s.length).fill(0)]),
    types: seqs.map((s, i) => [...(types?.[i] ?? s.map(() => 0)), ...Array(T - s.length).fill(0)]),
  };
}

/** Pools last hidden states [B, T, C] into sentence vectors, one Float32Array per row. */
export function poolHidden(hidden: Float32Array, batch: EncoderBatch, C: number, pooling: Pooling): Float32Array[] {
  const T = batch.ids[0].length;
  return batch.ids.map((_, b) => {
    const out = new Float32Array(C);
    if (pooling === 'cls' || pooling === 'last') {
      const t = pooling === 'cls' ? 0 : batch.mask[b].lastIndexOf(1);
      out.set(hidden.subarray((b * T + t) * C, (b * T + t + 1) * C));
      return out;
    }
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (!batch.mask[b][t]) continue;
      n++;
      const base = (b * T + t) * C;
      for (let c = 0; c < C; c++) out[c] += hidden[base + c];
    }
    for (let c = 0; c < C; c++) out[c] /= Math.max(n, 1);
    return out;
  });
}

/**
 * Sentence vectors of texts (`batchSize` texts per encoder call).
 * @example const [a, b] = embedTexts(encoder, ['Leda Vagam works as a', 'Who employs Leda Vagam?']);
 */
export function embedTexts(encoder: TextEncoder, texts: readonly string[], batchSize = 32): Float32Array[] {
  const out: Float32Array[] = [];
  for (let s = 0; s < texts.length; s += batchSize) {
    const batch = padBatch(texts.slice(s, s + batchSize).map((t) => encodeSingle(encoder, t)));
    out.push(...poolHidden(encoder.lastHidden(batch), batch, encoder.hiddenSize, encoder.pooling));
  }
  return out;
}

/** A `@medit/core` BERT run by the engine. */
export class EngineEncoder implements TextEncoder {
  readonly backend = 'engine' as const;
  readonly tokenizer: Tokenizer;

  constructor(
    readonly model: Bert,
    readonly pooling: Pooling = 'cls',
    tokenizer?: Tokenizer,
  ) {
    const tok = tokenizer ?? model.tokenizer;
    if (!tok) throw new ArgumentError('EngineEncoder: the BERT model has no tokenizer (load a directory with tokenizer.json)');
    this.tokenizer = tok;
  }

  get hiddenSize(): number {
    return this.model.config.hiddenSize;
  }

  get maxLength(): number {
    return this.model.config.maxPositions;
  }

  /** Last hidden states [B, T, C] as a tensor (differentiable: the scope classifier's training reads it). */
  hidden(batch: EncoderBatch): Tensor {
    return this.model.forward(batch.ids, { attentionMask: batch.mask, tokenTypeIds: batch.types }).lastHiddenState;
  }

  lastHidden(batch: EncoderBatch): Float32Array {
    return noGrad(() => tidy(() => this.hidden(batch).data() as Float32Array));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** The part of onnxruntime-node's native session object this file uses. */
interface NativeSession {
  loadModel(file: string, options: object): void;
  readonly inputMetadata: { name: string }[];
  readonly outputMetadata: { name: string }[];
  run(feeds: Record<string, unknown>, fetches: Record<string, null>, options: object): Record<string, { data: Float32Array; dims: readonly number[] }>;
  dispose(): void;
}

interface OrtModules {
  Session: new () => NativeSession;
  Tensor: new (type: string, data: BigInt64Array, dims: number[]) => unknown;
}

let ort: OrtModules | undefined;
function onnxRuntime(): OrtModules {
  if (ort) return ort;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const b = require('onnxruntime-node/dist/binding') as { binding: { InferenceSession: new () => NativeSession }; initOrt(): void };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const common = require('onnxruntime-common') as { Tensor: OrtModules['Tensor'] };
    b.initOrt();
    ort = { Session: b.binding.InferenceSession, Tensor: common.Tensor };
    return ort;
  } catch (err) {
    throw new IOError(`onnxruntime-node is not available (${(err as Error).message}); install it with npm install onnxruntime-node`);
  }
}

/** An ONNX sentence encoder run by onnxruntime-node (CPU). */
export class OnnxEncoder implements TextEncoder {
  readonly backend = 'onnx' as const;
  private readonly session: NativeSession;
  private readonly inputs: Set<string>;
  private readonly output: string;
  private width = -1;

  /**
   * @param file - the .onnx model (the width C of its `last_hidden_state` is read on the first call)
   * @throws IOError when onnxruntime-node is missing or cannot load the file
   */
  constructor(
    readonly file: string,
    readonly tokenizer: Tokenizer,
    readonly maxLength: number,
    readonly pooling: Pooling,
    threads = 1,
  ) {
    const { Session } = onnxRuntime();
    this.session = new Session();
    try {
      this.session.loadModel(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    } catch (err) {
      throw new IOError(`${file}: onnxruntime cannot load the model (${(err as Error).message})`);
    }
    this.inputs = new Set(this.session.inputMetadata.map((m) => m.name));
    for (const need of ['input_ids', 'attention_mask']) if (!this.inputs.has(need)) throw new IOError(`${file}: the ONNX encoder has no input "${need}" (inputs: ${[...this.inputs].join(', ')})`);
    const outs = this.session.outputMetadata.map((m) => m.name);
    this.output = outs.includes('last_hidden_state') ? 'last_hidden_state' : outs[0];
  }

  /** C of the model's output (known after the first call; -1 before). */
  get hiddenSize(): number {
    if (this.width < 0) this.lastHidden(padBatch([encodeSingle(this, 'a')]));
    return this.width;
  }

  lastHidden(batch: EncoderBatch): Float32Array {
    const { Tensor } = onnxRuntime();
    const B = batch.ids.length;
    const T = batch.ids[0].length;
    const i64 = (rows: number[][]) => new Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [B, T]);
    const feeds: Record<string, unknown> = { input_ids: i64(batch.ids), attention_mask: i64(batch.mask) };
    if (this.inputs.has('token_type_ids')) feeds.token_type_ids = i64(batch.types);
    const out = this.session.run(feeds, { [this.output]: null }, {})[this.output];
    if (out.dims.length !== 3 || out.dims[0] !== B || out.dims[1] !== T) throw new IOError(`${this.file}: output ${this.output} has shape [${out.dims}], expected [${B}, ${T}, C]`);
    this.width = out.dims[2];
    return out.data;
  }

  dispose(): void {
    this.session.dispose();
  }
}

function readPooling(dir: string): Pooling | undefined {
  const f = path.join(dir, '1_Pooling', 'config.json');
  if (!fs.existsSync(f)) return undefined;
  const cfg = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
  if (cfg.pooling_mode_mean_tokens) return 'mean';
  if (cfg.pooling_mode_cls_token) return 'cls';
  throw new IOError(`${f}: only CLS or mean pooling is supported`);
}

function findOnnx(p: string): string | undefined {
  if (p.endsWith('.onnx')) return p;
  for (const f of ['model.onnx', path.join('onnx', 'model.onnx')]) if (fs.existsSync(path.join(p, f))) return path.join(p, f);
  return undefined;
}

/** The tokenizer.json beside an ONNX file or one folder up (the `onnx/model.onnx` layout). */
function onnxTokenizerDir(file: string): string {
  for (const d of [path.dirname(file), path.dirname(path.dirname(file))]) if (fs.existsSync(path.join(d, 'tokenizer.json'))) return d;
  throw new IOError(`${file}: no tokenizer.json beside the ONNX model or one folder up`);
}

/**
 * Loads a sentence encoder from a path: a `.onnx` file or a directory holding `model.onnx` or
 * `onnx/model.onnx` (and no `model.safetensors`) runs on onnxruntime-node; a Hugging Face BERT
 * directory runs on the engine, and so does a GPT-2 directory with `encoder: 'lm'`.
 * @throws IOError for a path that is neither, or when loading fails
 * @example const enc = await loadTextEncoder('test-fixtures/serac/classifier/encoder.onnx');
 */
export async function loadTextEncoder(p: string, opts: LoadTextEncoderOptions = {}): Promise<TextEncoder> {
  if (!fs.existsSync(p)) throw new IOError(`${p}: no such encoder file or directory`);
  if (opts.encoder === 'lm') return loadLmEncoder(p, opts);
  const onnx = findOnnx(p);
  const isDir = fs.statSync(p).isDirectory();
  const hasWeights = isDir && fs.existsSync(path.join(p, 'model.safetensors'));
  const backend = opts.backend ?? (onnx && !hasWeights ? 'onnx' : 'engine');
  if (backend === 'onnx') {
    if (!onnx) throw new IOError(`${p}: no .onnx model (expected a .onnx file, model.onnx or onnx/model.onnx)`);
    const tokDir = onnxTokenizerDir(onnx);
    const tokenizer = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
    const cfgFile = path.join(tokDir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgFile) ? (JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>) : {};
    const maxLength = typeof cfg.model_max_length === 'number' && cfg.model_max_length < 1e6 ? cfg.model_max_length : 512;
    return new OnnxEncoder(onnx, tokenizer, maxLength, opts.pooling ?? readPooling(tokDir) ?? 'cls', opts.threads ?? 1);
  }
  if (!isDir) throw new IOError(`${p}: the engine backend needs a Hugging Face BERT directory`);
  return new EngineEncoder(await loadEncoder(p), opts.pooling ?? readPooling(p) ?? 'cls');
}

/** A GPT-2 directory as an {@link LmEncoder}. */
async function loadLmEncoder(p: string, opts: LoadTextEncoderOptions): Promise<LmEncoder> {
  if (opts.backend === 'onnx') throw new ArgumentError(`loadTextEncoder: an LM encoder runs on the engine only, not onnx (${p})`);
  if (!fs.statSync(p).isDirectory()) throw new IOError(`${p}: an LM encoder is a Hugging Face GPT-2 directory`);
  const model = await loadModel(p);
  try {
    return new LmEncoder(model, opts.pooling ?? 'last');
  } catch (err) {
    model.dispose();
    throw new IOError(`${p}: ${(err as Error).message}`);
  }
}
