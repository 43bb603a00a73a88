/**
 * EasyEdit's per-case metrics, as `BaseEditor.edit` returns them (`easyeditor/editors/editor.py`
 * with `easyeditor/evaluate/evaluate.py::compute_edit_quality`): for each edit a `pre` and a
 * `post` dict with `rewrite_acc` (a one-element list), `rephrase_acc` (one value per rephrase
 * prompt), `locality` (`<kind>_output`: the argmax tokens over each locality answer; after the
 * edit also `<kind>_acc`: their agreement with the pre-edit tokens, `finalize_locality_metrics`)
 * and `portability` (`<kind>_acc`). The numbers come from `@medit/metrics`: teacher-forced
 * scoring (`scoreTargets`) and its EasyEdit metrics (`rewriteAcc`, token accuracy and agreement),
 * with the queries of a case scored in one pass in the order `medit eval` scores them, so both
 * give the same numbers.
 */
import { type CausalLM, fillTemplate } from '@medit/core';
import type { EditCase } from '@medit/data';
import { type ScoredTarget, type TargetQuery, fluency, generateTexts, rewriteAcc, scoreTargets, tokenAccuracy, tokenAgreement } from '@medit/metrics';

import type { EasyEditRequest } from './requests';

/** One side (`pre` or `post`) of a case's metrics, keyed as EasyEdit keys them. */
export interface EasyEditScores {
  rewrite_acc: number[];
  /** present when the edit has rephrase prompts */
  rephrase_acc?: number[];
  /** `<kind>_output`: argmax token ids per prompt; post also `<kind>_acc`: agreement with pre per prompt */
  locality: Record<string, number[] | number[][]>;
  /** `<kind>_acc`: token accuracy per prompt */
  portability: Record<string, number[]>;
  /** with `test_generation`: the n-gram entropy of a text generated from the rewrite prompt */
  fluency?: { ngram_entropy: number };
}

/** The metrics of one edit, as one element of the list EasyEdit's `edit()` returns. */
export interface EasyEditCaseMetrics {
  case_id: number;
  requested_rewrite: EasyEditRequest;
  /** seconds the editor took for the call that made this edit */
  time: number;
  pre: EasyEditScores;
  post: EasyEditScores;
}

/** The queries of a case, deduplicated in the order the `medit eval` harness builds them (rewrite, rephrases, locality, portability). */
function caseQueries(c: EditCase): { queries: TargetQuery[]; rewrite: number; rephrase: number[]; locality: { kind: string; q: number }[]; portability: { kind: string; q: number }[] } {
  const queries: TargetQuery[] = [];
  const index = new Map<string, number>();
  const q = (prompt: string, target: string): number => {
    const key = `${prompt}\u0000${target}`;
    let i = index.get(key);
    if (i === undefined) {
      i = queries.push({ prompt, target }) - 1;
      index.set(key, i);
    }
    return i;
  };
  const { prompt, subject, targetNew } = c.request;
  return {
    queries,
    rewrite: q(fillTemplate(prompt, subject), targetNew),
    rephrase: c.rephrasePrompts.map((p) => q(p, targetNew)),
    locality: c.localityPrompts.map((p) => ({ kind: p.kind ?? 'default', q: q(p.prompt, p.answer) })),
    portability: c.portabilityPrompts.map((p) => ({ kind: p.kind ?? 'default', q: q(p.prompt, p.answer) })),
  };
}

/** The scored queries of one case under the model as it is now. */
export type CaseScores = ScoredTarget[];

/** Scores every query of `c` on `model` in one batched pass. */
export function scoreCase(model: CausalLM, c: EditCase): CaseScores {
  return scoreTargets(model, caseQueries(c).queries);
}

const tp = (s: ScoredTarget) => ({ predicted: s.predicted, target: s.targetIds });

function byKind<T>(items: { kind: string; q: number }[], f: (q: number) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) out.set(it.kind, [...(out.get(it.kind) ?? []), f(it.q)]);
  return out;
}

/**
 * EasyEdit's `fluency` (`test_generation_quality`: ROME's `generate_fast` from the rewrite prompt,
 * top-k 5 sampling to 100 tokens, then `n_gram_entropy`), with `@medit/metrics`' generator and
 * entropy, seeded per case as `medit eval --generation` seeds them (case index × 1000).
 */
export function caseFluency(model: CausalLM, c: EditCase, index: number): { ngram_entropy: number } {
  const texts = generateTexts(model, [fillTemplate(c.request.prompt, c.request.subject)], { seed: index * 1000 });
  return { ngram_entropy: fluency(texts)! };
}

/** The EasyEdit dict of a case before the edit. */
export function preScores(c: EditCase, pre: CaseScores): EasyEditScores {
  const plan = caseQueries(c);
  const out: EasyEditScores = { rewrite_acc: [rewriteAcc(tp(pre[plan.rewrite]))], locality: {}, portability: {} };
  if (plan.rephrase.length > 0) out.rephrase_acc = plan.rephrase.map((q) => tokenAccuracy(tp(pre[q])));
  for (const [kind, outputs] of byKind(plan.locality, (q) => [...pre[q].predicted])) out.locality[`${kind}_output`] = outputs;
  for (const [kind, accs] of byKind(plan.portability, (q) => tokenAccuracy(tp(pre[q])))) out.portability[`${kind}_acc`] = accs;
  return out;
}

/** The EasyEdit dict of a case after the edit: locality as agreement with the pre-edit tokens. */
export function postScores(c: EditCase, pre: CaseScores, post: CaseScores): EasyEditScores {
  const plan = caseQueries(c);
  const out = preScores(c, post);
  for (const [kind, accs] of byKind(plan.locality, (q) => tokenAgreement({ pre: pre[q].predicted, post: post[q].predicted }))) out.locality[`${kind}_acc`] = accs;
  return out;
}

/** EasyEdit's summary of a run: the mean of each metric over the cases, per side. */
export interface EasyEditSummary {
  pre: Record<string, number | Record<string, number>>;
  post: Record<string, number | Record<string, number>>;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The means EasyEdit prints after `edit()` (`easyeditor/editors/utils.py::summary_metrics`):
 * per side, `rewrite_acc` and `rephrase_acc` averaged over the cases' values, and each
 * `locality` / `portability` `<kind>_acc` averaged over the cases that have it (each case's
 * list averaged first).
 */
export function summaryMetrics(metrics: readonly EasyEditCaseMetrics[]): EasyEditSummary {
  const side = (which: 'pre' | 'post') => {
    const out: Record<string, number | Record<string, number>> = {};
    for (const key of ['rewrite_acc', 'rephrase_acc'] as const) {
      const values = metrics.flatMap((m) => m[which][key] ?? []);
      if (values.length > 0) out[key] = mean(values);
    }
    for (const section of ['locality', 'portability'] as const) {
      const perKey = new Map<string, number[]>();
      for (const m of metrics) {
        for (const [k, v] of Object.entries(m[which][section])) if (k.endsWith('_acc')) perKey.set(k, [...(perKey.get(k) ?? []), mean(v as number[])]);
      }
      if (perKey.size > 0) out[section] = Object.fromEntries([...perKey].map(([k, v]) => [k, mean(v)]));
    }
    return out;
  };
  return { pre: side('pre'), post: side('post') };
}
