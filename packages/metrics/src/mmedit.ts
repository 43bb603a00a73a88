/**
 * MMEdit's metrics (Cheng et al., EMNLP 2023, Eqs. 1–5; specs/meta-and-memory.md §8.4), computed
 * from teacher-forced predictions as EasyEdit's `MultimodalTrainer` / `multimodal_evaluate` do:
 *
 * - Reliability: the edit input (i_e, x_e) scored against y_e;
 * - T-Generality: the same image with the rephrased text x_r, against y_e;
 * - M-Generality: the rephrased image i_r with x_e, against y_e;
 *   each the whole-sequence match of the target tokens (`exact_match: True`, the multimodal
 *   hparams' setting) or, with `exactMatch: false`, the mean token accuracy;
 * - T-Locality: text-only input (x, y): the share of answer positions whose top-1 token is the
 *   same before and after the edit;
 * - M-Locality: image + text input (i_v, x_v, y_v): the share of (answer position, rank) pairs
 *   whose top-10 token lists agree position-wise — stricter than top-1.
 */
import { expected, MetricInputError } from './errors';
import { type LocalityPrediction, type TokenPrediction, tokenAccuracy, tokenAgreement, tokenExactMatch } from './token';

/** Top-k token ids at each answer position, before and after the edit ([positions][k]). */
export interface TopKLocalityPrediction {
  pre: readonly (readonly number[])[];
  post: readonly (readonly number[])[];
}

/** Everything one MMEdit case is scored on. */
export interface MmeditCasePredictions {
  /** (image, src) against alt, after the edit */
  reliability: TokenPrediction;
  /** (image, rephrase) against alt, after the edit */
  textGenerality: TokenPrediction;
  /** (image_rephrase, src) against alt, after the edit */
  imageGenerality: TokenPrediction;
  /** (loc + loc_ans), no image: top-1 ids at the answer positions, pre and post */
  textLocality: LocalityPrediction;
  /** (m_loc image, m_loc_q + m_loc_a): top-10 ids at the answer positions, pre and post */
  imageLocality: TopKLocalityPrediction;
}

/** The five MMEdit numbers of a case, fractions in [0, 1]. */
export interface MmeditCaseMetrics {
  reliability: number;
  tGenerality: number;
  mGenerality: number;
  tLocality: number;
  mLocality: number;
}

/**
 * Position-wise agreement of top-k lists: `(1/(T·k)) Σ_t Σ_r 1[pre_t[r] = post_t[r]]` (EasyEdit
 * compares `topk(…).indices` tensors elementwise and takes the mean).
 * @throws {MetricInputError} on empty or mismatched lists
 * @example topKAgreement({ pre: [[1, 2], [3, 4]], post: [[1, 5], [3, 4]] }) // 0.75
 */
export function topKAgreement(p: TopKLocalityPrediction, where = 'imageLocality'): number {
  if (!Array.isArray(p.pre) || p.pre.length === 0) throw expected('at least one answer position', `${where}.pre`, p.pre);
  if (!Array.isArray(p.post) || p.post.length !== p.pre.length) {
    throw new MetricInputError(`Expected ${where}.pre and ${where}.post to have the same number of positions but received ${p.pre.length} and ${Array.isArray(p.post) ? p.post.length : typeof p.post}`);
  }
  let hit = 0;
  let n = 0;
  p.pre.forEach((pre, t) => {
    const post = p.post[t];
    if (pre.length === 0 || post.length !== pre.length) throw new MetricInputError(`Expected ${where}.pre[${t}] and ${where}.post[${t}] to be non-empty lists of equal length but received ${pre.length} and ${post.length}`);
    pre.forEach((id: number, r: number) => {
      if (id === post[r]) hit++;
      n++;
    });
  });
  return hit / n;
}

/**
 * The MMEdit metrics of one case.
 * @param opts.exactMatch - whole-sequence match for reliability and generality (default true, as
 *   EasyEdit's multimodal hparams set `exact_match`); false = mean token accuracy
 */
export function mmeditCaseMetrics(p: MmeditCasePredictions, opts: { exactMatch?: boolean } = {}): MmeditCaseMetrics {
  const score = (x: TokenPrediction, where: string) => ((opts.exactMatch ?? true) ? (tokenExactMatch(x, where) ? 1 : 0) : tokenAccuracy(x, where));
  return {
    reliability: score(p.reliability, 'reliability'),
    tGenerality: score(p.textGenerality, 'textGenerality'),
    mGenerality: score(p.imageGenerality, 'imageGenerality'),
    tLocality: tokenAgreement(p.textLocality, 'textLocality'),
    mLocality: topKAgreement(p.imageLocality),
  };
}
