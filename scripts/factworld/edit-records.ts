/**
 * Records of the real edit datasets' JSON schemas, and the parts of building them that both fact
 * worlds share (fact-world's `datasets.ts`, fact-base's `edit-sets.ts`):
 * - CounterFact as released with ROME (Meng et al. 2022; kmeng01/rome `counterfact.json`), with
 *   EasyEdit's `portability` block;
 * - zsRE as used by MEND/ROME (`zsre_mend_eval.json`), with EasyEdit's `portability`;
 * - KnowEdit (Zhang et al. 2024, zjunlp/KnowEdit) in its ZsRE and WikiData_counterfact layouts.
 *
 * Each world chooses its edits, its zsRE `loc` facts, its portability and its locality relations;
 * the builders here turn those into records, drawing from a per-record random stream in a fixed
 * order, and name only the given case's split's subjects in its neighbourhood and attribute prompts.
 */
import { Rng, hashString } from './prng';
import { HELDOUT_PREFIXES, NQ_PREFIX } from './templates';
import { isQuestion, renderPrompt } from './corpus';
import type { Fact, FactLookup, SplitName } from './fact-lookup';

/** Says whether the model answers (subject, relation) with the world's object. */
export type AnswerPredicate = (subject: number, relation: string) => boolean;

/** Every fact answered: for previews and tests before a model exists. */
export const ALL_ANSWERED: AnswerPredicate = () => true;

/** The splits, in file order. */
export const SPLITS: readonly SplitName[] = ['train', 'validation', 'eval'];

/** Train, validation and eval records of one format. */
export type SplitRecords<T> = Record<SplitName, T[]>;

/** No records yet in any split. */
export function emptySplits<T>(): SplitRecords<T> {
  return { train: [], validation: [], eval: [] };
}

/** One requested edit: a true fact of a subject, its new object, and the subject's split. */
export interface EditCase {
  caseId: number;
  fact: Fact;
  targetNew: number;
  split: SplitName;
}

/** The phrasings of a relation the records use (fact-world's and fact-base's relation specs alike). */
export interface RelationPhrasings {
  id: string;
  /** Training phrasings: statements and questions, `{}` marking the subject. */
  train: readonly string[];
  /** Held-out phrasings: [statement, question]. */
  heldout: readonly string[];
  /** Open generation prompts. */
  generation: readonly string[];
}

/** EasyEdit's one-hop `portability` block of CounterFact and zsRE records. */
export interface PortabilityBlock {
  'Recalled Relation': string;
  'New Question': string;
  'New Answer': string;
}

/** CounterFact's `requested_rewrite` (MQuAKE's adds the edit's question). */
export interface RequestedRewrite {
  prompt: string;
  relation_id: string;
  target_new: { str: string; id: string };
  target_true: { str: string; id: string };
  subject: string;
}

/** CounterFact record (ROME schema; `portability` as in EasyEdit's counterfact_portability). */
export interface CounterFactRecord {
  case_id: number;
  pararel_idx: number;
  requested_rewrite: RequestedRewrite;
  paraphrase_prompts: string[];
  neighborhood_prompts: string[];
  attribute_prompts: string[];
  generation_prompts: string[];
  portability?: PortabilityBlock;
}

/** zsRE record (MEND/ROME eval schema; `portability` as in EasyEdit's zsre portability file). */
export interface ZsreRecord {
  subject: string;
  src: string;
  pred: string;
  rephrase: string;
  alt: string;
  answers: string[];
  loc: string;
  loc_ans: string;
  cond: string;
  portability?: PortabilityBlock;
}

/** KnowEdit record, ZsRE layout (ground truths are lists in locality, strings in portability). */
export interface KnowEditZsreRecord {
  subject: string;
  target_new: string;
  prompt: string;
  ground_truth: string[];
  rephrase_prompt: string;
  cond: string;
  locality: { Relation_Specificity: { prompt: string; ground_truth: string[] }[] };
  portability: { Reasoning: KnowEditReasoning[] };
}

/** KnowEdit record, WikiData_counterfact layout (all ground truths are strings). */
export interface KnowEditCounterfactRecord {
  subject: string;
  prompt: string;
  target_new: string;
  ground_truth: string;
  portability: { Reasoning: KnowEditReasoning[] };
  locality: { Relation_Specificity: { prompt: string; ground_truth: string }[] };
}

/** One KnowEdit `portability.Reasoning` entry: a prompt whose answer the edit changes. */
export interface KnowEditReasoning {
  prompt: string;
  ground_truth: string;
}

/** Synthetic Wikidata-style id of an entity ("Q" + 100000 + entity id). */
export function entityQid(id: number): string {
  return `Q${100000 + id}`;
}

/** The training phrasings of a relation that are statements, not questions. */
export function statements(spec: RelationPhrasings): string[] {
  return spec.train.filter((t) => !isQuestion(t));
}

/** Per-fact random stream, so one record's choices do not depend on the others. */
export function factRng(fact: Fact, label: string, seed: number): Rng {
  return new Rng(seed ^ hashString(`${label}|${fact.subject}|${fact.relation}`));
}

/** Answered primary subjects of `split` other than `not` whose object for `relation` is `object`. */
export function sameSplitHolders(index: FactLookup<{ name: string }>, answers: AnswerPredicate, split: SplitName, relation: string, object: number, not: number): number[] {
  return index.subjectsWith(relation, object).filter((s) => s !== not && index.isSubject(s) && index.split(s) === split && answers(s, relation));
}

/** `n` prompts over `subjects` (cycling with fresh phrasings when fewer than n), as CounterFact does. */
function spreadPrompts(rng: Rng, subjects: readonly number[], templates: readonly string[], index: FactLookup<{ name: string }>, n: number): string[] {
  if (subjects.length === 0) return [];
  const order = rng.shuffle(subjects);
  return Array.from({ length: n }, (_, i) => renderPrompt(rng.pick(templates), index.name(order[i % order.length])));
}

/** The `requested_rewrite` of a case: its prompt, relation, new and true object, subject. */
export function requestedRewrite(index: FactLookup<{ name: string }>, c: EditCase, prompt: string): RequestedRewrite {
  return {
    prompt,
    relation_id: c.fact.relation,
    target_new: { str: index.name(c.targetNew), id: entityQid(c.targetNew) },
    target_true: { str: index.name(c.fact.object), id: entityQid(c.fact.object) },
    subject: index.name(c.fact.subject),
  };
}

/**
 * The CounterFact record of a case, without `portability` (the world adds its own). Draws from
 * `rng` the paraphrase prefixes, the prompt, the neighbourhood and attribute prompts (answered
 * subjects of the case's split holding the true and the new object) and the generation prompts.
 * @param pararelIdx - the fact's position in the world's facts
 */
export function counterFactRecord(index: FactLookup<{ name: string }>, c: EditCase, spec: RelationPhrasings, rng: Rng, answers: AnswerPredicate, pararelIdx: number): CounterFactRecord {
  const subject = index.name(c.fact.subject);
  const [p1, p2] = rng.sample(HELDOUT_PREFIXES, 2);
  const neighbourTemplates = [...statements(spec), spec.heldout[0]];
  const others = (object: number) => sameSplitHolders(index, answers, c.split, spec.id, object, c.fact.subject);
  return {
    case_id: c.caseId,
    pararel_idx: pararelIdx,
    requested_rewrite: requestedRewrite(index, c, rng.pick(statements(spec))),
    paraphrase_prompts: [renderPrompt(spec.heldout[0], subject, p1), renderPrompt(spec.heldout[1], subject, p2)],
    neighborhood_prompts: spreadPrompts(rng, others(c.fact.object), neighbourTemplates, index, 10),
    attribute_prompts: spreadPrompts(rng, others(c.targetNew), neighbourTemplates, index, 10),
    generation_prompts: Array.from({ length: 10 }, () => renderPrompt(rng.pick(spec.generation), subject)),
  };
}

/**
 * The zsRE record of a case, without `portability`.
 * @param question - the world's question template of a relation (for `src` and `loc`)
 * @param loc - an answered fact unrelated to the edit, asked as `loc` after the NQ prefix
 */
export function zsreRecord(index: FactLookup<{ name: string }>, c: EditCase, spec: RelationPhrasings, question: (relation: string) => string, loc: Fact): ZsreRecord {
  const subject = index.name(c.fact.subject);
  const src = renderPrompt(question(spec.id), subject);
  const pred = index.name(c.fact.object);
  const alt = index.name(c.targetNew);
  return {
    subject, src, pred,
    rephrase: renderPrompt(spec.heldout[1], subject),
    alt,
    answers: [pred],
    loc: `${NQ_PREFIX} ${renderPrompt(question(loc.relation), index.name(loc.subject))}`,
    loc_ans: index.name(loc.object),
    cond: `${pred} >> ${alt} || ${src}`,
  };
}

/** What a KnowEdit record is built from, besides the case. */
export interface KnowEditParts {
  spec: RelationPhrasings;
  /** Per-record stream: the statement of each locality relation (and the counterfact layout's prompt) is drawn from it. */
  rng: Rng;
  /** Phrasings of a locality relation. */
  relation: (id: string) => RelationPhrasings;
  /** Other answered relations of the subject (Relation_Specificity). */
  local: readonly string[];
  reasoning: KnowEditReasoning[];
}

/** `locality.Relation_Specificity` prompts: one training statement of each local relation, drawn from `rng`. */
function localityPrompts(index: FactLookup<{ name: string }>, c: EditCase, p: KnowEditParts): { prompt: string; answer: string }[] {
  const subject = index.name(c.fact.subject);
  return p.local.map((r) => ({ prompt: renderPrompt(p.rng.pick(statements(p.relation(r))), subject), answer: index.name(index.object(c.fact.subject, r)!) }));
}

/**
 * The KnowEdit record of a case, ZsRE layout.
 * @param question - the world's question template of a relation (the prompt)
 */
export function knowEditZsreRecord(index: FactLookup<{ name: string }>, c: EditCase, p: KnowEditParts, question: (relation: string) => string): KnowEditZsreRecord {
  const subject = index.name(c.fact.subject);
  const trueName = index.name(c.fact.object);
  const newName = index.name(c.targetNew);
  const prompt = renderPrompt(question(p.spec.id), subject);
  return {
    subject, target_new: newName, prompt, ground_truth: [trueName],
    rephrase_prompt: renderPrompt(p.spec.heldout[1], subject),
    cond: `${trueName} >> ${newName} || ${prompt}`,
    locality: { Relation_Specificity: localityPrompts(index, c, p).map((l) => ({ prompt: l.prompt, ground_truth: [l.answer] })) },
    portability: { Reasoning: p.reasoning },
  };
}

/** The KnowEdit record of a case, WikiData_counterfact layout (its prompt a training statement drawn from `rng`). */
export function knowEditCounterfactRecord(index: FactLookup<{ name: string }>, c: EditCase, p: KnowEditParts): KnowEditCounterfactRecord {
  const subject = index.name(c.fact.subject);
  return {
    subject, prompt: renderPrompt(p.rng.pick(statements(p.spec)), subject), target_new: index.name(c.targetNew), ground_truth: index.name(c.fact.object),
    portability: { Reasoning: p.reasoning },
    locality: { Relation_Specificity: localityPrompts(index, c, p).map((l) => ({ prompt: l.prompt, ground_truth: l.answer })) },
  };
}
