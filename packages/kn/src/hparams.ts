/**
 * KN hyperparameters with the field names of ROME:hparams/KN/gpt2-xl.json and
 * EE:hparams/KN/*.yaml (specs/locate-then-edit.md §7 "KN hparams").
 */
import { ArgumentError, readHparamsMapping } from '@medit/core';

export interface KnHyperParams {
  /** Riemann steps m of the integrated gradients (α = linspace(0, 1, m)) */
  steps: number;
  /** scaled copies per forward pass; steps % batch_size must be 0 (as the references assert) */
  batch_size: number;
  /** coarse selection: keep neurons whose score > adaptive_threshold · max score */
  adaptive_threshold: number;
  /** refining: keep neurons selected by more than p · (number of prompts) prompts */
  p: number;
  /** apply the prompt-sharing refinement (EasyEdit's default false keeps every coarse neuron) */
  refine: boolean;
  /** layers scanned for neurons (empty = all, as the references do) */
  layers: number[];
  /** KN edit: λ in v_i ← v_i − λ·E[y_old] + λ·E[y_new] (Dai et al. §5.1; KN-orig uses 2) */
  edit_scale: number;
  /** present in the reference files; unused by their code and here */
  lr_scale: number;
}

export const KN_DEFAULTS: KnHyperParams = {
  steps: 20,
  batch_size: 20,
  adaptive_threshold: 0.2,
  p: 0.4,
  refine: false,
  layers: [],
  edit_scale: 2,
  lr_scale: 1,
};

/** Validates and completes hyperparameters (unknown fields are ignored). */
export function resolveKnHparams(given: Record<string, unknown>, numLayers: number, source = 'hparams'): KnHyperParams {
  const h = { ...KN_DEFAULTS } as KnHyperParams & Record<string, unknown>;
  for (const key of Object.keys(KN_DEFAULTS)) if (given[key] !== undefined && given[key] !== null) h[key] = given[key];
  for (const f of ['steps', 'batch_size', 'adaptive_threshold', 'p', 'edit_scale', 'lr_scale'] as const) {
    if (typeof h[f] !== 'number' || !Number.isFinite(h[f])) throw new ArgumentError(`${source}: expected a number for ${f} but received ${JSON.stringify(h[f])}`);
  }
  if (!Number.isInteger(h.steps) || h.steps < 1) throw new ArgumentError(`${source}: expected a positive integer for steps but received ${h.steps}`);
  if (!Number.isInteger(h.batch_size) || h.batch_size < 1 || h.steps % h.batch_size !== 0) {
    throw new ArgumentError(`${source}: steps (${h.steps}) must be a multiple of batch_size (${h.batch_size})`);
  }
  if (typeof h.refine !== 'boolean') throw new ArgumentError(`${source}: expected a boolean for refine but received ${JSON.stringify(h.refine)}`);
  if (!Array.isArray(h.layers) || !h.layers.every((l) => Number.isInteger(l) && l >= 0 && l < numLayers)) {
    throw new ArgumentError(`${source}: expected layers to be a list of layers in [0, ${numLayers}) but received ${JSON.stringify(given.layers)}`);
  }
  return h;
}

/** Reads hyperparameters from a JSON or YAML file. */
export function readKnHparams(file: string, numLayers: number): KnHyperParams {
  return resolveKnHparams(readHparamsMapping(file, { known: Object.keys(KN_DEFAULTS) }), numLayers, file);
}
