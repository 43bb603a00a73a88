/**
 * EasyEdit's metric set (`zjunlp/EasyEdit` `easyeditor/evaluate/{evaluate,evaluate_utils}.py`;
 * locate-then-edit spec §10): Reliability (`rewrite_acc`), Generalization (`rephrase_acc`),
 * Locality, Portability, Fluency. All token metrics are teacher-forced.
 */
import { generationEntropy } from './entropy';
import { LocalityPrediction, meanTokenAccuracy, TokenPrediction, tokenAccuracy, tokenAgreement } from './token';

/**
 * What the harness records for one edit case under EasyEdit's protocol.
 *
 * - `rewrite`: post-edit teacher-forced argmax over `prompt + " " + targetNew`'s target tokens.
 * - `rephrase`: the same for each rephrase prompt (target = targetNew).
 * - `locality[kind]`: per locality prompt, pre- and post-edit argmax over the locality answer span.
 * - `portability[kind]`: per portability prompt, post-edit argmax vs the portability answer tokens.
 * - `generations`: post-edit free generations for the rewrite prompt (fluency), optional.
 */
export interface EasyEditCasePredictions {
  rewrite: TokenPrediction;
  rephrase?: readonly TokenPrediction[];
  locality?: Readonly<Record<string, readonly LocalityPrediction[]>>;
  portability?: Readonly<Record<string, readonly TokenPrediction[]>>;
  generations?: readonly string[];
}

/**
 * Reliability / Edit Succ.: teacher-forced token accuracy of `targetNew` on the rewrite prompt.
 * EasyEdit `compute_rewrite_or_rephrase_quality` → `rewrite_acc`.
 */
export function rewriteAcc(p: TokenPrediction): number {
  return tokenAccuracy(p, 'rewrite');
}

/** Generalization: mean token accuracy of `targetNew` over rephrase prompts (`rephrase_acc`); null if none. */
export function rephraseAcc(ps: readonly TokenPrediction[]): number | null {
  return meanTokenAccuracy(ps, 'rephrase');
}

/** Portability: mean token accuracy against the portability answers (`portability[key]_acc`); null if none. */
export function portabilityAcc(ps: readonly TokenPrediction[]): number | null {
  return meanTokenAccuracy(ps, 'portability');
}

/**
 * Locality: mean over locality prompts of the post-vs-pre argmax agreement
 * (`locality[key]_acc` after `finalize_locality_metrics`). Null for an empty locality set: the
 * metric is undefined for such a case and {@link aggregate} leaves it out.
 */
export function localityAcc(ls: readonly LocalityPrediction[]): number | null {
  if (ls.length === 0) return null;
  let s = 0;
  ls.forEach((l, k) => (s += tokenAgreement(l, `locality[${k}]`)));
  return s / ls.length;
}

/** Fluency: weighted 2/3-gram entropy of generated texts (see {@link generationEntropy}); null if none. */
export function fluency(texts: readonly string[]): number | null {
  return generationEntropy(texts);
}

/**
 * Per-case EasyEdit metrics as a flat row: `rewriteAcc`, `rephraseAcc`, `locality` (all locality
 * prompts pooled), `locality/<kind>`, `portability`, `portability/<kind>`, `fluency`. Metrics whose
 * prompt set is empty are null. EasyEdit's summary is the mean of these over cases
 * (`summary_metrics`), i.e. {@link aggregate} per key.
 */
export function easyEditCaseMetrics(p: EasyEditCasePredictions): Record<string, number | null> {
  const row: Record<string, number | null> = {
    rewriteAcc: rewriteAcc(p.rewrite),
    rephraseAcc: rephraseAcc(p.rephrase ?? []),
  };
  const allLoc: LocalityPrediction[] = [];
  for (const [kind, ls] of Object.entries(p.locality ?? {})) {
    row[`locality/${kind}`] = localityAcc(ls);
    allLoc.push(...ls);
  }
  row.locality = localityAcc(allLoc);
  const allPort: TokenPrediction[] = [];
  for (const [kind, ps] of Object.entries(p.portability ?? {})) {
    row[`portability/${kind}`] = portabilityAcc(ps);
    allPort.push(...ps);
  }
  row.portability = portabilityAcc(allPort);
  if (p.generations !== undefined) row.fluency = fluency(p.generations);
  return row;
}
