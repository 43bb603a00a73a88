/**
 * PEFT LoRA adapter directories (Hugging Face `peft`, `PeftModel.save_pretrained`): the files,
 * the tensor names, the config fields, and how an adapter module maps onto a medit weight.
 *
 * What PEFT writes, read from its source (huggingface/peft @ 5d602fd):
 * - `adapter_config.json` (`utils/constants.py` CONFIG_NAME) — `LoraConfig` as
 *   `json.dumps(asdict(config), indent=2, sort_keys=True)` (`config.py` save_pretrained), with
 *   `inference_mode` set true and `base_model_name_or_path` filled in (`peft_model.py`).
 * - `adapter_model.safetensors` (SAFETENSORS_WEIGHTS_NAME), metadata `{"format": "pt"}`, holding
 *   `get_peft_model_state_dict`: the PeftModel's state-dict keys of the LoRA weights with the
 *   adapter name removed, i.e. `base_model.model.<module path>.lora_A.weight` [r, in_features]
 *   and `…lora_B.weight` [out_features, r] (`tuners/lora/layer.py` update_layer:
 *   `lora_A = nn.Linear(in_features, r)`, `lora_B = nn.Linear(r, out_features)`).
 * - The layer adds `scaling · B A x` with scaling = lora_alpha / r, or lora_alpha / √r when
 *   `use_rslora` (layer.py update_layer); `r` and `lora_alpha` of a module come from
 *   `rank_pattern` / `alpha_pattern` when a key matches its path as the regex `(.*\.)?(key)$`
 *   (`utils/other.py` get_pattern_key), else from `r` / `lora_alpha`.
 * - `target_modules` as a list matches a module whose path equals an entry or ends with
 *   `.<entry>` (`tuners_utils.py` check_target_module_exists).
 * - GPT-2's Conv1D stores its weight [in, out]; PEFT reads in/out features from that shape and
 *   forces `fan_in_fan_out = True` for it (layer.py dispatch_default), so the merged change is
 *   (B A)ᵀ in the stored layout (`get_delta_weight`: `transpose(B @ A, fan_in_fan_out)`).
 *   `nn.Linear` ([out, in]) gets B A directly.
 *
 * Module paths are those of the transformers *ForCausalLM model (`transformer.h.3.mlp.c_proj`,
 * `model.layers.3.mlp.down_proj`); a checkpoint saved without the `transformer.` / `model.`
 * prefix maps onto the same paths.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { noGrad, tidy } from '../engine';
import { ArgumentError, IOError, ShapeError } from '../errors';
import { clone } from '../linalg';
import { LLAMA_MODEL_TYPES } from '../models/llama';
import type { CausalLM } from '../models/model';
import { cast, transpose } from '../ops/layout';
import type { WeightLayout } from '../ops/linalg';
import { mulScalar } from '../ops/elementwise';
import type { Tensor } from '../tensor';
import { wrapHandle } from '../tensor';
import type { WeightUpdate } from '../editing/edit-delta';
import { readCheckpoint, writeCheckpointFile } from './checkpoint';

/** The adapter's config file (PEFT CONFIG_NAME). */
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
/** The adapter's weights (PEFT SAFETENSORS_WEIGHTS_NAME). */
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** Prefix of every key: the PeftModel's `base_model` (LoraModel) wraps the transformers model as `model`. */
const KEY_PREFIX = 'base_model.model.';

/** The LoRA-relevant fields of PEFT's `LoraConfig` (as written in adapter_config.json). */
export interface PeftLoraConfig {
  peft_type: 'LORA';
  task_type: string | null;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string | null;
  fan_in_fan_out: boolean;
  bias: 'none' | 'all' | 'lora_only';
  use_rslora: boolean;
  use_dora: boolean;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  modules_to_save: string[] | null;
  init_lora_weights: boolean | string;
  layers_to_transform: number[] | number | null;
  layers_pattern: string[] | string | null;
}

/** One adapted module: ΔW = scaling · B A in torch's [out, in] orientation. */
export interface LoraModule {
  /** module path in the transformers model, e.g. `transformer.h.3.mlp.c_proj` */
  module: string;
  /** lora_A.weight [r, in] */
  a: Tensor;
  /** lora_B.weight [out, r] */
  b: Tensor;
}

/** The linear layers of each family that a LoRA adapter may target, by path under the model root. */
const LORA_LINEARS: { modelTypes: readonly string[]; root: string; pattern: RegExp; layout: WeightLayout; kind: string }[] = [
  { modelTypes: ['gpt2'], root: 'transformer.', pattern: /^h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)$/, layout: 'in_out', kind: 'Conv1D' },
  { modelTypes: ['gptj'], root: 'transformer.', pattern: /^h\.\d+\.(attn\.(q|k|v|out)_proj|mlp\.fc_in|mlp\.fc_out)$/, layout: 'out_in', kind: 'Linear' },
  { modelTypes: LLAMA_MODEL_TYPES, root: 'model.', pattern: /^layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)$/, layout: 'out_in', kind: 'Linear' },
];

function familyLinears(model: CausalLM): (typeof LORA_LINEARS)[number] {
  const f = LORA_LINEARS.find((x) => x.modelTypes.includes(model.config.modelType));
  if (!f) throw new ArgumentError(`LoRA: model_type ${JSON.stringify(model.config.modelType)} has no known LoRA module layout`);
  return f;
}

/** A weight a LoRA module can change: its PEFT module path and storage layout. */
export interface LoraTarget {
  module: string;
  weightName: string;
  layout: WeightLayout;
  /** torch's (out, in) of the layer */
  outFeatures: number;
  inFeatures: number;
}

function target(model: CausalLM, weightName: string, relative: string): LoraTarget {
  const f = familyLinears(model);
  const [rows, cols] = model.param(weightName).shape;
  const [outFeatures, inFeatures] = f.layout === 'in_out' ? [cols, rows] : [rows, cols];
  return { module: f.root + relative, weightName, layout: f.layout, outFeatures, inFeatures };
}

/**
 * The LoRA target of a checkpoint weight (`transformer.h.3.mlp.c_proj.weight` → module
 * `transformer.h.3.mlp.c_proj`, Conv1D layout).
 * @throws ArgumentError naming the weight when it is not a block linear layer (embeddings,
 *   norms, biases and the LM head are not exported as LoRA modules)
 */
export function loraTargetOfWeight(model: CausalLM, weightName: string): LoraTarget {
  const f = familyLinears(model);
  const m = /^(.*)\.weight$/.exec(weightName);
  const stem = m?.[1] ?? '';
  const relative = stem.startsWith(f.root) ? stem.slice(f.root.length) : stem;
  if (!m || !f.pattern.test(relative) || !model.params.has(weightName)) {
    throw new ArgumentError(
      `LoRA: ${weightName} is not a linear layer of the ${model.config.modelType} blocks (LoRA modules here are the ${f.kind} layers ${f.pattern.source}); a change to it cannot be written as a LoRA adapter`,
    );
  }
  return target(model, weightName, relative);
}

/** The weight a PEFT module path adapts. @throws IOError naming the module when the model has none. */
export function loraTargetOfModule(model: CausalLM, module: string, where: string): LoraTarget {
  const f = familyLinears(model);
  const relative = module.startsWith(f.root) ? module.slice(f.root.length) : module;
  const weightName = [`${module}.weight`, `${f.root}${relative}.weight`, `${relative}.weight`].find((n) => model.params.has(n));
  if (!f.pattern.test(relative) || !weightName) throw new IOError(`${where}: the adapter changes module ${module}, which is not a linear layer of this ${model.config.modelType} model`);
  return target(model, weightName, relative);
}

/** rank_pattern / alpha_pattern key of a module: its path under the model root, which PEFT's
 *  `(.*\.)?(key)$` matching (and the older `.*\.key$`) finds. */
export function loraPatternKey(module: string): string {
  const root = LORA_LINEARS.map((f) => f.root).find((r) => module.startsWith(r));
  return root ? module.slice(root.length) : module;
}

/** PEFT get_pattern_key: the first pattern key matching the module path as `(.*\.)?(key)$`. */
function patternValue(pattern: Record<string, number>, module: string): number | undefined {
  for (const [key, v] of Object.entries(pattern)) if (new RegExp(`^(.*\\.)?(${key})$`).test(module)) return v;
  return undefined;
}

/** Whether `target_modules` selects `module` (PEFT check_target_module_exists for lists and regex strings). */
function targeted(targets: PeftLoraConfig['target_modules'], module: string): boolean {
  if (targets === null) return false;
  if (typeof targets === 'string') return targets === 'all-linear' || new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/**
 * Writes `adapter_config.json` and `adapter_model.safetensors` into `dir` (an existing, empty
 * directory: the caller makes the write atomic). Modules whose rank is not `config.r` must be in
 * `config.rank_pattern` (and their alpha in `alpha_pattern`).
 */
export async function writePeftAdapter(dir: string, config: PeftLoraConfig, modules: readonly LoraModule[], metadata: Record<string, string> = {}): Promise<void> {
  const tensors = new Map<string, ReturnType<Tensor['handle']>>();
  for (const m of modules) {
    tensors.set(`${KEY_PREFIX}${m.module}.lora_A.weight`, m.a.handle('writePeftAdapter'));
    tensors.set(`${KEY_PREFIX}${m.module}.lora_B.weight`, m.b.handle('writePeftAdapter'));
  }
  await writeCheckpointFile(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { ...metadata, format: 'pt' });
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : 1)));
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(sorted, null, 2));
}

/** An adapter read from disk: its config and, per module, the factors and PEFT's scaling. */
export interface PeftAdapter {
  config: PeftLoraConfig;
  modules: (LoraModule & { scaling: number })[];
  dispose(): void;
}

function readConfig(file: string): PeftLoraConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new IOError(`${file}: cannot read the adapter config (${(err as Error).message})`);
  }
  const bad = (field: string, expected: string) => new IOError(`${file}: expected ${expected} for ${field} but received ${JSON.stringify(raw[field])}`);
  if (raw.peft_type !== 'LORA') throw bad('peft_type', '"LORA" (only LoRA adapters are supported)');
  if (!Number.isInteger(raw.r) || (raw.r as number) <= 0) throw bad('r', 'a positive integer');
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw bad('lora_alpha', 'a number');
  if ((raw.use_dora ?? false) !== false) throw bad('use_dora', 'false (DoRA adapters are not supported)');
  if ((raw.bias ?? 'none') !== 'none') throw bad('bias', '"none" (adapters that train biases are not supported)');
  if ((raw.lora_bias ?? false) !== false) throw bad('lora_bias', 'false (a bias on lora_B is not supported)');
  for (const f of ['modules_to_save', 'layer_replication', 'trainable_token_indices']) {
    const v = raw[f];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) throw bad(f, 'null (only LoRA modules are supported)');
  }
  const patterns = (f: string): Record<string, number> => {
    const v = raw[f] ?? {};
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'number')) throw bad(f, 'an object of numbers');
    return v as Record<string, number>;
  };
  const targets = raw.target_modules ?? null;
  if (!(targets === null || typeof targets === 'string' || (Array.isArray(targets) && targets.every((t) => typeof t === 'string')))) throw bad('target_modules', 'a list of module names or a regex');
  return {
    peft_type: 'LORA',
    task_type: typeof raw.task_type === 'string' ? raw.task_type : null,
    base_model_name_or_path: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : null,
    revision: typeof raw.revision === 'string' ? raw.revision : null,
    inference_mode: raw.inference_mode === true,
    r: raw.r as number,
    lora_alpha: alpha,
    lora_dropout: typeof raw.lora_dropout === 'number' ? raw.lora_dropout : 0,
    target_modules: targets as PeftLoraConfig['target_modules'],
    fan_in_fan_out: raw.fan_in_fan_out === true,
    bias: 'none',
    use_rslora: raw.use_rslora === true,
    use_dora: false,
    rank_pattern: patterns('rank_pattern'),
    alpha_pattern: patterns('alpha_pattern'),
    modules_to_save: null,
    init_lora_weights: typeof raw.init_lora_weights === 'string' ? raw.init_lora_weights : raw.init_lora_weights !== false,
    layers_to_transform: (raw.layers_to_transform ?? null) as PeftLoraConfig['layers_to_transform'],
    layers_pattern: (raw.layers_pattern ?? null) as PeftLoraConfig['layers_pattern'],
  };
}

/**
 * Reads a PEFT LoRA adapter directory and checks it: the config fields this loader honours,
 * every tensor a `lora_A` / `lora_B` pair of a targeted module, ranks as the config says.
 * The caller disposes the result.
 * @throws IOError naming the file, field, tensor or module that is wrong
 */
export async function readPeftAdapter(dir: string): Promise<PeftAdapter> {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  if (!fs.existsSync(configFile)) throw new IOError(`no ${ADAPTER_CONFIG_FILE} in ${dir}: not a PEFT adapter directory`);
  const config = readConfig(configFile);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(weightsFile)) throw new IOError(`no ${ADAPTER_WEIGHTS_FILE} in ${dir} (adapter_model.bin, PyTorch's pickle format, is not read)`);
  const ckpt = await readCheckpoint(dir, { file: ADAPTER_WEIGHTS_FILE });
  const tensors = new Map([...ckpt.tensors].map(([k, h]) => [k, wrapHandle(h)]));
  const disposeAll = () => tensors.forEach((t) => t.dispose());
  try {
    const pairs = new Map<string, { a?: Tensor; b?: Tensor }>();
    for (const [key, t] of tensors) {
      const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(key);
      if (!m) throw new IOError(`${weightsFile}: unexpected tensor ${key} (expected base_model.model.<module>.lora_A.weight / lora_B.weight)`);
      const p = pairs.get(m[1]) ?? {};
      p[m[2] === 'A' ? 'a' : 'b'] = t;
      pairs.set(m[1], p);
    }
    if (pairs.size === 0) throw new IOError(`${weightsFile}: the adapter holds no LoRA weights`);
    const modules: PeftAdapter['modules'] = [];
    for (const [module, { a, b }] of pairs) {
      if (!a || !b) throw new IOError(`${weightsFile}: module ${module} has lora_${a ? 'A' : 'B'}.weight but no lora_${a ? 'B' : 'A'}.weight`);
      if (!targeted(config.target_modules, module)) throw new IOError(`${configFile}: target_modules ${JSON.stringify(config.target_modules)} does not include module ${module}, whose weights the adapter holds`);
      const r = patternValue(config.rank_pattern, module) ?? config.r;
      const alpha = patternValue(config.alpha_pattern, module) ?? config.lora_alpha;
      if (a.rank !== 2 || b.rank !== 2 || a.shape[0] !== r || b.shape[1] !== r) {
        throw new IOError(`${weightsFile}: module ${module} has lora_A [${a.shape}] and lora_B [${b.shape}], expected [${r}, in] and [out, ${r}] (r = ${r} from ${configFile})`);
      }
      modules.push({ module, a, b, scaling: config.use_rslora ? alpha / Math.sqrt(r) : alpha / r });
    }
    return { config, modules, dispose: disposeAll };
  } catch (err) {
    disposeAll();
    throw err;
  }
}

/**
 * The adapter's changes as weight updates in each weight's storage layout, the scaling folded
 * in: Linear [out, in] gets left = s·B, right = A; Conv1D [in, out] gets left = Aᵀ, right = s·Bᵀ.
 * The caller owns the returned tensors (cast to the model's dtype).
 * @throws IOError naming a module the model lacks or whose shape does not fit
 */
export function adapterUpdates(model: CausalLM, adapter: PeftAdapter, where: string): WeightUpdate[] {
  const made: WeightUpdate[] = [];
  try {
    for (const m of adapter.modules) {
      const t = loraTargetOfModule(model, m.module, where);
      if (m.a.shape[1] !== t.inFeatures || m.b.shape[0] !== t.outFeatures) {
        throw new ShapeError(`${where}: module ${m.module} has lora_A [${m.a.shape}] and lora_B [${m.b.shape}], but ${t.weightName} is a layer of ${t.inFeatures} → ${t.outFeatures} features`);
      }
      const dtype = model.param(t.weightName).dtype;
      made.push(
        noGrad(() =>
          tidy(() => {
            const a = cast(m.a, dtype);
            const sb = mulScalar(cast(m.b, dtype), m.scaling);
            return t.layout === 'in_out' ? { name: t.weightName, left: transpose(a), right: transpose(sb) } : { name: t.weightName, left: sb, right: clone(a) };
          }),
        ),
      );
    }
    return made;
  } catch (err) {
    for (const u of made) for (const x of [u.left, u.right]) x?.dispose();
    throw err;
  }
}
