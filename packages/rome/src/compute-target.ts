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
  type FactToken,
  type Tensor,
  add,
  addAt,
  copyInplace,
  crossEntropy,
  fillTemplate,
  gatherAt,
  grad,
  keep,
  klDiv,
  l2Norm,
  locateSubject,
  logSoftmax,
  mulScalar,
  noGrad,
  reshape,
  rightPad,
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
  const module = model.rewriteModule(layer);
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
  const { ids, mask } = rightPad(rows, model.config.eosTokenId ?? 0);
  const width = ids[0].length;
  const flatLabels = labels.flatMap((l) => [...l, ...Array(width - l.length).fill(-100)]);
  const positions = lookup.map((token, batch) => ({ batch, token }));
  const klPosition = [{ batch: R, token: kl.index }];

  const C = model.config.hiddenSize;
  const delta = keep(zeros([C]));
  delta.requiresGrad = true;
  const opt = new AdamW([delta], { lr: hp.v_lr, weightDecay: 0 });
  let m0: Tensor | undefined;
  let initKl: Tensor | undefined;
  const trace: TargetStep[] = [];
  try {
    for (let step = 0; step < hp.v_num_grad_steps; step++) {
      if (signal?.aborted) throw new CancelledError('ROME edit cancelled');
      const stop = tidy(() => {
        const { logits } = model.forward(ids, {
          attentionMask: mask,
          hooks: {
            [module.valueHook]: (out) => {
              if (!m0) m0 = keep(noGrad(() => reshape(gatherAt(out, [positions[0]]), [C])));
              // δ at every row's subject token (KL row included), broadcast to [rows, C]
              return addAt(out, positions, add(zeros([positions.length, C]), reshape(delta, [1, C])));
            },
          },
        });
        const V = logits.shape[2];
        const logp = logSoftmax(logits);
        // NLL: per-row sum over its T target tokens / T, mean over rewriting rows.
        const rewriting = reshape(logp, [-1, V]);
        const nllSum = crossEntropy(rewriting, [...flatLabels, ...Array(width).fill(-100)], { reduction: 'sum' });
        const nll = mulScalar(nllSum, 1 / (T * R));
        const klLogp = gatherAt(logp, klPosition);
        if (!initKl) initKl = keep(noGrad(() => tensor(klLogp.data() as Float32Array, klLogp.shape)));
        const klTerm = mulScalar(klDiv(klLogp, initKl, 'sum'), hp.kl_factor);
        const m0Norm2 = (m0!.data() as Float32Array).reduce((s, x) => s + x * x, 0);
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
      const maxNorm = hp.clamp_norm_factor * vectorNorm(m0!.data() as Float32Array);
      if (norm > maxNorm) {
        const scaled = tensor(d.map((x) => (x * maxNorm) / norm), [C]);
        copyInplace(delta, scaled);
        scaled.dispose();
      }
    }
  } catch (err) {
    delta.dispose();
    m0?.dispose();
    throw err;
  } finally {
    opt.dispose();
    initKl?.dispose();
  }
  delta.requiresGrad = false;
  const vStar = keep(noGrad(() => add(m0!, delta)));
  return { vStar, m0: m0!, delta, trace };
}
