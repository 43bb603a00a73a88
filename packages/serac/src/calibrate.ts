/**
 * Choosing SERAC's routing threshold on held-out training subjects. SERAC routes when the best
 * g exceeds 0.5; a classifier trained from scratch on a few hundred subjects is not calibrated,
 * so medit can hold out some training subjects from the classifier (`trainSerac`'s
 * `validationShare`) and pick the threshold with the best balanced accuracy on them: their
 * edit prompts and rephrases must be routed, their locality prompts (other subjects) must not.
 */
import { ArgumentError, mulberry32 } from '@medit/core';
import type { EditCase } from '@medit/data';

import { editStatement } from './examples';
import type { ScopeClassifier } from './scope';

/** Candidate thresholds, low to high. */
export const THRESHOLD_GRID: readonly number[] = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/** Recall of in-scope queries and share of out-of-scope queries routed, at one threshold. */
export interface ThresholdRow {
  threshold: number;
  inScopeRouted: number;
  outOfScopeRouted: number;
}

/**
 * Splits cases by subject: about `share` of the subjects (seeded) go to validation, so that no
 * subject is on both sides.
 */
export function splitBySubject(cases: readonly EditCase[], share: number, seed = 0): { train: EditCase[]; validation: EditCase[] } {
  if (!(share > 0 && share < 1)) throw new ArgumentError(`splitBySubject: share must be in (0, 1), not ${share}`);
  const rng = mulberry32(seed + 7);
  const held = new Set([...new Set(cases.map((c) => c.request.subject))].filter(() => rng() < share));
  const validation = cases.filter((c) => held.has(c.request.subject));
  if (validation.length === 0 || validation.length === cases.length) throw new ArgumentError(`splitBySubject: a share of ${share} leaves one side empty (${cases.length} cases)`);
  return { train: cases.filter((c) => !held.has(c.request.subject)), validation };
}

/** What calibration reads of a validation case: the edit, its rephrases (in scope) and its locality prompts (out of scope). */
export type CalibrationCase = Pick<EditCase, 'request' | 'rephrasePrompts'> & { localityPrompts: readonly Pick<EditCase['localityPrompts'][number], 'prompt'>[] };

/**
 * Scores each validation case's own queries against its statement alone (a memory of one edit)
 * and returns the grid threshold with the highest balanced accuracy (ties: the higher one),
 * with the whole table.
 * @throws ArgumentError when the cases have no rephrase or no locality prompt
 */
export function calibrateThreshold(classifier: ScopeClassifier, cases: readonly CalibrationCase[]): { threshold: number; table: ThresholdRow[] } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (const c of cases) {
    const statement = [editStatement(c.request)];
    const vectors = classifier.contextVectors(statement);
    const inScope = [...c.rephrasePrompts];
    const outOfScope = c.localityPrompts.map((l) => l.prompt);
    const g = classifier.scores(statement, vectors, [...inScope, ...outOfScope]).map((row) => row[0]);
    pos.push(...g.slice(0, inScope.length));
    neg.push(...g.slice(inScope.length));
  }
  if (pos.length === 0 || neg.length === 0) throw new ArgumentError('calibrateThreshold: the validation cases need rephrase and locality prompts');
  const share = (xs: number[], t: number) => xs.filter((g) => g > t).length / xs.length;
  const table = THRESHOLD_GRID.map((threshold) => ({ threshold, inScopeRouted: share(pos, threshold), outOfScopeRouted: share(neg, threshold) }));
  const best = table.reduce((a, b) => (b.inScopeRouted - b.outOfScopeRouted >= a.inScopeRouted - a.outOfScopeRouted ? b : a));
  return { threshold: best.threshold, table };
}
