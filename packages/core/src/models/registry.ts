/**
 * The `model_type` registry and Hugging Face directory I/O: `loadModel(dir)` reads
 * config.json, the safetensors checkpoint (sharded too) and tokenizer.json; `saveModel`
 * writes the same layout atomically (a temp directory renamed into place).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { DType } from '@medit/native';

import { ArgumentError, IOError, ShapeError } from '../errors';
import { writeDirAtomic } from '../io/atomic-write';
import { readCheckpoint, writeCheckpointFile } from '../io/checkpoint';
import { adapterUpdates, readPeftAdapter } from '../io/peft-lora';
import { gemmInplace } from '../linalg';
import { assertFinite } from '../ops/finite';
import { cast } from '../ops/layout';
import { Tensor, wrapHandle } from '../tensor';
import { Tokenizer } from '../tokenizer';
import { GPT2, gpt2Config, gpt2InitParams } from './gpt2';
import { GPTJ, gptjConfig, gptjInitParams } from './gptj';
import { LLAMA_MODEL_TYPES, Llama, llamaConfig, llamaInitParams } from './llama';
import type { CausalLM, ModelConfig } from './model';
import { VLM_MODEL_TYPE, VisionLanguageModel, vlmConfig, vlmInitParams } from './vlm';

/** How to build one model family from its config and weights. */
export interface ModelFamily {
  parseConfig(raw: Record<string, unknown>): ModelConfig;
  create(config: ModelConfig, params: Map<string, Tensor>): CausalLM;
  /** Freshly initialised weights (for training from scratch). */
  initParams(config: ModelConfig, seed: number): Map<string, Tensor>;
}

const families = new Map<string, ModelFamily>();

/** Registers a model family under its HF `model_type`. */
export function registerModelType(modelType: string, family: ModelFamily): void {
  families.set(modelType, family);
}

/** The registered `model_type`s. */
export function modelTypes(): string[] {
  return [...families.keys()];
}

registerModelType('gpt2', { parseConfig: gpt2Config, create: (c, p) => new GPT2(c, p), initParams: gpt2InitParams });
for (const t of LLAMA_MODEL_TYPES) registerModelType(t, { parseConfig: llamaConfig, create: (c, p) => new Llama(c, p), initParams: llamaInitParams });
registerModelType('gptj', { parseConfig: gptjConfig, create: (c, p) => new GPTJ(c, p), initParams: gptjInitParams });
registerModelType(VLM_MODEL_TYPE, { parseConfig: vlmConfig, create: (c, p) => new VisionLanguageModel(c, p), initParams: vlmInitParams });
// BERT is an encoder, not a CausalLM: name the right loader before anything is read.
const encoderOnly = (): never => {
  throw new ArgumentError('model_type "bert" is an encoder, not a causal LM: load it with loadEncoder(dir)');
};
registerModelType('bert', { parseConfig: encoderOnly, create: encoderOnly, initParams: encoderOnly });

function familyOf(raw: Record<string, unknown>, where: string): ModelFamily {
  const modelType = raw.model_type;
  const family = typeof modelType === 'string' ? families.get(modelType) : undefined;
  if (!family) throw new ArgumentError(`${where}: unknown model_type ${JSON.stringify(modelType)} (supported: ${modelTypes().join(', ')})`);
  return family;
}

/**
 * A new model with freshly initialised weights from an HF-style config object
 * (e.g. `{model_type: 'gpt2', n_embd: 128, n_layer: 2, ...}`), deterministic in `seed`.
 */
export function createModel(raw: Record<string, unknown>, opts: { seed?: number; tokenizer?: Tokenizer } = {}): CausalLM {
  const family = familyOf(raw, 'createModel');
  const config = family.parseConfig(raw);
  const model = family.create(config, family.initParams(config, opts.seed ?? 0));
  model.tokenizer = opts.tokenizer;
  return model;
}

export interface LoadModelOptions {
  /** Compute dtype for the weights (default float32; float64 for gradient checks). */
  dtype?: DType;
  /** Load tokenizer.json when present (default true). */
  tokenizer?: boolean;
  /** A PEFT LoRA adapter directory to merge into the weights (W += scaling · B A). */
  adapter?: string;
  /**
   * Load weights holding NaN or ±Inf (to inspect a broken checkpoint). By default such a
   * weight is an error naming it and its file.
   */
  allowNonFinite?: boolean;
}

/** Reads and validates config.json. */
export function readConfig(dir: string): Record<string, unknown> {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new IOError(`no config.json in ${dir}: not a Hugging Face model directory`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new IOError(`${file}: invalid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new IOError(`${file}: expected a JSON object`);
  return raw as Record<string, unknown>;
}

/**
 * Loads a Hugging Face model directory (config.json, model.safetensors or a sharded
 * index, tokenizer.json), optionally with a PEFT LoRA adapter merged into its weights.
 * @throws IOError for a missing or malformed file; ArgumentError for an unknown model_type
 *   or a missing tensor (named); ShapeError naming the tensor, its file, the shape config.json
 *   implies and the one it has; NonFiniteError naming the tensor and file when a weight holds
 *   NaN or ±Inf (unless `opts.allowNonFinite`).
 * @example const model = await loadModel('test-fixtures/models/fact-small');
 * @example const edited = await loadModel('test-fixtures/models/fact-small', { adapter: 'out/rome-lora' });
 */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<CausalLM> {
  const raw = readConfig(dir);
  const family = familyOf(raw, path.join(dir, 'config.json'));
  const config = family.parseConfig(raw);
  const ckpt = await readCheckpoint(dir);
  const dtype = opts.dtype ?? 'float32';
  const params = new Map<string, Tensor>();
  const fileOf = (name: string) => ckpt.sources.get(name) ?? dir;
  let model: CausalLM;
  try {
    for (const [name, handle] of ckpt.tensors) {
      const t = wrapHandle(handle);
      ckpt.tensors.delete(name);
      params.set(name, t);
      if (!opts.allowNonFinite) assertFinite(t, `tensor ${name}`, fileOf(name));
      if (t.dtype !== dtype && (t.dtype === 'float32' || t.dtype === 'float64')) {
        params.set(name, cast(t, dtype));
        t.dispose();
      }
    }
    model = family.create(config, params);
  } catch (err) {
    for (const t of params.values()) t.dispose();
    for (const h of ckpt.tensors.values()) wrapHandle(h).dispose();
    if (err instanceof ArgumentError && /no parameter named/.test(err.message)) {
      throw new ArgumentError(`${dir}: checkpoint is missing a tensor (${err.message})`);
    }
    if (err instanceof ShapeError && err.tensor) throw new ShapeError(`${fileOf(err.tensor)}: ${err.message}`, err.tensor);
    throw err;
  }
  model.source = dir;
  if (opts.adapter !== undefined) {
    try {
      await mergeAdapter(model, opts.adapter);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  const tokFile = path.join(dir, 'tokenizer.json');
  if (opts.tokenizer !== false && fs.existsSync(tokFile)) model.tokenizer = Tokenizer.fromFile(tokFile);
  return model;
}

/** Adds a PEFT LoRA adapter's changes to the model's weights for good (no snapshot to revert). */
async function mergeAdapter(model: CausalLM, dir: string): Promise<void> {
  const adapter = await readPeftAdapter(dir);
  try {
    const updates = adapterUpdates(model, adapter, dir);
    for (const u of updates) {
      gemmInplace(model.param(u.name), u.left!, u.right!);
      u.left!.dispose();
      u.right!.dispose();
    }
  } finally {
    adapter.dispose();
  }
}

/** Files copied verbatim from the source directory when saving (tokenizer and configs). */
const SIDE_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'generation_config.json'];

/** Copies the tokenizer and generation files of a model directory (those present) into `to`. */
export function copySideFiles(from: string, to: string): void {
  for (const f of SIDE_FILES) {
    const src = path.join(from, f);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(to, f));
  }
}

/** The dtypes {@link saveModel} writes weights in. */
export type SavedDType = 'float32' | 'bfloat16' | 'float16';
const SAVED_DTYPES: readonly SavedDType[] = ['float32', 'bfloat16', 'float16'];

/**
 * Writes `model` as a Hugging Face directory at `dir`: config.json, model.safetensors and
 * the tokenizer files of its source. Atomic: everything is written into a temporary
 * sibling directory which is renamed into place, so an interrupted save never leaves a
 * directory that looks complete. Refuses to overwrite an existing `dir` or its source.
 */
export async function saveModel(
  model: CausalLM,
  dir: string,
  opts: {
    metadata?: Record<string, string>;
    /** copy tokenizer/config side files from here (default: the model's source) */
    sideFilesFrom?: string;
    /** more files (name → text) written inside the directory before it is renamed into place */
    extraFiles?: Record<string, string>;
    /** the weights' dtype in the file (default float32; config.json's `torch_dtype` says which) */
    dtype?: SavedDType;
  } = {},
): Promise<void> {
  if (model.source && path.resolve(model.source) === path.resolve(dir)) throw new ArgumentError(`saveModel: refusing to overwrite the model's source directory ${dir}`);
  const dtype = opts.dtype ?? 'float32';
  if (!SAVED_DTYPES.includes(dtype)) throw new ArgumentError(`saveModel: dtype must be one of ${SAVED_DTYPES.join(', ')} but received ${JSON.stringify(dtype)}`);
  await writeDirAtomic(
    path.resolve(dir),
    async (tmp) => {
      const weights = new Map<string, Tensor>();
      for (const name of model.checkpointNames()) {
        const p = model.param(name);
        weights.set(name, p.dtype === 'float32' && dtype !== 'float32' ? cast(p, dtype) : p);
      }
      try {
        await writeCheckpointFile(path.join(tmp, 'model.safetensors'), new Map([...weights].map(([k, t]) => [k, t.handle('saveModel')])), {
          format: 'pt',
          ...opts.metadata,
        });
      } finally {
        for (const [name, t] of weights) if (t !== model.param(name)) t.dispose();
      }
      const config = dtype === 'float32' ? model.config.raw : { ...model.config.raw, torch_dtype: dtype };
      fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      const from = opts.sideFilesFrom ?? model.source;
      if (from) copySideFiles(from, tmp);
      for (const [name, text] of Object.entries(opts.extraFiles ?? {})) {
        if (name !== path.basename(name) || name.startsWith('.')) throw new ArgumentError(`saveModel: extra file ${JSON.stringify(name)} must be a plain file name`);
        fs.writeFileSync(path.join(tmp, name), text);
      }
    },
    'saveModel',
  );
}
