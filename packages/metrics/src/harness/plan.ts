/**
 * What to measure for one {@link EditCase}: the deduplicated (prompt, target) queries each suite
 * needs, and how the scored queries turn into the metric functions' inputs and a per-case row.
 * @internal
 */
import { fillTemplate } from '@medit/core';
import type { EditCase, LabeledPrompt } from '@medit/data';

import { counterFactCaseMetrics, meanNll, type TargetNll } from '../counterfact';
import type { TfIdfModel } from '../tfidf';
import { easyEditCaseMetrics, localityAcc } from '../easyedit';
import { type LocalityPrediction, type TokenPrediction, tokenExactMatch } from '../token';
import { zsreCaseMetrics } from '../zsre';
import { type LocalityLinks, NEIGHBORHOOD } from './edited-facts';
import type { ScoredTarget, TargetQuery } from './predict';

/** Metric families the harness can compute. */
export type EvalSuite = 'counterfact' | 'easyedit' | 'zsre';

/** Every suite, in report order. */
export const EVAL_SUITES: readonly EvalSuite[] = ['counterfact', 'easyedit', 'zsre'];

/** Kind label for a locality/portability prompt without one. */
const NO_KIND = 'default';

/** A case's queries (deduplicated) and the indices each metric reads. @internal */
export interface CasePlan {
  case: EditCase;
  suites: ReadonlySet<EvalSuite>;
  queries: TargetQuery[];
  /** Rewrite prompt (template filled with the subject) against targetNew. */
  rewrite: number;
  /** Each rephrase prompt against targetNew. */
  rephrase: number[];
  /**
   * Each locality prompt against its answer (EasyEdit locality, zsRE specificity, TestR), with the
   * other cases of the run whose edited fact it asks and, for neighbourhood prompts, those whose
   * subject it names on another relation (see {@link LocalityLinks}, {@link InPlace}).
   */
  locality: { kind: string; q: number; askedBy: readonly number[]; subjectEditedBy: readonly number[] }[];
  /**
   * Whether rows break neighbourhood locality down by whether another edit in place rewrites the
   * prompt's subject: only when other edits can be in place beside the case (batch, sequential).
   */
  subjectBreakdown: boolean;
  portability: { kind: string; q: number }[];
  /** CounterFact: [targetNew query, targetTrue query] per prompt; neighbourhood pairs with their locality prompt's askedBy. */
  cf?: { rewrite: [number, number]; paraphrase: [number, number][]; neighborhood: { pair: [number, number]; askedBy: readonly number[] }[] };
  /** zsRE specificity prompts (ROME appends "?" to NQ questions that lack it), with askedBy. */
  zsreNeighborhood?: { q: number; askedBy: readonly number[] }[];
  /** CounterFact generation prompts and the EasyEdit fluency prompt (the rewrite prompt). */
  generationPrompts: { counterfact: string[]; easyedit: string[] };
}

/** Suites applicable to a case by default: CounterFact on CounterFact-format cases with a true
 *  object, zsRE on zsRE-format cases, EasyEdit on every case. @internal */
export function defaultSuites(c: EditCase): EvalSuite[] {
  const out: EvalSuite[] = [];
  const cfFormat = c.source?.format === 'counterfact' || c.source?.format === 'counterfact-easyedit';
  if (cfFormat && c.request.targetTrue !== undefined) out.push('counterfact');
  out.push('easyedit');
  if (c.source?.format === 'zsre') out.push('zsre');
  return out;
}

/** ROME's zsRE neighbourhood prompt is `loc + "?"` (MEND's `loc` has no question mark). */
function zsrePrompt(p: LabeledPrompt): string {
  return p.prompt.startsWith('nq question:') && !p.prompt.trimEnd().endsWith('?') ? `${p.prompt}?` : p.prompt;
}

/**
 * Builds the plan of one case; `suites` undefined means {@link defaultSuites}; `links[k]` relates
 * locality prompt k to the other edits of the run, undefined when no other edit is ever in place
 * beside the case (single edits, a batch of one; rows then get no subject breakdown). @internal
 */
export function planCase(c: EditCase, suites: readonly EvalSuite[] | undefined, links?: readonly LocalityLinks[]): CasePlan {
  const wanted = new Set<EvalSuite>(suites ?? defaultSuites(c));
  // CounterFact compares targetNew with targetTrue: without a true object it is undefined.
  if (c.request.targetTrue === undefined) wanted.delete('counterfact');
  const queries: TargetQuery[] = [];
  const index = new Map<string, number>();
  const q = (prompt: string, target: string): number => {
    const key = `${prompt}\u0000${target}`;
    let i = index.get(key);
    if (i === undefined) {
      i = queries.length;
      queries.push({ prompt, target });
      index.set(key, i);
    }
    return i;
  };
  const { targetNew, targetTrue } = c.request;
  const rewritePrompt = fillTemplate(c.request.prompt, c.request.subject);
  const askedBy = (k: number) => links?.[k]?.askedBy ?? [];
  const plan: CasePlan = {
    case: c,
    suites: wanted,
    queries,
    rewrite: q(rewritePrompt, targetNew),
    rephrase: c.rephrasePrompts.map((p) => q(p, targetNew)),
    locality: c.localityPrompts.map((p, k) => ({ kind: p.kind ?? NO_KIND, q: q(p.prompt, p.answer), askedBy: askedBy(k), subjectEditedBy: links?.[k]?.subjectEditedBy ?? [] })),
    subjectBreakdown: links !== undefined,
    portability: c.portabilityPrompts.map((p) => ({ kind: p.kind ?? NO_KIND, q: q(p.prompt, p.answer) })),
    generationPrompts: { counterfact: [], easyedit: [] },
  };
  if (wanted.has('counterfact') && targetTrue !== undefined) {
    const pair = (p: string): [number, number] => [q(p, targetNew), q(p, targetTrue)];
    plan.cf = {
      rewrite: pair(rewritePrompt),
      paraphrase: c.rephrasePrompts.map(pair),
      neighborhood: c.localityPrompts.flatMap((p, k) => (p.kind === NEIGHBORHOOD ? [{ pair: pair(p.prompt), askedBy: askedBy(k) }] : [])),
    };
    plan.generationPrompts.counterfact = [...c.generationPrompts];
  }
  if (wanted.has('zsre')) plan.zsreNeighborhood = c.localityPrompts.map((p, k) => ({ q: q(zsrePrompt(p), p.answer), askedBy: askedBy(k) }));
  if (wanted.has('easyedit')) plan.generationPrompts.easyedit = [rewritePrompt];
  return plan;
}

/** Scored queries of a plan, by query index (sparse: only what was measured). @internal */
export type Scores = (ScoredTarget | undefined)[];

function need(s: Scores, i: number, plan: CasePlan): ScoredTarget {
  const x = s[i];
  if (!x) throw new Error(`internal: query ${i} of case ${plan.case.id} was not scored`);
  return x;
}

const tp = (s: ScoredTarget): TokenPrediction => ({ predicted: s.predicted, target: s.targetIds });

/** Teacher-forced whole-target match (MEMIT `*_prompts_correct`; greedy decoding would emit it). @internal */
export function targetMatched(s: ScoredTarget): boolean {
  return tokenExactMatch(tp(s));
}

/** {@link targetMatched} of query `i` of a plan. @internal */
export function exactMatch(s: Scores, i: number, plan: CasePlan): boolean {
  return targetMatched(need(s, i, plan));
}

function nllPair(s: Scores, [a, b]: [number, number], plan: CasePlan): TargetNll {
  return { nllNew: meanNll(need(s, a, plan).logProbs), nllTrue: meanNll(need(s, b, plan).logProbs) };
}

function byKind<T>(items: { kind: string; q: number }[], f: (q: number) => T): Record<string, T[]> {
  const out: Record<string, T[]> = {};
  for (const it of items) (out[it.kind] ??= []).push(f(it.q));
  return out;
}

/** Generated texts of one case under one model state. @internal */
export interface CaseGenerations {
  counterfact: string[];
  easyedit: string[];
}

/**
 * Which other cases' edits are in place at a measurement (by case index): a locality prompt that
 * asks the fact of an edit in place is in that edit's scope and left out of the row. @internal
 */
export type InPlace = (caseIndex: number) => boolean;

/** No other edit in place (single edits, the unedited model). @internal */
export const NONE_IN_PLACE: InPlace = () => false;

/** Whether an entry is still a locality prompt under `inPlace`. @internal */
export const outOfScope = (inPlace: InPlace) => (e: { askedBy: readonly number[] }): boolean => !e.askedBy.some(inPlace);

/** How many of a plan's locality prompts `inPlace` leaves out. @internal */
export function inScopeCount(plan: CasePlan, inPlace: InPlace): number {
  return plan.locality.filter((e) => !outOfScope(inPlace)(e)).length;
}

/** ROME's consistency references of one case: the texts and the TF-IDF model fitted on all snippets. @internal */
export interface CaseReferences {
  texts: readonly string[];
  tfidf: TfIdfModel;
}

/**
 * The per-case metric row from the pre-edit and post-edit scores (for the unedited baseline both
 * are the same scores, so locality is exactly 1). Locality prompts asking a fact edited by a case
 * `inPlace` says is in place are left out; the Reference Score needs `gens` and `refs`. In batch
 * and sequential runs a case with neighbourhood prompts kept also gets their EasyEdit locality
 * split by whether an edit in place rewrites the prompt's subject on another relation
 * (`locality/neighborhood-subject-edited` / `-unedited`; null when no prompt falls on that side);
 * the pooled `locality` and `locality/neighborhood` are the same either way. @internal
 */
export function caseRow(plan: CasePlan, pre: Scores, post: Scores, gens?: CaseGenerations, inPlace: InPlace = NONE_IN_PLACE, refs?: CaseReferences): Record<string, number | null> {
  const row: Record<string, number | null> = {};
  const kept = outOfScope(inPlace);
  if (plan.cf) {
    const generations = gens && plan.generationPrompts.counterfact.length > 0 ? gens.counterfact : undefined;
    const m = counterFactCaseMetrics(
      {
        rewrite: [nllPair(post, plan.cf.rewrite, plan)],
        paraphrase: plan.cf.paraphrase.map((p) => nllPair(post, p, plan)),
        neighborhood: plan.cf.neighborhood.filter(kept).map((e) => nllPair(post, e.pair, plan)),
        generations,
      },
      refs ? { referenceTexts: refs.texts, tfidf: refs.tfidf } : {},
    );
    Object.assign(row, m);
  }
  if (plan.suites.has('easyedit')) {
    const keptLocality = plan.locality.filter(kept);
    const predict = (q: number): LocalityPrediction => ({ pre: need(pre, q, plan).predicted, post: need(post, q, plan).predicted });
    const locality = byKind(keptLocality, predict);
    Object.assign(
      row,
      easyEditCaseMetrics({
        rewrite: tp(need(post, plan.rewrite, plan)),
        rephrase: plan.rephrase.map((q) => tp(need(post, q, plan))),
        locality,
        portability: byKind(plan.portability, (q) => tp(need(post, q, plan))),
        generations: gens ? gens.easyedit : undefined,
      }),
    );
    const neighbours = keptLocality.filter((e) => e.kind === NEIGHBORHOOD);
    if (plan.subjectBreakdown && neighbours.length > 0) {
      // Apart from the pooled kinds: a prompt about a subject another edit rewrites measures
      // relation specificity, not whether unrelated subjects are left alone.
      const edited = (e: { subjectEditedBy: readonly number[] }) => e.subjectEditedBy.some(inPlace);
      row[`locality/${NEIGHBORHOOD}-subject-edited`] = localityAcc(neighbours.filter(edited).map((e) => predict(e.q)));
      row[`locality/${NEIGHBORHOOD}-subject-unedited`] = localityAcc(neighbours.filter((e) => !edited(e)).map((e) => predict(e.q)));
    }
  }
  if (plan.zsreNeighborhood) {
    Object.assign(
      row,
      zsreCaseMetrics({
        rewrite: tp(need(post, plan.rewrite, plan)),
        paraphrase: plan.rephrase.map((q) => tp(need(post, q, plan))),
        neighborhood: plan.zsreNeighborhood.filter(kept).map((e) => tp(need(post, e.q, plan))),
      }),
    );
  }
  return row;
}
