/**
 * zsRE metrics as ROME/MEMIT compute them (`kmeng01/rome` `experiments/py/eval_utils_zsre.py`,
 * `experiments/summarize.py`; MEND's zsRE split): token-level top-1 accuracy, teacher-forced.
 */
import { harmonicMean } from './stats';
import { meanTokenAccuracy, TokenPrediction, tokenAccuracy } from './token';

/** What the harness records for one zsRE case (post-edit model). */
export interface ZsreCasePredictions {
  /** Rewrite prompt (`src`) against `targetNew`'s tokens. */
  rewrite: TokenPrediction;
  /** Each rephrase prompt against `targetNew`'s tokens. */
  paraphrase: readonly TokenPrediction[];
  /** Each NQ locality prompt against the NQ answer (`loc_ans`) tokens: the model's own accuracy on
   *  unrelated facts, NOT compared with the pre-edit model. */
  neighborhood: readonly TokenPrediction[];
}

/** Per-case zsRE metrics. */
export interface ZsreCaseMetrics {
  efficacy: number;
  paraphrase: number | null;
  specificity: number | null;
}

/**
 * Per-case zsRE metrics: the mean of the per-token correctness flags of each prompt, averaged over
 * the prompts of the kind (MEND's zsRE has one of each). Null for a kind with no prompts.
 */
export function zsreCaseMetrics(p: ZsreCasePredictions): ZsreCaseMetrics {
  return {
    efficacy: tokenAccuracy(p.rewrite, 'rewrite'),
    paraphrase: meanTokenAccuracy(p.paraphrase, 'paraphrase'),
    specificity: meanTokenAccuracy(p.neighborhood, 'neighborhood'),
  };
}

/** zsRE Score: harmonic mean of the cross-case efficacy, paraphrase and specificity means (ROME `summarize.py`). */
export function zsreScore(efficacy: number | null, paraphrase: number | null, specificity: number | null): number | null {
  if (efficacy === null || paraphrase === null || specificity === null) return null;
  return harmonicMean([efficacy, paraphrase, specificity]);
}
