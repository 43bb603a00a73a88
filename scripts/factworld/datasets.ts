/**
 * Edit sets over the fact world in the real datasets' JSON schemas:
 * - CounterFact as released with ROME (Meng et al. 2022; kmeng01/rome `counterfact.json`), plus the
 *   EasyEdit one-hop `portability` block when the world has one;
 * - zsRE as used by MEND/ROME (`zsre_mend_eval.json`: subject, src, pred, rephrase, alt, answers,
 *   loc, loc_ans, cond), plus EasyEdit `portability`;
 * - KnowEdit (Zhang et al. 2024, zjunlp/KnowEdit) in its ZsRE or WikiData_counterfact layout, with
 *   `portability.Reasoning` (one hop from the new object) and `locality.Relation_Specificity`.
 *
 * The builders are pure: given the world, a predicate saying which facts the trained model really
 * answers, and a seed, they return the same records every time. Only answered facts are used, for
 * the edit itself and for every neighbourhood, attribute, locality and portability prompt.
 *
 * Splits are clean by construction: the world's subjects are train, validation or eval
 * (`World.evalSubjects`, `World.validationSubjects`), and every text of a split's records names
 * only that split's subjects — the edited subject, its neighbourhood and attribute subjects, the
 * zsRE `loc` subject, and any subject that is an object (an employer, a manufacturer). So nothing
 * an editor trains on (train), or is tuned and calibrated on (validation), holds an eval subject or
 * an eval text.
 */
import { Rng, hashString } from './prng';
import { RELATIONS, HELDOUT_PREFIXES, ONE_HOP, NQ_PREFIX, relationById, type RelationSpec } from './templates';
import { renderPrompt, isQuestion } from './corpus';
import { WorldIndex, type Fact, type SplitName, type World } from './world';

/** Says whether the model answers (subject, relation) with the world's object. */
export type AnswerPredicate = (subject: number, relation: string) => boolean;

/** Every fact answered: for previews and tests before a model exists. */
export const ALL_ANSWERED: AnswerPredicate = () => true;

/** Options for {@link selectEditCases}. */
export interface EditSetOptions {
  /** Which facts the model answers. */
  answers: AnswerPredicate;
  /** Subjects edits are made on (default: every primary subject); e.g. `(s) => s < 100` for fact-tiny. */
  subjects?: (subject: number) => boolean;
  /** Relations edited (default: all relations of primary subjects). */
  relations?: readonly string[];
  /** Seed for target and prompt choices (default: the world's seed). */
  seed?: number;
  /** Keep at most this many cases per split (a seeded sample, kept in fact order). */
  maxCasesPerSplit?: number;
}

/** The splits, in file order. */
export const SPLITS: readonly SplitName[] = ['train', 'validation', 'eval'];

/** One requested edit: a true fact and the new object. */
export interface EditCase {
  caseId: number;
  fact: Fact;
  targetNew: number;
  split: SplitName;
  /**
   * The case id of the same edit (same fact, same target_new) in format-1 edit sets, which were
   * built before the validation split existed; undefined when the edit was not one of them. Lets
   * results on the old and the new files be compared on the same edits.
   */
  format1CaseId?: number;
}

/** A one-hop consequence of an edit: (new object, hop relation, answer). */
export interface Hop {
  relation: string;
  prompt: string;
  answer: number;
  /** the new fact and the recalled one, e.g. "(Rakem Boskre, country of citizenship, Varsa); (Varsa, official language, Drisgic)" */
  recalled: string;
}

/** CounterFact record (ROME schema; `portability` as in EasyEdit's counterfact_portability). */
export interface CounterFactRecord {
  case_id: number;
  pararel_idx: number;
  requested_rewrite: {
    prompt: string;
    relation_id: string;
    target_new: { str: string; id: string };
    target_true: { str: string; id: string };
    subject: string;
  };
  paraphrase_prompts: string[];
  neighborhood_prompts: string[];
  attribute_prompts: string[];
  generation_prompts: string[];
  portability?: { 'Recalled Relation': string; 'New Question': string; 'New Answer': string };
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
  portability?: { 'Recalled Relation': string; 'New Question': string; 'New Answer': string };
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
  portability: { Reasoning: { prompt: string; ground_truth: string }[] };
}

/** KnowEdit record, WikiData_counterfact layout (all ground truths are strings). */
export interface KnowEditCounterfactRecord {
  subject: string;
  prompt: string;
  target_new: string;
  ground_truth: string;
  portability: { Reasoning: { prompt: string; ground_truth: string }[] };
  locality: { Relation_Specificity: { prompt: string; ground_truth: string }[] };
}

/** Train, validation and eval records of one format. */
export type Split<T> = Record<SplitName, T[]>;

const emptySplit = <T>(): Split<T> => ({ train: [], validation: [], eval: [] });

/** Synthetic Wikidata-style id of an entity ("Q" + 100000 + entity id). */
export function entityQid(id: number): string {
  return `Q${100000 + id}`;
}

const statements = (spec: RelationSpec) => spec.train.filter((t) => !isQuestion(t));
function questionTemplate(spec: RelationSpec): string {
  const q = spec.train.find((t) => t.endsWith('?'));
  if (!q) throw new Error(`Relation ${spec.id} has no training question ending in "?" (needed for zsRE src)`);
  return q;
}
const firstWord = (s: string) => s.split(' ')[0];
const capitalise = (s: string) => s[0].toUpperCase() + s.slice(1);

/**
 * One-hop consequences of giving `subject` the object `targetNew` under `relation` (ONE_HOP rules),
 * keeping those the model answers for the new object and whose answer differs from the one implied
 * by the true object (otherwise an unedited model would already pass).
 */
export function oneHops(index: WorldIndex, subject: number, relation: string, targetNew: number, answers: AnswerPredicate): Hop[] {
  const spec = relationById(relation);
  const trueObject = index.object(subject, relation);
  const out: Hop[] = [];
  for (const rule of ONE_HOP) {
    if (rule.edited !== relation || !spec.describe) continue;
    const hop = relationById(rule.hop);
    if (!hop.hop) throw new Error(`Relation ${hop.id} is used as a hop but has no hop template`);
    const answer = index.object(targetNew, hop.id);
    if (answer === undefined || !answers(targetNew, hop.id)) continue;
    if (trueObject !== undefined && index.object(trueObject, hop.id) === answer) continue;
    const description = renderPrompt(spec.describe, index.name(subject));
    out.push({
      relation: hop.id,
      prompt: capitalise(renderPrompt(hop.hop, description)),
      answer,
      // The hop alone ("(Varsa, official language, Drisgic)") is a background fact that records of
      // every split share; led by the edit it names the case's subject, like its other texts.
      recalled: `(${index.name(subject)}, ${spec.name}, ${index.name(targetNew)}); (${index.name(targetNew)}, ${hop.name}, ${index.name(answer)})`,
    });
  }
  return out;
}

/** A format-1 proposal: an edit of one fact, and its case id when format 1's sample kept it. */
interface Proposal {
  fact: Fact;
  targetNew: number;
  format1CaseId?: number;
}

/**
 * Format 1's draw, unchanged: one proposal per answered fact of an in-scope subject whose true
 * object has another answered subject, with a new object of the same relation (hence type) whose
 * first word differs from the true object's and that another answered subject has, drawn from
 * one seeded stream in fact order; then at most `maxCasesPerSplit` per split of format 1 (eval;
 * train = every other subject). Kept so that eval cases stay the same edits across the protocol
 * change (bench/RESULTS.md compares old and new numbers on them).
 */
function format1Proposals(world: World, index: WorldIndex, opts: EditSetOptions): Proposal[] {
  const rng = new Rng(opts.seed ?? world.config.seed).fork('edit-cases');
  const inScope = opts.subjects ?? (() => true);
  const relations = new Set(opts.relations ?? RELATIONS.filter((r) => !r.background).map((r) => r.id));
  const answeredOthers = (relation: string, object: number, not: number) =>
    index.subjectsWith(relation, object).filter((s) => s !== not && opts.answers(s, relation));
  const candidatesByRelation = new Map<string, number[]>();
  const proposals: (Proposal & { evalSplit: boolean })[] = [];
  world.facts.forEach((fact) => {
    if (!index.isSubject(fact.subject) || !inScope(fact.subject) || !relations.has(fact.relation)) return;
    if (!opts.answers(fact.subject, fact.relation)) return;
    if (answeredOthers(fact.relation, fact.object, fact.subject).length === 0) return;
    if (!candidatesByRelation.has(fact.relation)) candidatesByRelation.set(fact.relation, index.objectsOf(fact.relation));
    const trueFirst = firstWord(index.name(fact.object));
    const candidates = candidatesByRelation.get(fact.relation)!.filter((o) =>
      o !== fact.object && firstWord(index.name(o)) !== trueFirst && answeredOthers(fact.relation, o, fact.subject).length > 0);
    if (candidates.length === 0) return;
    proposals.push({ fact, targetNew: rng.pick(candidates), evalSplit: index.isEval(fact.subject) });
  });
  let kept = proposals;
  if (opts.maxCasesPerSplit !== undefined) {
    const cap = opts.maxCasesPerSplit;
    const keep = new Set<Proposal>();
    for (const isEval of [false, true]) rng.shuffle(proposals.filter((c) => c.evalSplit === isEval)).slice(0, cap).forEach((c) => keep.add(c));
    kept = proposals.filter((c) => keep.has(c));
  }
  kept.forEach((c, i) => (c.format1CaseId = i));
  return proposals.map(({ fact, targetNew, format1CaseId }) => ({ fact, targetNew, format1CaseId }));
}

/** Whether entity `id` may be named in `split`'s records: an object-only entity, or a subject of that split. */
function namable(index: WorldIndex, id: number, split: SplitName): boolean {
  const s = index.split(id);
  return s === undefined || s === split;
}

/** Answered subjects of `split` other than `not` whose object for `relation` is `object`. */
function sameSplitHolders(index: WorldIndex, answers: AnswerPredicate, split: SplitName, relation: string, object: number, not: number): number[] {
  return index.subjectsWith(relation, object).filter((s) => s !== not && index.split(s) === split && answers(s, relation));
}

/** {@link oneHops} of a case whose answers may be named in its split. */
function caseHops(index: WorldIndex, c: EditCase, answers: AnswerPredicate): Hop[] {
  return oneHops(index, c.fact.subject, c.fact.relation, c.targetNew, answers).filter((h) => namable(index, h.answer, c.split));
}

/**
 * Chooses the edits, split-clean: format 1's proposals ({@link format1Proposals}), each kept in
 * its subject's split when that split can hold it — its true object may be named there and has
 * another answered subject of the split (neighbourhood prompts); a target_new that cannot
 * (another split's subject, or no answered subject of the split holds it for attribute prompts)
 * is redrawn among those that can, with the fact's own seeded stream. Eval keeps format 1's
 * sample; train and validation are sampled anew (at most `maxCasesPerSplit` each).
 */
export function selectEditCases(world: World, opts: EditSetOptions): EditCase[] {
  const index = new WorldIndex(world);
  const cases: EditCase[] = [];
  for (const p of format1Proposals(world, index, opts)) {
    const { fact } = p;
    const split = index.split(fact.subject)!;
    if (split === 'eval' && p.format1CaseId === undefined) continue;
    const holders = (object: number) => sameSplitHolders(index, opts.answers, split, fact.relation, object, fact.subject);
    if (!namable(index, fact.object, split) || holders(fact.object).length === 0) continue;
    const trueFirst = firstWord(index.name(fact.object));
    const fits = (o: number) => o !== fact.object && firstWord(index.name(o)) !== trueFirst && namable(index, o, split) && holders(o).length > 0;
    let targetNew = p.targetNew;
    if (!fits(targetNew)) {
      const candidates = index.objectsOf(fact.relation).filter(fits);
      if (candidates.length === 0) continue;
      targetNew = factRng(world, fact, 'target', opts.seed).pick(candidates);
    }
    cases.push({ caseId: 0, fact, targetNew, split, ...(targetNew === p.targetNew && p.format1CaseId !== undefined ? { format1CaseId: p.format1CaseId } : {}) });
  }
  let kept = cases;
  if (opts.maxCasesPerSplit !== undefined) {
    const cap = opts.maxCasesPerSplit;
    const keep = new Set<EditCase>(cases.filter((c) => c.split === 'eval'));
    const rng = new Rng(opts.seed ?? world.config.seed);
    for (const split of ['train', 'validation'] as const) rng.fork(`sample-${split}`).shuffle(cases.filter((c) => c.split === split)).slice(0, cap).forEach((c) => keep.add(c));
    kept = cases.filter((c) => keep.has(c));
  }
  return kept.map((c, i) => ({ ...c, caseId: i }));
}

/** Per-fact random stream, so one record's choices do not depend on the others. */
function factRng(world: World, fact: Fact, label: string, seed?: number): Rng {
  return new Rng((seed ?? world.config.seed) ^ hashString(`${label}|${fact.subject}|${fact.relation}`));
}

/** `n` prompts over `subjects` (cycling with fresh phrasings when fewer than n), as CounterFact does. */
function spreadPrompts(rng: Rng, subjects: readonly number[], templates: readonly string[], index: WorldIndex, n: number): string[] {
  if (subjects.length === 0) return [];
  const order = rng.shuffle(subjects);
  return Array.from({ length: n }, (_, i) => renderPrompt(rng.pick(templates), index.name(order[i % order.length])));
}

function factIndex(world: World): Map<Fact, number> {
  return new Map(world.facts.map((f, i) => [f, i]));
}

/**
 * CounterFact records for the cases.
 * @param opts the same options given to {@link selectEditCases} (answers, seed)
 */
export function buildCounterFact(world: World, cases: readonly EditCase[], opts: EditSetOptions): Split<CounterFactRecord> {
  const index = new WorldIndex(world);
  const pararel = factIndex(world);
  const out = emptySplit<CounterFactRecord>();
  for (const c of cases) {
    const rng = factRng(world, c.fact, 'counterfact', opts.seed);
    const spec = relationById(c.fact.relation);
    const subject = index.name(c.fact.subject);
    const [p1, p2] = rng.sample(HELDOUT_PREFIXES, 2);
    const neighbourTemplates = [...statements(spec), spec.heldout[0]];
    const others = (object: number) => sameSplitHolders(index, opts.answers, c.split, spec.id, object, c.fact.subject);
    const record: CounterFactRecord = {
      case_id: c.caseId,
      pararel_idx: pararel.get(c.fact)!,
      requested_rewrite: {
        prompt: rng.pick(statements(spec)),
        relation_id: spec.id,
        target_new: { str: index.name(c.targetNew), id: entityQid(c.targetNew) },
        target_true: { str: index.name(c.fact.object), id: entityQid(c.fact.object) },
        subject,
      },
      paraphrase_prompts: [renderPrompt(spec.heldout[0], subject, p1), renderPrompt(spec.heldout[1], subject, p2)],
      neighborhood_prompts: spreadPrompts(rng, others(c.fact.object), neighbourTemplates, index, 10),
      attribute_prompts: spreadPrompts(rng, others(c.targetNew), neighbourTemplates, index, 10),
      generation_prompts: Array.from({ length: 10 }, () => renderPrompt(rng.pick(spec.generation), subject)),
    };
    const hops = caseHops(index, c, opts.answers);
    if (hops.length > 0) {
      const h = hops[0];
      record.portability = { 'Recalled Relation': h.recalled, 'New Question': h.prompt, 'New Answer': index.name(h.answer) };
    }
    out[c.split].push(record);
  }
  return out;
}

/** An answered fact of another subject of the case's split, for zsRE `loc` (unrelated to the edit). */
function unrelatedFact(world: World, index: WorldIndex, c: EditCase, rng: Rng, answers: AnswerPredicate): Fact {
  for (let attempt = 0; attempt < 10000; attempt++) {
    const f = world.facts[rng.int(world.facts.length)];
    if (f.subject !== c.fact.subject && f.object !== c.fact.object && index.split(f.subject) === c.split && namable(index, f.object, c.split) && answers(f.subject, f.relation)) return f;
  }
  throw new Error(`No answered fact of the ${c.split} split unrelated to case ${c.caseId} found for zsRE loc`);
}

/** zsRE records for the cases. */
export function buildZsre(world: World, cases: readonly EditCase[], opts: EditSetOptions): Split<ZsreRecord> {
  const index = new WorldIndex(world);
  const out = emptySplit<ZsreRecord>();
  for (const c of cases) {
    const rng = factRng(world, c.fact, 'zsre', opts.seed);
    const spec = relationById(c.fact.relation);
    const subject = index.name(c.fact.subject);
    const src = renderPrompt(questionTemplate(spec), subject);
    const pred = index.name(c.fact.object);
    const alt = index.name(c.targetNew);
    const loc = unrelatedFact(world, index, c, rng, opts.answers);
    const record: ZsreRecord = {
      subject, src, pred,
      rephrase: renderPrompt(spec.heldout[1], subject),
      alt,
      answers: [pred],
      loc: `${NQ_PREFIX} ${renderPrompt(questionTemplate(relationById(loc.relation)), index.name(loc.subject))}`,
      loc_ans: index.name(loc.object),
      cond: `${pred} >> ${alt} || ${src}`,
    };
    const hops = caseHops(index, c, opts.answers);
    if (hops.length > 0) {
      const h = hops[0];
      record.portability = { 'Recalled Relation': h.recalled, 'New Question': h.prompt, 'New Answer': index.name(h.answer) };
    }
    out[c.split].push(record);
  }
  return out;
}

/**
 * KnowEdit records: only cases with at least one one-hop consequence and one other answered
 * relation of the same subject (locality), since KnowEdit's point is portability and locality.
 * @param flavor 'zsre' (KnowEdit ZsRE layout, question prompts) or 'counterfact' (WikiData_counterfact layout, statements)
 */
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'zsre'): Split<KnowEditZsreRecord>;
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'counterfact'): Split<KnowEditCounterfactRecord>;
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'zsre' | 'counterfact'): Split<KnowEditZsreRecord | KnowEditCounterfactRecord> {
  const index = new WorldIndex(world);
  const out = emptySplit<KnowEditZsreRecord | KnowEditCounterfactRecord>();
  for (const c of cases) {
    const rng = factRng(world, c.fact, `knowedit-${flavor}`, opts.seed);
    const spec = relationById(c.fact.relation);
    const subject = index.name(c.fact.subject);
    const hops = caseHops(index, c, opts.answers);
    const localRelations = index.relationsOf(c.fact.subject).filter((r) => r !== spec.id && opts.answers(c.fact.subject, r) && namable(index, index.object(c.fact.subject, r)!, c.split));
    if (hops.length === 0 || localRelations.length === 0) continue;
    const reasoning = hops.map((h) => ({ prompt: h.prompt, ground_truth: index.name(h.answer) }));
    const trueName = index.name(c.fact.object);
    const newName = index.name(c.targetNew);
    if (flavor === 'zsre') {
      const prompt = renderPrompt(questionTemplate(spec), subject);
      out[c.split].push({
        subject, target_new: newName, prompt, ground_truth: [trueName],
        rephrase_prompt: renderPrompt(spec.heldout[1], subject),
        cond: `${trueName} >> ${newName} || ${prompt}`,
        locality: { Relation_Specificity: localRelations.map((r) => ({ prompt: renderPrompt(rng.pick(statements(relationById(r))), subject), ground_truth: [index.name(index.object(c.fact.subject, r)!)] })) },
        portability: { Reasoning: reasoning },
      });
    } else {
      out[c.split].push({
        subject, prompt: renderPrompt(rng.pick(statements(spec)), subject), target_new: newName, ground_truth: trueName,
        portability: { Reasoning: reasoning },
        locality: { Relation_Specificity: localRelations.map((r) => ({ prompt: renderPrompt(rng.pick(statements(relationById(r))), subject), ground_truth: index.name(index.object(c.fact.subject, r)!) })) },
      });
    }
  }
  return out;
}

/** Every edit set at once. */
export interface EditSets {
  cases: EditCase[];
  counterfact: Split<CounterFactRecord>;
  zsre: Split<ZsreRecord>;
  knoweditZsre: Split<KnowEditZsreRecord>;
  knoweditCounterfact: Split<KnowEditCounterfactRecord>;
}

/**
 * Selects the edit cases and builds all formats from them.
 * @example
 * const sets = buildEditSets(world, { answers: (s, r) => modelAnswers.has(`${s}:${r}`) });
 * sets.counterfact.eval[0].requested_rewrite.prompt; // e.g. "{} is a citizen of"
 */
export function buildEditSets(world: World, opts: EditSetOptions): EditSets {
  const cases = selectEditCases(world, opts);
  return {
    cases,
    counterfact: buildCounterFact(world, cases, opts),
    zsre: buildZsre(world, cases, opts),
    knoweditZsre: buildKnowEdit(world, cases, opts, 'zsre'),
    knoweditCounterfact: buildKnowEdit(world, cases, opts, 'counterfact'),
  };
}

/**
 * The files of an edit-set folder: `<format>-<split>.json` for every format and split (JSON
 * arrays, 4-space indent like the real files) and `case-map.json`, which pairs each eval case id
 * with the id of the same edit in the format-1 files (`[new, old]`; cases new to the eval split or
 * with a redrawn target are absent).
 */
export function editSetFiles(sets: EditSets): Map<string, string> {
  const files = new Map<string, string>();
  const put = (name: string, records: unknown) => files.set(name, `${JSON.stringify(records, null, 4)}\n`);
  for (const [name, split] of [['counterfact', sets.counterfact], ['zsre', sets.zsre], ['knowedit_zsre', sets.knoweditZsre], ['knowedit_counterfact', sets.knoweditCounterfact]] as const) {
    for (const s of SPLITS) put(`${name}-${s}.json`, split[s]);
  }
  const pairs = sets.cases.filter((c) => c.split === 'eval' && c.format1CaseId !== undefined).map((c) => [c.caseId, c.format1CaseId!]);
  files.set('case-map.json', `${JSON.stringify({ format: 'factworld-case-map/1', description: 'eval case_id → case_id of the same edit (fact and target_new) in the format-1 edit sets, built before the validation split', eval: pairs })}\n`);
  return files;
}
