/**
 * Edit sets over fact-base in the real datasets' JSON schemas, one file per split (train,
 * validation, eval):
 * - CounterFact (ROME's `counterfact.json`) with EasyEdit's `portability` block;
 * - zsRE (MEND/ROME's `zsre_mend_eval.json`) with `portability`;
 * - KnowEdit (Zhang et al. 2024) in its ZsRE and WikiData_counterfact layouts;
 * - MQuAKE (Zhong et al. 2023, princeton-nlp/MQuAKE README "Data format"): a first-hop edit and
 *   the 2–4-hop chain through it, with three multi-hop questions, the answers before and after
 *   the edit, and the single-hop questions of both chains.
 *
 * Split hygiene by construction: a record of one split names only subjects of that split (its
 * neighbourhood, attribute, locality and `loc` prompts are drawn from the same split, and subjects
 * are never objects). Texts that name no subject — the single hops of a chain past its first fact
 * ("What is the capital of Varsa?") — use one training wording in train and validation records and
 * another in eval records, so no eval text occurs verbatim in another split's file.
 *
 * Pure: (world, answers, seed) → the same records. Every case is on a different subject, so the
 * eval split gives as many edits on distinct subjects as it has answered subjects (MEMIT's batch
 * of 1,000). Only facts the model answers are used, anywhere in a record.
 */
import { Rng, hashString } from '../factworld/prng';
import { isQuestion, renderPrompt } from '../factworld/corpus';
import {
  SPLITS, counterFactRecord, emptySplits, requestedRewrite, entityQid, factRng, knowEditCounterfactRecord, knowEditZsreRecord, sameSplitHolders, statements, zsreRecord,
  type CounterFactRecord, type EditCase, type KnowEditCounterfactRecord, type KnowEditParts, type KnowEditZsreRecord, type PortabilityBlock, type RequestedRewrite,
  type SplitRecords, type ZsreRecord,
} from '../factworld/edit-records';
import { relationById } from './relations';
import { chainQuestion, chainStatement, chainsFrom, rewiredChain, type Chain } from './chains';
import { FactIndex, type AnswerPredicate, type Fact, type SplitName, type World } from './world';

export { SPLITS, type EditCase, type SplitRecords } from '../factworld/edit-records';

/** Options of {@link buildEditSets}. */
export interface EditSetOptions {
  answers: AnswerPredicate;
  /** Seed of target, prompt and chain choices (default: the world's seed). */
  seed?: number;
  /** Keep at most this many cases per split (a seeded sample, kept in subject order). */
  maxCasesPerSplit?: number;
}

/** MQuAKE record (princeton-nlp/MQuAKE README, "Data format"). */
export interface MquakeRecord {
  case_id: number;
  requested_rewrite: (RequestedRewrite & { question: string })[];
  questions: string[];
  answer: string;
  answer_alias: string[];
  new_answer: string;
  new_answer_alias: string[];
  single_hops: { question: string; cloze: string; answer: string; answer_alias: string[] }[];
  new_single_hops: { question: string; cloze: string; answer: string; answer_alias: string[] }[];
  orig: {
    triples: [string, string, string][];
    triples_labeled: [string, string, string][];
    new_triples: [string, string, string][];
    new_triples_labeled: [string, string, string][];
    edit_triples: [string, string, string][];
  };
}

const questions = (id: string) => relationById(id).train.filter(isQuestion);
/** The zsRE and KnowEdit question of a relation: its first training question. */
const firstQuestion = (relation: string) => questions(relation)[0];
const firstWord = (s: string) => s.split(' ')[0];

/**
 * Chooses the edits: per subject at most one, on an answered fact whose true object has another
 * answered subject of the same split (neighbourhood prompts) and with a new object of the same
 * relation, another first word, and another answered same-split subject holding it (attribute
 * prompts).
 */
export function selectEditCases(world: World, opts: EditSetOptions): EditCase[] {
  const index = new FactIndex(world);
  const seed = opts.seed ?? world.config.seed;
  const objectsOf = new Map<string, number[]>();
  for (const f of world.facts) {
    if (!index.isSubject(f.subject)) continue;
    const list = objectsOf.get(f.relation) ?? [];
    if (!list.includes(f.object)) list.push(f.object);
    objectsOf.set(f.relation, list);
  }
  const sameSplitAnswered = (relation: string, object: number, not: number, split: SplitName) =>
    sameSplitHolders(index, opts.answers, split, relation, object, not).length > 0;
  const cases: EditCase[] = [];
  for (let s = 0; s < world.subjectCount; s++) {
    const split = index.split(s);
    const rng = new Rng(seed ^ hashString(`case|${s}`));
    const options: { fact: Fact; targets: number[] }[] = [];
    for (const r of index.relationsOf(s)) {
      const o = index.object(s, r)!;
      if (!opts.answers(s, r) || !sameSplitAnswered(r, o, s, split)) continue;
      const targets = (objectsOf.get(r) ?? []).filter((t) => t !== o && firstWord(index.name(t)) !== firstWord(index.name(o)) && sameSplitAnswered(r, t, s, split));
      if (targets.length > 0) options.push({ fact: { subject: s, relation: r, object: o }, targets: targets.sort((a, b) => a - b) });
    }
    if (options.length === 0) continue;
    const pick = rng.pick(options);
    cases.push({ caseId: 0, fact: pick.fact, targetNew: rng.pick(pick.targets), split });
  }
  let kept = cases;
  if (opts.maxCasesPerSplit !== undefined) {
    const rng = new Rng(seed).fork('max-cases');
    const keep = new Set<EditCase>();
    for (const split of SPLITS) rng.shuffle(cases.filter((c) => c.split === split)).slice(0, opts.maxCasesPerSplit).forEach((c) => keep.add(c));
    kept = cases.filter((c) => keep.has(c));
  }
  return kept.map((c, i) => ({ ...c, caseId: i }));
}

/** One-hop portability of a case: the first 2-relation chain whose answer the edit changes. */
function portability(index: FactIndex, c: EditCase, answers: AnswerPredicate): { chain: Chain; rewired: number[] }[] {
  const out: { chain: Chain; rewired: number[] }[] = [];
  for (const chain of chainsFrom(index, c.fact.subject, answers, 2)) {
    if (chain.relations[0] !== c.fact.relation) continue;
    const rewired = rewiredChain(index, chain, c.targetNew, answers);
    if (rewired && rewired[2] !== chain.entities[2]) out.push({ chain, rewired });
  }
  return out;
}

/** EasyEdit's portability block; "Recalled Relation" names the whole chain from the subject (so it names the subject). */
function portabilityBlock(index: FactIndex, p: { chain: Chain; rewired: number[] }, d: 0 | 1): PortabilityBlock {
  const [r1, r2] = p.chain.relations;
  const [s, o1, o2] = p.rewired.map((e) => index.name(e));
  return {
    'Recalled Relation': `(${s}, ${relationById(r1).name}, ${o1}), (${o1}, ${relationById(r2).name}, ${o2})`,
    'New Question': chainStatement(s, p.chain.relations, d),
    'New Answer': o2,
  };
}

/** CounterFact records. */
export function buildCounterFact(world: World, cases: readonly EditCase[], opts: EditSetOptions): SplitRecords<CounterFactRecord> {
  const index = new FactIndex(world);
  const seed = opts.seed ?? world.config.seed;
  const factIndex = new Map(world.facts.map((f, i) => [`${f.subject}|${f.relation}`, i]));
  const out = emptySplits<CounterFactRecord>();
  for (const c of cases) {
    const rng = factRng(c.fact, 'counterfact', seed);
    const record = counterFactRecord(index, c, relationById(c.fact.relation), rng, opts.answers, factIndex.get(`${c.fact.subject}|${c.fact.relation}`)!);
    const hops = portability(index, c, opts.answers);
    if (hops.length > 0) record.portability = portabilityBlock(index, rng.pick(hops), rng.chance(0.5) ? 0 : 1);
    out[c.split].push(record);
  }
  return out;
}

/** An answered fact of another subject of the same split, for zsRE `loc`. */
function unrelatedFact(world: World, index: FactIndex, c: EditCase, rng: Rng, answers: AnswerPredicate): Fact {
  const pool = world.splits[c.split];
  for (let attempt = 0; attempt < 1000; attempt++) {
    const s = rng.pick(pool);
    if (s === c.fact.subject) continue;
    const r = rng.pick(index.relationsOf(s));
    const o = index.object(s, r)!;
    if (o !== c.fact.object && answers(s, r)) return { subject: s, relation: r, object: o };
  }
  throw new Error(`No answered fact of another ${c.split} subject found for the zsRE loc of case ${c.caseId}`);
}

/** zsRE records. */
export function buildZsre(world: World, cases: readonly EditCase[], opts: EditSetOptions): SplitRecords<ZsreRecord> {
  const index = new FactIndex(world);
  const seed = opts.seed ?? world.config.seed;
  const out = emptySplits<ZsreRecord>();
  for (const c of cases) {
    const rng = factRng(c.fact, 'zsre', seed);
    const record = zsreRecord(index, c, relationById(c.fact.relation), firstQuestion, unrelatedFact(world, index, c, rng, opts.answers));
    const hops = portability(index, c, opts.answers);
    if (hops.length > 0) record.portability = portabilityBlock(index, rng.pick(hops), rng.chance(0.5) ? 0 : 1);
    out[c.split].push(record);
  }
  return out;
}

/** KnowEdit records (cases with a one-hop consequence and another answered fact of the subject). */
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'zsre'): SplitRecords<KnowEditZsreRecord>;
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'counterfact'): SplitRecords<KnowEditCounterfactRecord>;
export function buildKnowEdit(world: World, cases: readonly EditCase[], opts: EditSetOptions, flavor: 'zsre' | 'counterfact'): SplitRecords<KnowEditZsreRecord | KnowEditCounterfactRecord> {
  const index = new FactIndex(world);
  const seed = opts.seed ?? world.config.seed;
  const out = emptySplits<KnowEditZsreRecord | KnowEditCounterfactRecord>();
  for (const c of cases) {
    const rng = factRng(c.fact, `knowedit-${flavor}`, seed);
    const subject = index.name(c.fact.subject);
    const hops = portability(index, c, opts.answers);
    const local = index.relationsOf(c.fact.subject).filter((r) => r !== c.fact.relation && opts.answers(c.fact.subject, r));
    if (hops.length === 0 || local.length === 0) continue;
    const parts: KnowEditParts = {
      spec: relationById(c.fact.relation),
      rng,
      relation: relationById,
      local,
      reasoning: hops.map((h) => ({ prompt: chainStatement(subject, h.chain.relations, rng.chance(0.5) ? 0 : 1), ground_truth: index.name(h.rewired[2]) })),
    };
    out[c.split].push(flavor === 'zsre' ? knowEditZsreRecord(index, c, parts, firstQuestion) : knowEditCounterfactRecord(index, c, parts));
  }
  return out;
}

/**
 * Single-hop question and cloze of (entity, relation). A hop about the subject uses the first
 * training question and the edit's prompt; a hop about an object-only entity (no subject in its
 * text) uses wording 0 in train and validation records and wording 1 in eval records.
 */
function singleHop(index: FactIndex, entity: number, relation: string, answer: number, split: SplitName, subjectCloze: string) {
  const name = index.name(entity);
  const aboutSubject = index.isSubject(entity);
  const w = split === 'eval' ? 1 : 0;
  return {
    question: renderPrompt(questions(relation)[aboutSubject ? 0 : w], name),
    cloze: renderPrompt(aboutSubject ? subjectCloze : statements(relationById(relation))[w], name),
    answer: index.name(answer),
    answer_alias: [],
  };
}

/**
 * MQuAKE records: per case, one chain of 2–4 hops through the edited fact (lengths drawn
 * uniformly from those the subject has) whose final answer the edit changes.
 */
export function buildMquake(world: World, cases: readonly EditCase[], opts: EditSetOptions): SplitRecords<MquakeRecord> {
  const index = new FactIndex(world);
  const seed = opts.seed ?? world.config.seed;
  const out = emptySplits<MquakeRecord>();
  for (const c of cases) {
    const rng = factRng(c.fact, 'mquake', seed);
    const candidates = chainsFrom(index, c.fact.subject, opts.answers)
      .filter((ch) => ch.relations[0] === c.fact.relation)
      .map((chain) => ({ chain, rewired: rewiredChain(index, chain, c.targetNew, opts.answers) }))
      .filter((x): x is { chain: Chain; rewired: number[] } => x.rewired !== undefined && x.rewired[x.rewired.length - 1] !== x.chain.entities[x.chain.entities.length - 1]);
    if (candidates.length === 0) continue;
    const lengths = [...new Set(candidates.map((x) => x.chain.relations.length))].sort();
    const length = rng.pick(lengths);
    const { chain, rewired } = rng.pick(candidates.filter((x) => x.chain.relations.length === length));
    const subject = index.name(c.fact.subject);
    const spec = relationById(c.fact.relation);
    const triples = (entities: number[]) => chain.relations.map((r, i) => [entityQid(entities[i]), r, entityQid(entities[i + 1])] as [string, string, string]);
    const labeled = (entities: number[]) => chain.relations.map((r, i) => [index.name(entities[i]), relationById(r).name, index.name(entities[i + 1])] as [string, string, string]);
    const prompt = rng.pick(statements(spec));
    const hops = (entities: number[]) => chain.relations.map((r, i) => singleHop(index, entities[i], r, entities[i + 1], c.split, prompt));
    out[c.split].push({
      case_id: c.caseId,
      requested_rewrite: [{ ...requestedRewrite(index, c, prompt), question: renderPrompt(firstQuestion(spec.id), subject) }],
      questions: [chainQuestion(subject, chain.relations, 0, 0), chainQuestion(subject, chain.relations, 1, 1), chainQuestion(subject, chain.relations, 0, 1)],
      answer: index.name(chain.entities[chain.entities.length - 1]),
      answer_alias: [],
      new_answer: index.name(rewired[rewired.length - 1]),
      new_answer_alias: [],
      single_hops: hops(chain.entities),
      new_single_hops: hops(rewired),
      orig: {
        triples: triples(chain.entities),
        triples_labeled: labeled(chain.entities),
        new_triples: triples(rewired),
        new_triples_labeled: labeled(rewired),
        edit_triples: [[entityQid(c.fact.subject), spec.id, entityQid(c.targetNew)]],
      },
    });
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
  mquake: SplitRecords<MquakeRecord>;
}

/**
 * Selects the cases and builds every format from them.
 * @example
 * const sets = buildEditSets(world, { answers: (s, r) => answered.has(`${s}:${r}`) });
 * sets.counterfact.eval.length; // edits on distinct eval subjects
 */
export function buildEditSets(world: World, opts: EditSetOptions): EditSets {
  const cases = selectEditCases(world, opts);
  return {
    cases,
    counterfact: buildCounterFact(world, cases, opts),
    zsre: buildZsre(world, cases, opts),
    knoweditZsre: buildKnowEdit(world, cases, opts, 'zsre'),
    knoweditCounterfact: buildKnowEdit(world, cases, opts, 'counterfact'),
    mquake: buildMquake(world, cases, opts),
  };
}

/** File name stem of each format (`<stem>-<split>.json`). */
export const EDIT_SET_FILES: ReadonlyArray<[keyof Omit<EditSets, 'cases'>, string]> = [
  ['counterfact', 'counterfact'], ['zsre', 'zsre'], ['knoweditZsre', 'knowedit_zsre'], ['knoweditCounterfact', 'knowedit_counterfact'], ['mquake', 'mquake'],
];
