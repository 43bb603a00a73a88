/**
 * The value side of ROME (paper Eq. 4; ROME:rome/compute_v.py; spec §1.6): optimise one
 * vector δ added to the MLP output of the edited layer at the subject's last token so
 * that the model predicts the new target after every context template, while keeping
 * the next-token distribution after "{subject} is a"'s subject close to the original:
 *
 *   L(δ) = mean_j [ −(1/T) Σ_τ log P(t_τ | x_j, t_<τ) ]
 *          + kl_factor · KL(P_δ(·|s_KL) ‖ P_0(·|s_KL))
 *          + v_weight_decay · ‖δ‖ / ‖m0‖²
 *
 * Adam on δ only; stop when L < 0.05 or after v_num_grad_steps forward passes (the last
 * one takes no step); δ is projected into the ball ‖δ‖ ≤ clamp_norm_factor·‖m0‖.
 * v* = m0 + δ, where m0 is the module output at the raw prompt's subject token.
 */
import {
  AdamW,
  type CausalLM,
  CancelledError,
  DeltaPass,
  type FactToken,
  type Tensor,
  add,
  copyInplace,
  crossEntropy,
  fillTemplate,
  grad,
  indexSelect,
  keep,
  klDiv,
  l2Norm,
  locateSubject,
  logSoftmax,
  mulScalar,
  noGrad,
  reshape,
  tensor,
  tidy,
  zeros,
  vectorNorm,
} from '@medit/core';

import type { RomeHyperParams } from './hparams';

export interface TargetStep {
  step: number;
  loss: number;
  nll: number;
  kl: number;
  weightDecay: number;
  /** mean over templates of P(target) (geometric mean over its tokens) */
  targetProb: number;
}

export interface TargetResult {
  /** v* = m0 + δ [C] */
  vStar: Tensor;
  /** m0: the module output at the raw prompt's subject token [C] */
  m0: Tensor;
  delta: Tensor;
  trace: TargetStep[];
}

const KL_TEMPLATE = '{} is a';

export function computeTarget(
  model: CausalLM,
  hp: RomeHyperParams,
  templates: string[],
  prompt: string,
  subject: string,
  target: number[],
  factToken: FactToken,
  signal?: AbortSignal,
  /** called after each optimisation step (progress reporting) */
  onStep?: (step: TargetStep) => void,
): TargetResult {
  const tok = model.tokenizer!;
  const layer = hp.layers[0];
  const T = target.length;
  // Rewriting rows: template(prompt) with the subject, followed by target[:-1].
  const rows: number[][] = [];
  const lookup: number[] = [];
  const labels: number[][] = [];
  for (const c of templates) {
    const located = locateSubject(tok, fillTemplate(c, prompt), subject, factToken);
    const ids = [...located.ids, ...target.slice(0, -1)];
    rows.push(ids);
    lookup.push(located.index);
    // logits at position p predict token p+1: the last prompt token scores target[0].
    labels.push(ids.map((_, p) => (p >= located.ids.length - 1 ? target[p - (located.ids.length - 1)] : -100)));
  }
  const kl = locateSubject(tok, KL_TEMPLATE, subject, factToken);
  rows.push(kl.ids);
  lookup.push(kl.index);
  const R = templates.length;
  // The loss reads each rewriting row's target positions, then the KL row's subject token.
  const read = labels.flatMap((row, batch) => row.flatMap((y, token) => (y >= 0 ? [{ batch, token }] : [])));
  const readLabels = read.map(({ batch, token }) => labels[batch][token]);
  read.push({ batch: R, token: kl.index });
  readLabels.push(-100);

  const C = model.config.hiddenSize;
  // δ-independent work once: the blocks up to the edited one, and every token before δ's.
  const pass = DeltaPass.create(model, rows, lookup, layer, 'mlp_out', model.config.eosTokenId ?? 0);
  const delta = keep(zeros([C]));
  delta.requiresGrad = true;
  const opt = new AdamW([delta], { lr: hp.v_lr, weightDecay: 0 });
  // m0: the module output at the raw prompt's (row 0's) subject token
  const m0 = keep(noGrad(() => tidy(() => reshape(indexSelect(pass.base, 0, [0]), [C]))));
  const m0Data = m0.data() as Float32Array;
  const m0Norm2 = m0Data.reduce((s, x) => s + x * x, 0);
  let initKl: Tensor | undefined;
  const trace: TargetStep[] = [];
  try {
    for (let step = 0; step < hp.v_num_grad_steps; step++) {
      if (signal?.aborted) throw new CancelledError('ROME edit cancelled');
      const stop = tidy(() => {
        // δ at every row's subject token (KL row included), broadcast to [rows, C]
        const logits = pass.logits(add(zeros([rows.length, C]), reshape(delta, [1, C])), read);
        const logp = logSoftmax(logits);
        // NLL: per-row sum over its T target tokens / T, mean over rewriting rows.
        const nllSum = crossEntropy(logp, readLabels, { reduction: 'sum' });
        const nll = mulScalar(nllSum, 1 / (T * R));
        const klLogp = indexSelect(logp, 0, [read.length - 1]);
        if (!initKl) initKl = keep(noGrad(() => tensor(klLogp.data() as Float32Array, klLogp.shape)));
        const klTerm = mulScalar(klDiv(klLogp, initKl, 'sum'), hp.kl_factor);
        const wd = mulScalar(l2Norm(delta), hp.v_weight_decay / m0Norm2);
        const loss = add(add(nll, klTerm), wd);
        const lossValue = loss.item();
        const nllValue = nll.item();
        trace.push({ step, loss: lossValue, nll: nllValue, kl: klTerm.item(), weightDecay: wd.item(), targetProb: Math.exp(-nllValue) });
        onStep?.(trace[trace.length - 1]);
        if (lossValue < 5e-2 || step === hp.v_num_grad_steps - 1) return true;
        const [g] = grad(loss, [delta]);
        opt.update([g]);
        return false;
      });
      if (stop) break;
      // Project δ into the L2 ball of radius clamp_norm_factor·‖m0‖.
      const d = delta.data() as Float32Array;
      const norm = vectorNorm(d);
      const maxNorm = hp.clamp_norm_factor * Math.sqrt(m0Norm2);
      if (norm > maxNorm) {
        const scaled = tensor(d.map((x) => (x * maxNorm) / norm), [C]);
        copyInplace(delta, scaled);
        scaled.dispose();
      }
    }
  } catch (err) {
    delta.dispose();
    m0.dispose();
    throw err;
  } finally {
    opt.dispose();
    initKl?.dispose();
    pass.dispose();
  }
  delta.requiresGrad = false;
  const vStar = keep(noGrad(() => add(m0, delta)));
  return { vStar, m0, delta, trace };
}
