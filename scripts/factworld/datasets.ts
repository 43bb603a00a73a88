/**
 * Edit sets over the fact world in the real datasets' JSON schemas (records built by
 * `edit-records.ts`):
 * - CounterFact, plus the EasyEdit one-hop `portability` block when the world has one;
 * - zsRE (subject, src, pred, rephrase, alt, answers, loc, loc_ans, cond), plus `portability`;
 * - KnowEdit in its ZsRE or WikiData_counterfact layout, with `portability.Reasoning` (one hop
 *   from the new object) and `locality.Relation_Specificity`.
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
import { Rng } from './prng';
import { RELATIONS, ONE_HOP, relationById, type RelationSpec } from './templates';
import { renderPrompt } from './corpus';
import { WorldIndex, type Fact, type SplitName, type World } from './world';
import {
  SPLITS, counterFactRecord, emptySplits, factRng, knowEditCounterfactRecord, knowEditZsreRecord, sameSplitHolders, zsreRecord,
  type AnswerPredicate, type CounterFactRecord, type EditCase as SplitEditCase, type KnowEditCounterfactRecord, type KnowEditParts,
  type KnowEditZsreRecord, type PortabilityBlock, type SplitRecords, type ZsreRecord,
} from './edit-records';

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

/** One requested edit: a true fact and the new object, and the edit's case id in format 1. */
export interface EditCase extends SplitEditCase {
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
    proposals.push({ fact, targetNew: rng.pick(candidates), evalSplit: index.split(fact.subject) === 'eval' });
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
      targetNew = factRng(fact, 'target', seedOf(world, opts)).pick(candidates);
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

/** The seed of target and prompt choices. */
function seedOf(world: World, opts: EditSetOptions): number {
  return opts.seed ?? world.config.seed;
}

/** EasyEdit's portability block of a case's first one-hop consequence, if it has one. */
function hopPortability(index: WorldIndex, hops: readonly Hop[]): PortabilityBlock | undefined {
  if (hops.length === 0) return undefined;
  const h = hops[0];
  return { 'Recalled Relation': h.recalled, 'New Question': h.prompt, 'New Answer': index.name(h.answer) };
}

/**
 * CounterFact records for the cases.
 * @param opts the same options given to {@link selectEditCases} (answers, seed)
 */
export function buildCounterFact(world: World, cases: readonly EditCase[], opts: EditSetOptions): SplitRecords<CounterFactRecord> {
  const index = new WorldIndex(world);
  const pararel = new Map(world.facts.map((f, i) => [f, i]));
  const out = emptySplits<CounterFactRecord>();
  for (const c of cases) {
    const record = counterFactRecord(index, c, relationById(c.fact.relation), factRng(c.fact, 'counterfact', seedOf(world, opts)), opts.answers, pararel.get(c.fact)!);
    const portability = hopPortability(index, caseHops(index, c, opts.answers));
    if (portability) record.portability = portability;
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

/** The zsRE question of a relation: its training question ending in "?". */
const zsreQuestion = (relation: string) => questionTemplate(relationById(relation));

/** zsRE records for the cases. */
export function buildZsre(world: World, cases: readonly EditCase[], opts: EditSetOptions): SplitRecords<ZsreRecord> {
  const index = new WorldIndex(world);
  const out = emptySplits<ZsreRecord>();
  for (const c of cases) {
    const loc = unrelatedFact(world, index, c, factRng(c.fact, 'zsre', seedOf(world, opts)), opts.answers);
    const record = zsreRecord(index, c, relationById(c.fact.relation), zsreQuestion, loc);
    const portability = hopPortability(index, caseHops(index, c, opts.answers));
    if (portability) record.portability = portability;
    out[c.split].push(record);
  }
  return out;
}

/**
 * KnowEdit records: only cases with at least one one-hop consequence and one other answered
 * relation of the same subject (locality), since KnowEdit's point is portability and locality.
 * @param flavor 'zsre' (KnowEdit ZsRE layout, question prompts) or 'counterfact' (WikiData_counterfact layout, statements)
 */
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'zsre'): SplitRecords<KnowEditZsreRecord>;
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'counterfact'): SplitRecords<KnowEditCounterfactRecord>;
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'zsre' | 'counterfact'): SplitRecords<KnowEditZsreRecord | KnowEditCounterfactRecord> {
  const index = new WorldIndex(world);
  const out = emptySplits<KnowEditZsreRecord | KnowEditCounterfactRecord>();
  for (const c of cases) {
    const hops = caseHops(index, c, opts.answers);
    const local = index.relationsOf(c.fact.subject).filter((r) => r !== c.fact.relation && opts.answers(c.fact.subject, r) && namable(index, index.object(c.fact.subject, r)!, c.split));
    if (hops.length === 0 || local.length === 0) continue;
    const parts: KnowEditParts = {
      spec: relationById(c.fact.relation),
      rng: factRng(c.fact, `knowedit-${flavor}`, seedOf(world, opts)),
      relation: relationById,
      local,
      reasoning: hops.map((h) => ({ prompt: h.prompt, ground_truth: index.name(h.answer) })),
    };
    out[c.split].push(flavor === 'zsre' ? knowEditZsreRecord(index, c, parts, zsreQuestion) : knowEditCounterfactRecord(index, c, parts));
  }
  return out;
}

/** Every edit set at once. */
export interface EditSets {
  cases: EditCase[];
  counterfact: SplitRecords<CounterFactRecord>;
  zsre: SplitRecords<ZsreRecord>;
  knoweditZsre: SplitRecords<KnowEditZsreRecord>;
  knoweditCounterfact: SplitRecords<KnowEditCounterfactRecord>;
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
