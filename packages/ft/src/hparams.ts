/**
 * Fine-tuning baseline hyperparameters, with EasyEdit's field names so its YAML files
 * (EE:hparams/FT/*.yaml) and the ROME repository's JSON files (ROME:hparams/FT/*.json) load
 * unchanged. Defaults and presets: specs/locate-then-edit.md §8.
 */
import { ArgumentError, readHparamsMapping } from '@medit/core';

/** Which loss FT minimises (spec §8 "Loss variants"). */
export type FtObjective = 'prompt_last' | 'target_new';

export interface FtHyperParams {
  /** layers whose `rewrite_module_tmp` parameters are tuned */
  layers: number[];
  /**
   * Module template, `{}` = layer (e.g. `transformer.h.{}.mlp.c_proj`). Every parameter whose
   * checkpoint name contains it is tuned (a substring match, as the references do: weight and
   * bias). Empty = the model's rewrite module (MLP output projection) of each layer.
   */
  rewrite_module_tmp: string;
  num_steps: number;
  lr: number;
  /** coupled L2 weight decay (torch.optim.Adam's `weight_decay`) */
  weight_decay: number;
  /** FT-L: the L∞ radius ε of the clamp W ∈ [W0 − ε, W0 + ε] after every batch; false = off */
  norm_constraint: number | false;
  /** `prompt_last` (ROME's FT, FT-L) or `target_new` (EasyEdit's FT-M, teacher-forced) */
  objective_optimization: FtObjective;
  batch_size: number;
  /** FT+KL: weight of KL(P_0 ‖ P_θ) over the tokens of unrelated prompts (0 = off) */
  kl_factor: number;
  /** a batch whose loss is below this takes no step; an epoch whose mean is below it ends training */
  early_stop_loss: number;
}

/** The four baselines the seed's tables compare. */
export type FtVariant = 'FT' | 'FT-L' | 'FT-M' | 'FT+KL';

const BASE: Omit<FtHyperParams, 'layers'> = {
  rewrite_module_tmp: '',
  num_steps: 25,
  lr: 5e-4,
  weight_decay: 0,
  norm_constraint: false,
  objective_optimization: 'prompt_last',
  batch_size: 64,
  kl_factor: 0,
  early_stop_loss: 1e-2,
};

/**
 * Defaults for a model of `numLayers` layers, per variant:
 * - FT: the last layer's MLP output projection, prompt_last loss (the "FT(last)" baseline
 *   of the T-Patcher paper; ROME:hparams/FT/*_unconstr.json tune one layer the same way).
 * - FT-L: layer 0 with ε = 5e-4 (ROME:hparams/FT/gpt2-xl_constr.json, EE:hparams/FT/gpt2-xl.yaml).
 * - FT-M: FT with the teacher-forced target loss (EasyEdit's `objective_optimization: target_new`).
 * - FT+KL: FT-M plus KL to the unedited model on unrelated prompts (kl_factor 1, the T-Patcher
 *   paper's FT+KL baseline).
 */
export function defaultFtHparams(numLayers: number, variant: FtVariant = 'FT'): FtHyperParams {
  const last = Math.max(0, numLayers - 1);
  switch (variant) {
    case 'FT':
      return { ...BASE, layers: [last] };
    case 'FT-L':
      return { ...BASE, layers: [0], norm_constraint: 5e-4 };
    case 'FT-M':
      return { ...BASE, layers: [last], objective_optimization: 'target_new' };
    case 'FT+KL':
      return { ...BASE, layers: [last], objective_optimization: 'target_new', kl_factor: 1 };
    default:
      throw new ArgumentError(`unknown FT variant ${JSON.stringify(variant)} (known: FT, FT-L, FT-M, FT+KL)`);
  }
}

/** The variant a set of hyperparameters amounts to (for the editor's name). */
export function ftVariantOf(h: FtHyperParams): FtVariant {
  if (h.kl_factor > 0) return 'FT+KL';
  if (h.norm_constraint !== false) return 'FT-L';
  if (h.objective_optimization === 'target_new') return 'FT-M';
  return 'FT';
}

const NUMBER_FIELDS = ['num_steps', 'lr', 'weight_decay', 'batch_size', 'kl_factor', 'early_stop_loss'] as const;

/**
 * Validates and completes hyperparameters (unknown fields, e.g. EasyEdit's `device`, are
 * ignored). `layers` may be a number.
 * @throws ArgumentError naming the field and the value received
 */
export function resolveFtHparams(given: Record<string, unknown>, numLayers: number, variant: FtVariant = 'FT', source = 'hparams'): FtHyperParams {
  const base = defaultFtHparams(numLayers, variant);
  const h = { ...base } as FtHyperParams & Record<string, unknown>;
  for (const key of Object.keys(base)) if (given[key] !== undefined && given[key] !== null) h[key] = given[key];
  if (typeof given.layers === 'number') h.layers = [given.layers];
  if (!Array.isArray(h.layers) || h.layers.length === 0 || !h.layers.every((l) => Number.isInteger(l) && l >= 0 && l < numLayers)) {
    throw new ArgumentError(`${source}: expected layers to be a non-empty list of layers in [0, ${numLayers}) but received ${JSON.stringify(given.layers)}`);
  }
  for (const f of NUMBER_FIELDS) if (typeof h[f] !== 'number' || !Number.isFinite(h[f])) throw new ArgumentError(`${source}: expected a number for ${f} but received ${JSON.stringify(h[f])}`);
  if (!Number.isInteger(h.num_steps) || h.num_steps < 1) throw new ArgumentError(`${source}: expected a positive integer for num_steps but received ${h.num_steps}`);
  if (!Number.isInteger(h.batch_size) || h.batch_size < 1) throw new ArgumentError(`${source}: expected a positive integer for batch_size but received ${h.batch_size}`);
  // EasyEdit writes `norm_constraint: false` to disable it; anything else must be a radius.
  if (h.norm_constraint !== false && !(typeof h.norm_constraint === 'number' && h.norm_constraint > 0)) {
    throw new ArgumentError(`${source}: expected a positive number or false for norm_constraint but received ${JSON.stringify(h.norm_constraint)}`);
  }
  if (h.objective_optimization !== 'prompt_last' && h.objective_optimization !== 'target_new') {
    throw new ArgumentError(`${source}: expected "prompt_last" or "target_new" for objective_optimization but received ${JSON.stringify(h.objective_optimization)}`);
  }
  if (typeof h.rewrite_module_tmp !== 'string') throw new ArgumentError(`${source}: expected a string for rewrite_module_tmp but received ${JSON.stringify(h.rewrite_module_tmp)}`);
  return h;
}

/** Reads hyperparameters from a JSON or YAML file (EasyEdit/ROME field names). */
export function readFtHparams(file: string, numLayers: number, variant: FtVariant = 'FT'): FtHyperParams {
  return resolveFtHparams(readHparamsMapping(file, { known: Object.keys(defaultFtHparams(numLayers, variant)) }), numLayers, variant, file);
}
