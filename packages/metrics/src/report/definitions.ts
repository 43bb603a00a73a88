/**
 * One-line definitions of the metrics an {@link EvalReport} holds, for readers of the report (the
 * HTML view and `medit eval`'s console table). They restate what the metric functions compute
 * (counterfact.ts, easyedit.ts, zsre.ts, sequential.ts, entropy.ts); P(x) is the per-token
 * geometric-mean probability of answer x after the prompt, "top-1" the teacher-forced argmax.
 */

/**
 * Definitions by aggregate name; `locality/<kind>` and `portability/<kind>` use their family's, the
 * neighbourhood locality split by edited subject has its own.
 */
export const METRIC_DEFINITIONS: Readonly<Record<string, string>> = {
  efficacyScore: 'CounterFact ES (reliability): share of edit prompts where P(new target) > P(true answer)',
  efficacyMagnitude: 'CounterFact EM: mean P(new target) − P(true answer) on the edit prompt (−1 to 1)',
  paraphraseScore: 'CounterFact PS (generalisation): ES on paraphrases of the edit prompt',
  paraphraseMagnitude: 'CounterFact PM: EM on the paraphrases',
  neighborhoodScore: 'CounterFact NS (locality): share of prompts about neighbouring subjects that still prefer their true answer',
  neighborhoodMagnitude: 'CounterFact NM: mean P(true answer) − P(new target) on the neighbourhood prompts (−1 to 1)',
  score: 'harmonic mean of the suite’s three scores (CounterFact: ES, PS, NS; zsRE: efficacy, paraphrase, specificity)',
  generationEntropy: 'fluency of generated text: weighted 2-/3-gram entropy in bits (higher = less repetitive)',
  referenceScore: 'consistency: TF-IDF cosine similarity of generated text with reference text about the new target',
  rewriteAcc: 'EasyEdit reliability: top-1 token accuracy of the new target on the edit prompt',
  rephraseAcc: 'EasyEdit generalisation: top-1 token accuracy of the new target on rephrased prompts',
  locality: 'EasyEdit locality: share of unrelated prompts’ answer tokens predicted as the unedited model predicted them',
  'locality/neighborhood-subject-edited':
    'EasyEdit locality on neighbourhood prompts about a subject the run also edits on another relation (batch, sequential): relation specificity, how much an edit moves its subject’s other facts',
  'locality/neighborhood-subject-unedited': 'EasyEdit locality on neighbourhood prompts about subjects no edit in place rewrites: the model left alone away from the edited subjects',
  portability: 'EasyEdit portability: top-1 token accuracy on prompts whose answers follow from the edit (multi-hop, aliases)',
  fluency: 'EasyEdit fluency: weighted 2-/3-gram entropy of generated text in bits (higher = less repetitive)',
  efficacy: 'zsRE efficacy: top-1 token accuracy of the new target on the edit question',
  paraphrase: 'zsRE paraphrase: top-1 token accuracy of the new target on the rephrased question',
  specificity: 'zsRE specificity: top-1 token accuracy on unrelated questions against their gold answers',
  SR: 'sequential success rate: share of edits whose whole target is top-1 right after the edit',
  GR: 'sequential generalisation rate: share of the edits’ rephrasings answered with the target right after the edit',
  ER: 'sequential edit retain rate: share of all edits still answered with their target at the end',
  TrainR: 'train retain rate: accuracy on the model’s own training facts after the edits ÷ before (can exceed 1)',
  TestR: 'test retain rate: accuracy on unrelated (locality) prompts after the edits ÷ before (can exceed 1)',
};

/** The definition of an aggregate by name (`locality/<kind>` → `locality`), or undefined. */
export function metricDefinition(name: string): string | undefined {
  return METRIC_DEFINITIONS[name] ?? METRIC_DEFINITIONS[name.split('/')[0]];
}
