/**
 * Token-level building blocks shared by the EasyEdit, zsRE and locality metrics. All inputs are
 * token ids produced by the harness; no model is called here.
 */
import { expected, MetricInputError } from './errors';

/**
 * Teacher-forced predictions for one prompt + target continuation.
 *
 * `target[i]` is the i-th target token id; `predicted[i]` is the argmax of the logits at the position
 * that predicts it (the position just before it), with the gold prefix fed in (teacher forcing).
 * Both arrays have the same, non-zero length.
 */
export interface TokenPrediction {
  predicted: readonly number[];
  target: readonly number[];
}

/**
 * Pre- vs post-edit argmax ids over the same locality answer span (teacher-forced with the locality
 * ground truth), as EasyEdit's locality compares them. Same, non-zero length.
 */
export interface LocalityPrediction {
  pre: readonly number[];
  post: readonly number[];
}

function checkPair(a: readonly number[], b: readonly number[], names: [string, string], where: string): void {
  if (!Array.isArray(a)) throw expected('an array of token ids', `${where}.${names[0]}`, a);
  if (!Array.isArray(b)) throw expected('an array of token ids', `${where}.${names[1]}`, b);
  if (b.length === 0) throw expected('at least one token', `${where}.${names[1]}`, b);
  if (a.length !== b.length) {
    throw new MetricInputError(
      `Expected ${where}.${names[0]} and ${where}.${names[1]} to have the same length but received ${a.length} and ${b.length}`,
    );
  }
}

/**
 * Teacher-forced token accuracy: `(1/T) Σᵢ 1[predictedᵢ = targetᵢ]`.
 *
 * Source: EasyEdit `evaluate_utils.py::test_prediction_acc` (mean of `answers == labels` over
 * target tokens); ROME/MEMIT zsRE "token-level top-1 accuracy" (`eval_utils_zsre.py`).
 *
 * @throws {MetricInputError} on empty target or length mismatch.
 * @example tokenAccuracy({ predicted: [5, 9], target: [5, 7] }) // 0.5
 */
export function tokenAccuracy(p: TokenPrediction, where = 'prediction'): number {
  checkPair(p.predicted, p.target, ['predicted', 'target'], where);
  let hit = 0;
  for (let i = 0; i < p.target.length; i++) if (p.predicted[i] === p.target[i]) hit++;
  return hit / p.target.length;
}

/**
 * Whole-sequence match: every target token is the teacher-forced argmax. MEMIT's
 * `*_prompts_correct` (`kmeng01/memit` `eval_utils_counterfact.py`), EasyEdit `exact_match=True`.
 */
export function tokenExactMatch(p: TokenPrediction, where = 'prediction'): boolean {
  return tokenAccuracy(p, where) === 1;
}

/**
 * Mean token accuracy over several prompts: `(1/K) Σₖ tokenAccuracy(pₖ)` (each prompt weighted
 * equally, as EasyEdit averages its per-prompt list). Returns null for an empty list (the metric is
 * undefined for this case, e.g. no rephrase prompts), never NaN or a throw.
 */
export function meanTokenAccuracy(ps: readonly TokenPrediction[], where = 'predictions'): number | null {
  if (ps.length === 0) return null;
  let s = 0;
  ps.forEach((p, k) => (s += tokenAccuracy(p, `${where}[${k}]`)));
  return s / ps.length;
}

/**
 * Agreement of post-edit with pre-edit argmax tokens: `(1/T) Σᵢ 1[postᵢ = preᵢ]`.
 * Source: EasyEdit `compute_locality_quality` + `finalize_locality_metrics` (locality compares with
 * the pre-edit predictions, not the ground truth).
 */
export function tokenAgreement(l: LocalityPrediction, where = 'locality'): number {
  checkPair(l.post, l.pre, ['post', 'pre'], where);
  let hit = 0;
  for (let i = 0; i < l.pre.length; i++) if (l.pre[i] === l.post[i]) hit++;
  return hit / l.pre.length;
}
