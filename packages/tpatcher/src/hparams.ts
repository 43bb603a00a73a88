/**
 * T-Patcher hyperparameters, named as the original code's arguments (TP-code `src/utils.py`,
 * `scripts/main.py`); defaults from specs/meta-and-memory.md §3.8 (the zsRE setting: mlc = 10).
 */
import { ArgumentError, readHparamsMapping } from '@medit/core';

export interface TPatcherHyperParams {
  /** patched layer (default: the last) */
  layer: number;
  lr: number;
  /** decoupled weight decay of the patch optimiser */
  weight_decay: number;
  /** max optimisation steps ("epochs" of the repeated batch) per edit */
  max_edit_step: number;
  /** first step at which the edit is checked, then every `check_val_every_n_epoch` */
  start_val_epoch: number;
  check_val_every_n_epoch: number;
  /** 1: once correct, keep training while the validation-memory loss improves by early_delta */
  use_val: boolean;
  early_patience: number;
  early_delta: number;
  /** a: weight of the activation loss l_a */
  alc: number;
  /** activation-loss margin m_a: l_a = exp(m_a − (q·k + b)) */
  act_margin_val: number;
  /** m: weight of the memory losses l_m1 + l_m2 */
  mlc: number;
  /** γ: the edit's pre-activation must exceed every memory query's by this margin (l_m2) */
  margin_val1: number;
  /** β: memory queries' pre-activations are pushed below this (l_m1) */
  margin_val2: number;
  /** k of the top-k averages S(·; k) */
  memory_top_k: number;
  /** append each edit's queries to the memory after the edit */
  update_memory: boolean;
  /** at most this many neurons (wrong target tokens) per edit */
  max_add_neuron_num: number;
  /** initial value of the value amplifier (v = ε ⊙ a, ε ~ N(0, 1)) */
  amplify_con: number;
  /** label smoothing ε of the edit loss */
  label_smoothing: number;
  /** global gradient-norm clip */
  gradient_clip: number;
  /** ReduceLROnPlateau on the loss at each check: factor and patience (threshold 0.05 relative) */
  lr_scheduler_factor: number;
  lr_scheduler_patience: number;
  /** seed of the value initialisation */
  seed: number;
  /**
   * [[length, count], ...] of generated context prefixes (ROME's sampler, `contextTemplates` of
   * @medit/core): the edit example is trained under each prefix as well as bare. Default [] (the
   * paper's one example). The original code repeats the example `example_repeat` = 8 times,
   * which only matters with dropout; medit's rows differ by context instead, so that l_e and
   * l_a hold for the edit in context too (the generalisation ROME gets from its templates).
   */
  context_template_length_params: [number, number][];
  context_template_seed: number;
}

export function defaultTPatcherHparams(numLayers: number): TPatcherHyperParams {
  return {
    layer: numLayers - 1,
    lr: 1e-2,
    weight_decay: 1e-2,
    max_edit_step: 2000,
    start_val_epoch: 100,
    check_val_every_n_epoch: 25,
    use_val: true,
    early_patience: 1,
    early_delta: 1e-3,
    alc: 1,
    act_margin_val: 0,
    mlc: 10,
    margin_val1: 3,
    margin_val2: -3,
    memory_top_k: 1000,
    update_memory: true,
    max_add_neuron_num: 5,
    amplify_con: 10,
    label_smoothing: 0.1,
    gradient_clip: 5,
    lr_scheduler_factor: 0.5,
    lr_scheduler_patience: 1,
    seed: 0,
    context_template_length_params: [],
    context_template_seed: 0,
  };
}

/** Validates and completes hyperparameters (unknown fields are ignored; 0/1 accepted for booleans). */
export function resolveTPatcherHparams(given: Record<string, unknown>, numLayers: number, source = 'hparams'): TPatcherHyperParams {
  const base = defaultTPatcherHparams(numLayers);
  const h = { ...base } as TPatcherHyperParams & Record<string, unknown>;
  for (const key of Object.keys(base)) {
    const v = given[key];
    if (v === undefined || v === null) continue;
    h[key] = typeof base[key as keyof TPatcherHyperParams] === 'boolean' && (v === 0 || v === 1) ? v === 1 : v;
  }
  const ctx = h.context_template_length_params;
  if (!Array.isArray(ctx) || !ctx.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => Number.isInteger(x) && x >= 1))) {
    throw new ArgumentError(`${source}: expected context_template_length_params to be [[length, count], ...] of positive integers but received ${JSON.stringify(ctx)}`);
  }
  for (const [key, v] of Object.entries(h)) {
    if (key === 'context_template_length_params') continue;
    const expected = typeof base[key as keyof TPatcherHyperParams];
    if (typeof v !== expected || (expected === 'number' && !Number.isFinite(v as number))) {
      throw new ArgumentError(`${source}: expected a ${expected} for ${key} but received ${JSON.stringify(v)}`);
    }
  }
  if (!Number.isInteger(h.layer) || h.layer < 0 || h.layer >= numLayers) throw new ArgumentError(`${source}: layer ${h.layer} is outside the model's ${numLayers} layers`);
  for (const f of ['max_edit_step', 'start_val_epoch', 'check_val_every_n_epoch', 'max_add_neuron_num', 'memory_top_k'] as const) {
    if (!Number.isInteger(h[f]) || h[f] < 1) throw new ArgumentError(`${source}: expected a positive integer for ${f} but received ${h[f]}`);
  }
  return h;
}

/** Reads hyperparameters from a JSON or YAML file. */
export function readTPatcherHparams(file: string, numLayers: number): TPatcherHyperParams {
  return resolveTPatcherHparams(readHparamsMapping(file, { known: Object.keys(defaultTPatcherHparams(numLayers)) }), numLayers, file);
}
