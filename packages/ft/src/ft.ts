/**
 * Fine-tuning baselines (specs/locate-then-edit.md §8; ROME:baselines/ft/ft_main.py,
 * EE:easyeditor/models/ft/ft_main.py): tune the parameters of one module (by default the MLP
 * output projection of one layer, weight and bias) on the edit requests, everything else frozen.
 *
 *   for epoch < num_steps:                       (epochs over the requests in batches)
 *     for each batch: loss = L_edit (+ kl_factor · KL);  skip the step if loss < early_stop_loss
 *                     Adam step;  FT-L: clamp W into [W0 − ε, W0 + ε]
 *     stop when the epoch's mean loss < early_stop_loss
 *   ΔW = W − W0; W is restored (the caller applies ΔW).
 *
 * The optimiser is Adam (AdamW with decoupled decay when weight_decay > 0: torch's Adam couples
 * it; every reference preset uses 0, where the two are identical).
 */
import {
  AdamW,
  type CausalLM,
  CancelledError,
  type EditOptions,
  type EditRequest,
  type Editor,
  type Tensor,
  ArgumentError,
  EditDelta,
  add,
  clone,
  copyInplace,
  fillTemplate,
  grad,
  keep,
  modelFingerprint,
  mulScalar,
  noGrad,
  sub,
  targetIds,
  tensor,
  tidy,
  validateRequest,
  yieldToEventLoop,
} from '@medit/core';

import { defaultFtHparams, resolveFtHparams, ftVariantOf, type FtHyperParams, type FtVariant } from './hparams';
import { forwardFrom, klToReference, promptLastLoss, targetNewLoss, tokenLogProbs, type TokenizedEdit } from './losses';

export interface FtEditorOptions {
  /**
   * Which baseline the hyperparameters complete (defaults per variant, see
   * {@link defaultFtHparams}); default 'FT'.
   */
  variant?: FtVariant;
  /** FT+KL: unrelated prompts whose next-token distributions are kept (required when kl_factor > 0). */
  klPrompts?: string[];
}

/** One epoch's numbers. */
export interface FtEpoch {
  epoch: number;
  /** mean edit loss over the batches */
  loss: number;
  /** mean KL term (before kl_factor), 0 without FT+KL */
  kl: number;
  /** optimiser steps taken in this epoch */
  steps: number;
}

/**
 * FT / FT-L / FT-M / FT+KL as an {@link Editor}. The delta is dense: one update per tuned
 * parameter (`W − W0`, in the parameter's own layout).
 * @example
 * const editor = new FtEditor({ lr: 1e-3 }, { variant: 'FT-M' });
 * const delta = await editor.edit(model, [{ prompt: '{} is a citizen of', subject: 'Rakem Boskre', targetNew: 'Lasktra' }]);
 * delta.apply(model);
 */
export class FtEditor implements Editor {
  readonly hparams: Partial<FtHyperParams>;
  private readonly variant: FtVariant;

  constructor(hparams: Partial<FtHyperParams> = {}, private readonly options: FtEditorOptions = {}) {
    this.hparams = hparams;
    this.variant = options.variant ?? 'FT';
  }

  /** "FT", "FT-L", "FT-M" or "FT+KL" (from the hyperparameters as given). */
  get name(): string {
    return ftVariantOf({ ...defaultFtHparams(1, this.variant), ...this.hparams });
  }

  /** The hyperparameters resolved for a model (defaults filled in). */
  resolve(model: CausalLM): FtHyperParams {
    return resolveFtHparams(this.hparams as Record<string, unknown>, model.config.numLayers, this.variant);
  }

  /** Checkpoint names of the parameters FT tunes (substring match on the module template). */
  tunedParameters(model: CausalLM, hp: FtHyperParams = this.resolve(model)): string[] {
    const names: string[] = [];
    for (const layer of hp.layers) {
      const module = hp.rewrite_module_tmp ? hp.rewrite_module_tmp.replace('{}', String(layer)) : model.rewriteModule(layer).weightName.replace(/\.weight$/, '');
      const found = [...model.params.keys()].filter((n) => n.includes(module));
      if (found.length === 0) throw new ArgumentError(`FT: no parameter of the model matches module ${JSON.stringify(module)} (layer ${layer})`);
      for (const n of found) if (!names.includes(n)) names.push(n);
    }
    return names;
  }

  async edit(model: CausalLM, requests: EditRequest[], opts: EditOptions = {}): Promise<EditDelta> {
    await yieldToEventLoop(); // frees the handles of earlier work (see yieldToEventLoop)
    const tok = model.tokenizer;
    if (!tok) throw new ArgumentError('FT needs a model with a tokenizer');
    if (requests.length === 0) throw new ArgumentError('FT: expected at least one edit request');
    requests.forEach((r, i) => validateRequest(r, i, model.tokenizer));
    const hp = this.resolve(model);
    const method = ftVariantOf(hp);
    if (hp.kl_factor > 0 && !this.options.klPrompts?.length) throw new ArgumentError(`${method}: kl_factor > 0 needs klPrompts (unrelated prompts) in the editor options`);
    const pad = model.config.eosTokenId ?? 0;
    const edits: TokenizedEdit[] = requests.map((r) => ({ prompt: tok.encode(fillTemplate(r.prompt, r.subject)), target: targetIds(tok, r.targetNew) }));
    const klIds = hp.kl_factor > 0 ? this.options.klPrompts!.map((p) => tok.encode(p)) : [];
    const fingerprint = modelFingerprint(model);
    const names = this.tunedParameters(model, hp);
    const params = names.map((n) => model.param(n));
    const originals = params.map((p) => keep(clone(p)));
    // the blocks below the first tuned one run once per batch
    const frozen = forwardFrom(model, firstTunedBlock(model, names));
    const reference = hp.kl_factor > 0 ? keep(noGrad(() => tidy(() => tokenLogProbs(frozen.forward, klIds, pad)))) : undefined;
    const lossFn = hp.objective_optimization === 'target_new' ? targetNewLoss : promptLastLoss;
    const opt = new AdamW(params, { lr: hp.lr, weightDecay: hp.weight_decay });
    const epochs: FtEpoch[] = [];
    let deltas: Tensor[];
    try {
      for (const p of params) p.requiresGrad = true;
      for (let epoch = 0; epoch < hp.num_steps; epoch++) {
        let lossSum = 0;
        let klSum = 0;
        let steps = 0;
        let batches = 0;
        for (let start = 0; start < edits.length; start += hp.batch_size) {
          if (opts.signal?.aborted) throw new CancelledError(`${method} edit cancelled`);
          const batch = edits.slice(start, start + hp.batch_size);
          const stepped = tidy(() => {
            const editLoss = lossFn(frozen.forward, batch, pad);
            let loss = editLoss;
            if (reference) {
              const kl = klToReference(frozen.forward, klIds, reference, pad);
              klSum += kl.item();
              loss = add(loss, mulScalar(kl, hp.kl_factor));
            }
            const value = loss.item();
            lossSum += editLoss.item();
            if (value < hp.early_stop_loss) return false;
            opt.update(grad(loss, params));
            return true;
          });
          batches++;
          if (stepped) {
            steps++;
            if (hp.norm_constraint !== false) params.forEach((p, i) => clampInto(p, originals[i], hp.norm_constraint as number));
          }
        }
        const row = { epoch, loss: lossSum / batches, kl: klSum / batches, steps };
        epochs.push(row);
        opts.onProgress?.({ stage: method, done: epoch + 1, total: hp.num_steps, info: { loss: row.loss, kl: row.kl } });
        if (row.loss < hp.early_stop_loss) break;
      }
      deltas = noGrad(() => params.map((p, i) => keep(sub(p, originals[i]))));
    } finally {
      // Restore W0 exactly whatever happened.
      params.forEach((p, i) => {
        p.requiresGrad = false;
        copyInplace(p, originals[i]);
        originals[i].dispose();
      });
      opt.dispose();
      reference?.dispose();
      frozen.dispose();
    }
    return new EditDelta(
      names.map((name, i) => ({ name, delta: deltas[i] })),
      { method, modelFingerprint: fingerprint, hparams: hp, requests: requests.map((r) => ({ ...r })), stats: { epochs } },
    );
  }
}

/**
 * The first block holding a tuned parameter (its names start with the block's prefix, e.g.
 * `transformer.h.5.`), or 0 when one lies outside the blocks (embeddings, final norm, head).
 * @internal
 */
export function firstTunedBlock(model: CausalLM, names: string[]): number {
  const blockOf = (name: string): number => {
    for (let l = 0; l < model.config.numLayers; l++) {
      const w = model.rewriteModule(l).weightName;
      const at = w.indexOf(`.${l}.`);
      if (at >= 0 && name.startsWith(w.slice(0, at + `.${l}.`.length))) return l;
    }
    return -1;
  };
  const blocks = names.map(blockOf);
  return blocks.some((l) => l < 0) ? 0 : Math.min(...blocks);
}

/** W ← clamp(W, W0 − ε, W0 + ε) elementwise, in float32 as torch.clamp does. @internal */
export function clampInto(w: Tensor, w0: Tensor, eps: number): void {
  const cur = w.data() as Float32Array;
  const orig = w0.data() as Float32Array;
  let changed = false;
  for (let i = 0; i < cur.length; i++) {
    const lo = Math.fround(orig[i] - eps);
    const hi = Math.fround(orig[i] + eps);
    if (cur[i] < lo) {
      cur[i] = lo;
      changed = true;
    } else if (cur[i] > hi) {
      cur[i] = hi;
      changed = true;
    }
  }
  if (!changed) return;
  const t = tensor(cur, w.shape);
  copyInplace(w, t);
  t.dispose();
}
