/**
 * Hyperparameters of MEND, KE and their shared trainer, with the field names of MEND-code's
 * `config.yaml` + `alg/mend.yaml` and EasyEdit's `hparams/TRAINING/{MEND,KE}/*.yaml`, so those
 * files load unchanged (EasyEdit's `device`, `model_name` and trainer options medit does not implement
 * are accepted and ignored; any other unknown field is an error naming the closest known one). Defaults:
 * specs/meta-and-memory.md §1.7 (MEND) and §5.1–§5.2 (KE), except where a field says otherwise.
 */
import { ArgumentError, readHparamsMapping } from '@medit/core';

/** Which sign the MEND update carries (spec §1.4; MEND-code issue #13). */
export type EditSign = 'paper' | 'code';

/**
 * How the training objective reduces the edit NLL over a target's tokens: `mean` over them
 * (MEND-code `losses.py`, spec §0.3) or `sum`, the target sequence's −log p(y′|x′) of MEND's
 * Alg. 1 (spec §1.5 step 4), averaged over the batch's edits. With `mean` a many-token target
 * whose one wrong token is the edit (a caption's name) weighs 1/|y| of a one-token answer.
 */
export type EditNllReduction = 'mean' | 'sum';

/** Training-loop fields shared by MEND and KE (spec §1.5). */
export interface TrainHyperParams {
  /** checkpoint names of the edited weights; empty = the MLP input and output projections of the last 3 blocks */
  inner_params: string[];
  /** Adam learning rate of the editor network */
  lr: number;
  /** c_edit: weight of the edit loss on the rephrase */
  cedit: number;
  /** c_loc: weight of the locality KL (MMEdit: of the text and the image locality KL each) */
  cloc: number;
  /** i_edit: weight of the edit loss on rephrased images (MMEdit; used when the examples have them) */
  iedit: number;
  /** reduction of the edit losses (c_edit's and i_edit's terms) over a target's tokens (default `mean`) */
  edit_nll: EditNllReduction;
  /** edits per training batch (their updates are summed: batched editing, spec §1.4 item 5) */
  batch_size: number;
  /** batches whose gradients are accumulated into one optimiser step */
  accumulate_bs: number;
  /** global gradient-norm clip of the trained parameters */
  grad_clip: number;
  /** training batches (not optimiser steps) at most */
  max_iters: number;
  /** validate (and checkpoint) every this many batches */
  val_interval: number;
  /** validation batches per validation */
  val_steps: number;
  /** stop after this many batches without a better validation loss */
  early_stop_patience: number;
  /** fraction of the training cases held out for validation when no validation split is given */
  val_fraction: number;
  seed: number;
}

export interface MendHyperParams extends TrainHyperParams {
  /** initial per-matrix edit learning rate α_ℓ (`edit_lr`) */
  edit_lr: number;
  /** Adam learning rate of the α_ℓ (`lr_lr`) */
  lr_lr: number;
  /** width of the low-rank blocks (capped at m+n) */
  rank: number;
  /** hidden blocks; the network has n_hidden + 1 residual low-rank blocks */
  n_hidden: number;
  /** `paper`: W − α∇̃ (Alg. 2); `code`: W + α∇̃ (MEND-code, kept to load its checkpoints) */
  sign: EditSign;
}

export interface KeHyperParams extends TrainHyperParams {
  /** LSTM hidden size per direction (`hidden_dim` of KE-code's conditioner) */
  hidden_dim: number;
  /** condition vector size (`condition_dim`) */
  condition_dim: number;
  /** hidden size of each per-weight ConditionedParameter (128 in KE-code) */
  param_hidden: number;
  /** λ_max of ΔW = λ_max σ(η)(∇W ⊙ A + B) (`max_scale`) */
  max_scale: number;
  /** label smoothing ε of the edit NLL */
  eps: number;
  /** the KL margin m starts here and anneals by ×0.8 down to margin_kl_min */
  margin_kl_max: number;
  margin_kl_min: number;
  /** learning rate of the Lagrange multiplier (gradient ascent, clamped ≥ 0) */
  lr_alpha: number;
  /** margin annealing happens after a validation whose edit accuracy exceeds this */
  anneal_above: number;
}

const TRAIN_BASE: TrainHyperParams = {
  inner_params: [],
  lr: 1e-6,
  cedit: 0.1,
  cloc: 1,
  iedit: 0.1,
  edit_nll: 'mean',
  batch_size: 1,
  accumulate_bs: 10,
  grad_clip: 100,
  max_iters: 100_000,
  val_interval: 1000,
  val_steps: 500,
  early_stop_patience: 20_000,
  val_fraction: 0.1,
  seed: 0,
};

/** MEND defaults (spec §1.7: MEND-code values; `rank` 1920 is capped at m+n per shape). */
export function defaultMendHparams(): MendHyperParams {
  return { ...TRAIN_BASE, edit_lr: 1e-4, lr_lr: 1e-4, rank: 1920, n_hidden: 1, sign: 'paper' };
}

/**
 * KE defaults: KE-code's BART-zsRE setting (spec §5.2: hidden 128, condition 1024, lr 3e-4,
 * lr_alpha 1e-1, margin 1e-3 → 1e-5, label smoothing 0.1), trained on the MEND-style batches.
 */
export function defaultKeHparams(): KeHyperParams {
  return {
    ...TRAIN_BASE,
    lr: 3e-4,
    accumulate_bs: 1,
    hidden_dim: 128,
    condition_dim: 1024,
    param_hidden: 128,
    max_scale: 1,
    eps: 0.1,
    margin_kl_max: 1e-3,
    margin_kl_min: 1e-5,
    lr_alpha: 1e-1,
    anneal_above: 0.9,
  };
}

const POSITIVE_INTS = ['batch_size', 'accumulate_bs', 'max_iters', 'val_interval', 'val_steps', 'early_stop_patience'];

/**
 * Completes `given` over `base` and validates it. Unknown fields are ignored.
 * @throws ArgumentError naming the field and the value received
 */
export function resolveHparams<H extends TrainHyperParams>(base: H, given: Record<string, unknown>, source = 'hparams'): H {
  const raw: Record<string, unknown> = { ...(base as object) };
  for (const key of Object.keys(base)) if (given[key] !== undefined && given[key] !== null) raw[key] = given[key];
  const h = raw as H & Record<string, unknown>;
  if (!Array.isArray(h.inner_params) || h.inner_params.some((p) => typeof p !== 'string')) {
    throw new ArgumentError(`${source}: expected a list of weight names for inner_params but received ${JSON.stringify(given.inner_params)}`);
  }
  for (const [k, v] of Object.entries(h)) {
    if (k === 'inner_params' || k === 'sign' || k === 'edit_nll') continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ArgumentError(`${source}: expected a number for ${k} but received ${JSON.stringify(v)}`);
    if (POSITIVE_INTS.includes(k) && (!Number.isInteger(v) || v < 1)) throw new ArgumentError(`${source}: expected a positive integer for ${k} but received ${v}`);
  }
  if ('sign' in h && h.sign !== 'paper' && h.sign !== 'code') throw new ArgumentError(`${source}: expected "paper" or "code" for sign but received ${JSON.stringify(h.sign)}`);
  if (h.edit_nll !== 'mean' && h.edit_nll !== 'sum') throw new ArgumentError(`${source}: expected "mean" or "sum" for edit_nll but received ${JSON.stringify(h.edit_nll)}`);
  if (!(h.val_fraction > 0 && h.val_fraction < 1)) throw new ArgumentError(`${source}: expected val_fraction in (0, 1) but received ${h.val_fraction}`);
  return h;
}

/**
 * Options of EasyEdit's MEND/KE trainer files that medit's trainer does not implement (logging,
 * checkpoint paths, architecture switches fixed by the paper's setup): accepted and ignored.
 */
const EASYEDIT_TRAINER_FIELDS = [
  'alg', 'lr_scale', 'debug', 'cbase', 'dropout', 'train_base', 'no_grad_layers', 'one_sided', 'hidden_dim', 'init', 'norm', 'combine',
  'x_only', 'delta_only', 'act', 'mlp_class', 'shared', 'model_save_pt', 'silent', 'log_interval', 'eval_log_interval', 'final_eval',
  'early_stop_key', 'eval_only', 'save', 'verbose', 'val_batch_size', 'opt', 'exact_match', 'max_epochs', 'iters',
];

/**
 * Reads hyperparameters from a JSON or YAML file over `base`.
 * @throws UnknownFieldError for a field neither `base` nor EasyEdit's trainer files have (naming the closest one)
 */
export function readHparamsFile<H extends TrainHyperParams>(file: string, base: H): H {
  return resolveHparams(base, readHparamsMapping(file, { known: Object.keys(base), ignored: EASYEDIT_TRAINER_FIELDS }), file);
}
