/**
 * CounterFact metrics exactly as `kmeng01/rome` computes them
 * (`experiments/py/eval_utils_counterfact.py`, `experiments/summarize.py`; Meng et al. 2022 §3,
 * locate-then-edit spec §9). Values are fractions in [0, 1] (ROME multiplies by 100 when printing).
 */
import { expected } from './errors';
import { generationEntropy } from './entropy';
import { harmonicMean } from './stats';
import { TfIdfModel } from './tfidf';

/**
 * Mean per-token negative log-likelihoods (nats) of the two candidate continuations of one prompt:
 * `NLL(x, o) = −(1/|o|) Σⱼ log p(oⱼ | x, o<ⱼ)` with `o` tokenised as `" " + target`. ROME compares
 * these length-normalised values (`P̄ = exp(−NLL)` is the geometric-mean token probability).
 */
export interface TargetNll {
  nllNew: number;
  nllTrue: number;
}

/** What the harness records for one CounterFact case (post-edit model unless noted). */
export interface CounterFactCasePredictions {
  /** The rewrite prompt(s) (ROME: one, the request template filled with the subject). */
  rewrite: readonly TargetNll[];
  /** Each `paraphrase_prompts` entry. */
  paraphrase: readonly TargetNll[];
  /** Each `neighborhood_prompts` entry. */
  neighborhood: readonly TargetNll[];
  /** Each `attribute_prompts` entry (computed by ROME, not summarised). */
  attribute?: readonly TargetNll[];
  /** Texts generated from `generation_prompts` (ROME: top-k 5 sampling, 100 tokens total). */
  generations?: readonly string[];
}

/** Per-case CounterFact metrics (each the mean over that case's prompts). */
export interface CounterFactCaseMetrics {
  efficacyScore: number | null;
  efficacyMagnitude: number | null;
  paraphraseScore: number | null;
  paraphraseMagnitude: number | null;
  neighborhoodScore: number | null;
  neighborhoodMagnitude: number | null;
  generationEntropy?: number | null;
  referenceScore?: number | null;
}

/**
 * Mean NLL of a target from per-token log-probabilities: `−(1/T) Σ log pⱼ`.
 * @throws {MetricInputError} for an empty list or a positive / NaN log-probability.
 */
export function meanNll(tokenLogProbs: readonly number[]): number {
  if (tokenLogProbs.length === 0) throw expected('at least one token log-probability', 'tokenLogProbs', tokenLogProbs);
  let s = 0;
  for (const lp of tokenLogProbs) {
    if (Number.isNaN(lp) || lp > 0) throw expected('log-probabilities ≤ 0', 'tokenLogProbs', lp);
    s += lp;
  }
  return -s / tokenLogProbs.length;
}

function check(x: TargetNll, where: string): void {
  for (const k of ['nllNew', 'nllTrue'] as const) {
    const v = x[k];
    // +Infinity is a legal NLL (probability 0); NaN and negatives are not.
    if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw expected('a non-negative NLL', `${where}.${k}`, v);
  }
}

function meanOver(xs: readonly TargetNll[], where: string, f: (x: TargetNll) => number): number | null {
  if (xs.length === 0) return null;
  let s = 0;
  xs.forEach((x, i) => {
    check(x, `${where}[${i}]`);
    s += f(x);
  });
  return s / xs.length;
}

/** `1[NLL_new < NLL_true]`, i.e. `P̄(o*) > P̄(oᶜ)`; a tie counts as failure (strict, as ROME). */
const prefersNew = (x: TargetNll): number => (x.nllNew < x.nllTrue ? 1 : 0);
/** `1[NLL_true < NLL_new]`; a tie counts as failure. */
const prefersTrue = (x: TargetNll): number => (x.nllTrue < x.nllNew ? 1 : 0);
const newMinusTrue = (x: TargetNll): number => Math.exp(-x.nllNew) - Math.exp(-x.nllTrue);
const trueMinusNew = (x: TargetNll): number => Math.exp(-x.nllTrue) - Math.exp(-x.nllNew);

/** Efficacy Score ES: mean over rewrite prompts of `1[NLL_new < NLL_true]` (ROME `rewrite_prompts_probs`). Null if none. */
export function efficacyScore(xs: readonly TargetNll[]): number | null {
  return meanOver(xs, 'rewrite', prefersNew);
}
/** Efficacy Magnitude EM: mean of `exp(−NLL_new) − exp(−NLL_true)` (a probability difference). */
export function efficacyMagnitude(xs: readonly TargetNll[]): number | null {
  return meanOver(xs, 'rewrite', newMinusTrue);
}
/** Paraphrase Score PS: ES over the paraphrase prompts. */
export function paraphraseScore(xs: readonly TargetNll[]): number | null {
  return meanOver(xs, 'paraphrase', prefersNew);
}
/** Paraphrase Magnitude PM: EM over the paraphrase prompts. */
export function paraphraseMagnitude(xs: readonly TargetNll[]): number | null {
  return meanOver(xs, 'paraphrase', newMinusTrue);
}
/** Neighborhood Score NS: mean of `1[NLL_true < NLL_new]`: unrelated subjects keep the true object. */
export function neighborhoodScore(xs: readonly TargetNll[]): number | null {
  return meanOver(xs, 'neighborhood', prefersTrue);
}
/** Neighborhood Magnitude NM: mean of `exp(−NLL_true) − exp(−NLL_new)`. */
export function neighborhoodMagnitude(xs: readonly TargetNll[]): number | null {
  return meanOver(xs, 'neighborhood', trueMinusNew);
}

/**
 * CounterFact Score S = harmonic mean of ES, PS, NS (ROME `summarize.py`, via `scipy.stats.hmean`),
 * computed on the cross-case means. Null if any input is null; 0 if any is 0.
 */
export function counterFactScore(es: number | null, ps: number | null, ns: number | null): number | null {
  if (es === null || ps === null || ns === null) return null;
  return harmonicMean([es, ps, ns]);
}

/**
 * Reference score RS (ROME "consistency"): TF-IDF cosine similarity between the concatenation of
 * the generated texts and the concatenation of the reference texts (Wikipedia snippets of subjects
 * that truly have `o*`, `snips[relation_id][target_new.id]`). Source: ROME `tfidf_similarity` with
 * the vectorizer fitted on the attribute-snippet corpus (`dsets/tfidf_stats.py`).
 *
 * Null when either side is empty or shares no vocabulary term with the model (ROME would give NaN).
 */
export function referenceScore(generated: readonly string[], references: readonly string[], model: TfIdfModel): number | null {
  if (generated.length === 0 || references.length === 0) return null;
  return model.cosine(generated.join(' '), references.join(' '));
}

/**
 * All per-case CounterFact metrics. `generationEntropy` is included when `generations` is given;
 * `referenceScore` when `generations`, `referenceTexts` and `tfidf` are all given.
 */
export function counterFactCaseMetrics(
  p: CounterFactCasePredictions,
  opts: { referenceTexts?: readonly string[]; tfidf?: TfIdfModel } = {},
): CounterFactCaseMetrics {
  const m: CounterFactCaseMetrics = {
    efficacyScore: efficacyScore(p.rewrite),
    efficacyMagnitude: efficacyMagnitude(p.rewrite),
    paraphraseScore: paraphraseScore(p.paraphrase),
    paraphraseMagnitude: paraphraseMagnitude(p.paraphrase),
    neighborhoodScore: neighborhoodScore(p.neighborhood),
    neighborhoodMagnitude: neighborhoodMagnitude(p.neighborhood),
  };
  if (p.attribute) p.attribute.forEach((x, i) => check(x, `attribute[${i}]`));
  if (p.generations !== undefined) {
    m.generationEntropy = generationEntropy(p.generations);
    if (opts.referenceTexts !== undefined && opts.tfidf !== undefined) {
      m.referenceScore = referenceScore(p.generations, opts.referenceTexts, opts.tfidf);
    }
  }
  return m;
}

/**
 * ROME's essence-drift perplexity: `exp(−(1/N) Σ_{t≥2} log p(x_t | x_<t))` over a text of N tokens.
 * Pass the N − 1 conditional log-probs of tokens 2..N; the divisor is N, not N − 1, as in
 * ROME `util/perplexity.py` (locate-then-edit spec §9).
 */
export function essencePerplexity(conditionalLogProbs: readonly number[]): number {
  if (conditionalLogProbs.length === 0) throw expected('at least one conditional log-probability', 'conditionalLogProbs', conditionalLogProbs);
  let s = 0;
  for (const lp of conditionalLogProbs) {
    if (Number.isNaN(lp) || lp > 0) throw expected('log-probabilities ≤ 0', 'conditionalLogProbs', lp);
    s += lp;
  }
  return Math.exp(-s / (conditionalLogProbs.length + 1));
}
