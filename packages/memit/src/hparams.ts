/**
 * Hyperparameters of MEMIT, EMMET and AlphaEdit, with EasyEdit's field names so its YAML
 * files (and the MEMIT/AlphaEdit repositories' JSON files) load unchanged. Presets are the
 * published settings (specs/locate-then-edit.md §4, §5, §6); fields EasyEdit lists but the
 * algorithms never read (module templates, `layer_selection`, `device`, ...) are accepted
 * and ignored. Numeric strings such as "5e-1" (PyYAML reads exponents without a dot as
 * strings; EasyEdit converts them in `construct_float_from_scientific_notation`) are
 * converted the same way.
 */
import { ArgumentError, type FactTokenName, readHparamsMapping } from '@medit/core';

/** The three solvers of this package. */
export type MassEditAlgorithm = 'MEMIT' | 'EMMET' | 'AlphaEdit';

export interface MemitHyperParams {
  /** `alg_name` of an EasyEdit file (informational; the editor class decides the solver) */
  alg_name?: string;
  /** edited layers in ascending order; the last one is the z layer (`layers[-1]`) */
  layers: number[];
  /**
   * ROME's token strategies, or `subject_search` (medit; as in @medit/rome): z at the subject's
   * last token, and for subjects whose z stays below P(target) = 0.5 also at their other
   * tokens, keeping the lowest loss; that subject's keys are then read at the chosen token.
   * `subject_unique` (medit): each subject's first token at which its tokens so far are unique
   * in the batch (unique-prefix.ts: subjects sharing first tokens share keys there).
   */
  fact_token: FactTokenName | 'subject_search' | 'subject_unique';
  v_num_grad_steps: number;
  v_lr: number;
  /** must be the last layer: z's NLL is read from the real logits (as every shipped config does) */
  v_loss_layer: number;
  v_weight_decay: number;
  /** δ is clamped to clamp_norm_factor·‖h‖ where h is the z layer's residual (MEMIT: 0.75) */
  clamp_norm_factor: number;
  kl_factor: number;
  /**
   * medit: prompts about the subject ("{} works for"; "{}" = the subject) whose next-token
   * distribution each z keeps, weighted by preserve_factor (compute-z.ts); a prompt that asks the
   * edited fact is left out per request. Default none (MEMIT's z).
   */
  preserve_prompts: string[];
  /** medit: weight of the mean KL over the kept preserve prompts */
  preserve_factor: number;
  /** MEMIT/EMMET always use C; kept for EasyEdit compatibility */
  mom2_adjustment: boolean;
  /** λ in (λC + KKᵀ) (MEMIT) or C̃ = λC (EMMET); AlphaEdit ignores it */
  mom2_update_weight: number;
  mom2_dataset: string;
  /** documents of the statistics corpus (ROME/MEMIT: 100,000 Wikipedia articles) */
  mom2_n_samples: number;
  mom2_dtype: 'float32' | 'float64';
  /** EMMET: D = KᵀC̃⁻¹K + emmet_lambda·I (guards an ill-conditioned D) */
  emmet_lambda: number;
  /** EMMET: C̃ = λC + update_norm_lambda·I */
  update_norm_lambda: number;
  /** AlphaEdit: eigenvalues of C below this (absolute) span the preserved null space */
  nullspace_threshold: number;
  /** AlphaEdit: α in (P(KKᵀ + K_pK_pᵀ) + αI) */
  L2: number;
  /** [[length, count]] of generated context prefixes; MEMIT uses one group of 5 of 10 tokens */
  context_template_length_params: [number, number][];
  /** seed of the context-template sampler (the references sample once per process) */
  context_template_seed: number;
  /** δ vectors (one per request, or per subject when several share it) optimised together in one forward pass (medit) */
  z_batch_size: number;
  /**
   * MEMIT's solve: 'direct' factors λC + KKᵀ per batch; 'woodbury' reuses a cached
   * Cholesky factor of C and solves an n×n system; 'auto' picks Woodbury when n ≤ d_ff/2.
   */
  solver: 'auto' | 'direct' | 'woodbury';
  /** ridge added to C's diagonal, relative to its mean diagonal (0 = none, as MEMIT) */
  mom2_ridge: number;
}

const BASE: Omit<MemitHyperParams, 'layers' | 'v_loss_layer'> = {
  fact_token: 'subject_last',
  v_num_grad_steps: 20,
  v_lr: 0.5,
  v_weight_decay: 0.5,
  clamp_norm_factor: 0.75,
  kl_factor: 0.0625,
  preserve_prompts: [],
  preserve_factor: 1,
  mom2_adjustment: true,
  mom2_update_weight: 15000,
  mom2_dataset: 'wikipedia',
  mom2_n_samples: 100000,
  mom2_dtype: 'float32',
  emmet_lambda: 0.1,
  update_norm_lambda: 0,
  nullspace_threshold: 2e-2,
  L2: 10,
  context_template_length_params: [[10, 5]],
  context_template_seed: 0,
  z_batch_size: 16,
  solver: 'auto',
  mom2_ridge: 0,
};

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** MEMIT's published settings (MEMIT:hparams/MEMIT/*.json, AE:hparams/MEMIT/Llama3-8B.json, EE yaml). */
export const MEMIT_PRESETS: Record<string, MemitHyperParams> = {
  'gpt2-xl': { ...BASE, alg_name: 'MEMIT', layers: range(13, 17), v_loss_layer: 47, mom2_update_weight: 20000 },
  'gpt-j-6B': { ...BASE, alg_name: 'MEMIT', layers: range(3, 8), v_loss_layer: 27, v_num_grad_steps: 25 },
  'llama3-8b': { ...BASE, alg_name: 'MEMIT', layers: range(4, 8), v_loss_layer: 31, v_num_grad_steps: 25, v_lr: 0.1 },
  'llama-2-7b': { ...BASE, alg_name: 'MEMIT', layers: range(4, 8), v_loss_layer: 31, v_num_grad_steps: 25, v_weight_decay: 1e-3, clamp_norm_factor: 4 },
};

/** EMMET's settings (EE:hparams/EMMET/*.yaml): one layer, a larger λ. */
export const EMMET_PRESETS: Record<string, MemitHyperParams> = {
  'gpt2-xl': { ...BASE, alg_name: 'EMMET', layers: [17], v_loss_layer: 47, mom2_update_weight: 10000 },
  'gpt-j-6B': { ...BASE, alg_name: 'EMMET', layers: [5], v_loss_layer: 27, v_num_grad_steps: 25, mom2_update_weight: 100000 },
  'llama-7b': { ...BASE, alg_name: 'EMMET', layers: [5], v_loss_layer: 31, v_num_grad_steps: 25, mom2_update_weight: 100000, clamp_norm_factor: 4, v_weight_decay: 1e-3 },
};

/** AlphaEdit's settings (AE:hparams/AlphaEdit/*.json): MEMIT's plus the projector and L2. */
export const ALPHAEDIT_PRESETS: Record<string, MemitHyperParams> = {
  'gpt2-xl': { ...MEMIT_PRESETS['gpt2-xl'], alg_name: 'AlphaEdit' },
  'gpt-j-6B': { ...MEMIT_PRESETS['gpt-j-6B'], alg_name: 'AlphaEdit' },
  'llama3-8b': { ...MEMIT_PRESETS['llama3-8b'], alg_name: 'AlphaEdit' },
};

/**
 * Defaults for a model of `numLayers` layers (the fact-world GPT-2s). The z layer must leave
 * blocks after it: δ sits at the subject token and only later attention carries it to the
 * prompt's last token. On the 4-layer micro-facts model a z at layer 1 reaches the targets
 * (p ≈ 0.8–0.97 after 25 steps) where layer 2 does not (≤ 0.24), so z sits just below the
 * middle: a 2-layer model edits [0], a 4-layer one [0, 1], an 8-layer one [2, 3].
 * These models need δ of about three times the residual's norm, so the clamp is EasyEdit's
 * Llama value 4 (MEMIT's 0.75 holds δ far from the targets), and λ is 2,000 (with 15,000 the
 * update barely moved the residual). Statistics come from the local filler corpus. These are
 * starting points for a sweep, not tuned values.
 */
export function defaultMemitHparams(numLayers: number, alg: MassEditAlgorithm = 'MEMIT'): MemitHyperParams {
  const z = Math.max(0, Math.min(Math.floor(numLayers / 2) - 1, numLayers - 2));
  const layers = alg === 'EMMET' ? [z] : range(Math.max(0, z - 1), z);
  return {
    ...BASE,
    alg_name: alg,
    layers,
    v_loss_layer: numLayers - 1,
    v_num_grad_steps: 25,
    clamp_norm_factor: 4,
    mom2_update_weight: 2000,
    mom2_dataset: 'filler',
    mom2_n_samples: 100000,
  };
}

const NUMBER_FIELDS = [
  'v_num_grad_steps',
  'v_lr',
  'v_loss_layer',
  'v_weight_decay',
  'clamp_norm_factor',
  'kl_factor',
  'preserve_factor',
  'mom2_update_weight',
  'mom2_n_samples',
  'emmet_lambda',
  'update_norm_lambda',
  'nullspace_threshold',
  'L2',
  'context_template_seed',
  'z_batch_size',
  'mom2_ridge',
] as const;

const FACT_TOKENS = ['subject_last', 'subject_first', 'subject_first_after_last', 'last', 'subject_search', 'subject_unique'];

/** Validates and completes hyperparameters (unknown EasyEdit fields are ignored). */
export function resolveMemitHparams(
  given: Partial<MemitHyperParams> & Record<string, unknown>,
  numLayers: number,
  alg: MassEditAlgorithm = 'MEMIT',
  source = 'hparams',
): MemitHyperParams {
  const base = defaultMemitHparams(numLayers, alg);
  const h = { ...base } as MemitHyperParams & Record<string, unknown>;
  for (const key of Object.keys(base)) if (given[key] !== undefined) h[key] = given[key];
  if (typeof given.layers === 'number') h.layers = [given.layers];
  for (const f of NUMBER_FIELDS) {
    if (typeof h[f] === 'string' && (h[f] as string).trim() !== '' && Number.isFinite(Number(h[f]))) h[f] = Number(h[f]);
    if (typeof h[f] !== 'number' || !Number.isFinite(h[f])) throw new ArgumentError(`${source}: expected a number for ${f} but received ${JSON.stringify(h[f])}`);
  }
  const layers = h.layers;
  if (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => Number.isInteger(l))) {
    throw new ArgumentError(`${source}: expected layers: a non-empty list of layer indices but received ${JSON.stringify(given.layers)}`);
  }
  for (const l of layers) if (l < 0 || l >= numLayers) throw new ArgumentError(`${source}: layer ${l} is outside the model's ${numLayers} layers`);
  for (let i = 1; i < layers.length; i++) {
    if (layers[i] <= layers[i - 1]) throw new ArgumentError(`${source}: layers must be strictly ascending (the last one is the z layer) but received ${JSON.stringify(layers)}`);
  }
  if (numLayers > 1 && layers[layers.length - 1] === numLayers - 1) {
    throw new ArgumentError(
      `${source}: the z layer (the last of layers, ${numLayers - 1}) is the model's last layer; δ at the subject token could not reach the prediction at the prompt's end (no attention layer follows). Edit layers below ${numLayers - 1}`,
    );
  }
  const pp = h.preserve_prompts;
  if (!Array.isArray(pp) || !pp.every((t) => typeof t === 'string' && t.split('{}').length === 2)) {
    throw new ArgumentError(`${source}: preserve_prompts must be a list of prompts with one "{}" (the subject) each but received ${JSON.stringify(pp)}`);
  }
  if (!(h.preserve_factor >= 0)) throw new ArgumentError(`${source}: preserve_factor must be ≥ 0 but received ${h.preserve_factor}`);
  if (!FACT_TOKENS.includes(h.fact_token)) throw new ArgumentError(`${source}: unknown fact_token ${JSON.stringify(h.fact_token)}`);
  // MEMIT refuses "last" ("This is definitely bugged", MEMIT:memit/compute_z.py): keys must sit on the subject.
  if (h.fact_token === 'last') throw new ArgumentError(`${source}: fact_token "last" is not supported by MEMIT-style editors; use a subject_* strategy`);
  if (h.v_loss_layer !== numLayers - 1) {
    throw new ArgumentError(
      `${source}: v_loss_layer must be the model's last layer (${numLayers - 1}); z's NLL is read from the real logits (a logit lens at an earlier layer is not implemented) but received ${h.v_loss_layer}`,
    );
  }
  if (!Number.isInteger(h.v_num_grad_steps) || h.v_num_grad_steps < 1) throw new ArgumentError(`${source}: v_num_grad_steps must be a positive integer`);
  if (!Number.isInteger(h.z_batch_size) || h.z_batch_size < 1) throw new ArgumentError(`${source}: z_batch_size must be a positive integer but received ${h.z_batch_size}`);
  if (!(h.mom2_update_weight > 0)) throw new ArgumentError(`${source}: mom2_update_weight must be positive but received ${h.mom2_update_weight}`);
  if (alg === 'AlphaEdit' && !(h.L2 > 0)) throw new ArgumentError(`${source}: AlphaEdit needs L2 > 0 (the solve is singular without it) but received ${h.L2}`);
  if (alg === 'EMMET' && !(h.emmet_lambda >= 0)) throw new ArgumentError(`${source}: emmet_lambda must be ≥ 0 but received ${h.emmet_lambda}`);
  if (!['auto', 'direct', 'woodbury'].includes(h.solver)) throw new ArgumentError(`${source}: solver must be auto, direct or woodbury but received ${JSON.stringify(h.solver)}`);
  const ctp = h.context_template_length_params;
  if (!Array.isArray(ctp) || !ctp.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isInteger(x) && x > 0))) {
    throw new ArgumentError(`${source}: context_template_length_params must be [[length, count], ...] of positive integers but received ${JSON.stringify(ctp)}`);
  }
  h.alg_name = alg;
  return h;
}

/**
 * Reads hyperparameters from a JSON or YAML file (EasyEdit/MEMIT/AlphaEdit field names).
 * @throws UnknownFieldError for a field none of the three solvers reads (naming the closest one)
 */
export function readMemitHparams(file: string, numLayers: number, alg?: MassEditAlgorithm): MemitHyperParams {
  const rec = readHparamsMapping(file, { known: Object.keys(defaultMemitHparams(numLayers)) });
  const name = alg ?? algorithmFromName(rec.alg_name, file);
  return resolveMemitHparams(rec, numLayers, name, file);
}

/** Maps EasyEdit's `alg_name` to an algorithm (MEMIT when absent, as in the MEMIT repo's JSON). */
export function algorithmFromName(name: unknown, source = 'hparams'): MassEditAlgorithm {
  if (name === undefined || name === null) return 'MEMIT';
  const s = String(name).toLowerCase();
  if (s === 'memit') return 'MEMIT';
  if (s === 'emmet') return 'EMMET';
  if (s === 'alphaedit') return 'AlphaEdit';
  throw new ArgumentError(`${source}: alg_name ${JSON.stringify(name)} is not MEMIT, EMMET or AlphaEdit`);
}
