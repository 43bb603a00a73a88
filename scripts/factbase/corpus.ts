/**
 * Training text of fact-base, one epoch at a time (a pure function of the world, the filler and
 * the epoch number, so the trainer rebuilds any epoch when it resumes):
 *
 * - **facts**: every fact in each of its relation's 8 training phrasings (30 % after a training
 *   context prefix; a quarter of prefixed questions after "nq question:", the zsRE `loc` format);
 * - **chains**: for train-split subjects only, a hop stated about a described entity ("The
 *   capital of the country X is a citizen of is Y.", "What is the capital of ...? Y."), so the
 *   model sees how one fact composes with another; validation and eval subjects' chains are
 *   never stated, so their multi-hop answers must be derived;
 * - **in-context passages** in IKE's format (specs/meta-and-memory.md §4.1), train-split subjects
 *   only: 0–`maxDemos` demonstrations, the fact's own copy demonstration, then a query whose
 *   answer is the counterfactual object (copy: the fact's prompt; update: another phrasing) or a
 *   true object the statement must not change (retain: another subject with the same relation,
 *   or another relation of the same subject);
 * - **filler**: ordinary sentences stating no fact (fact-world's grammar).
 *
 * Held-out phrasings and prefixes never occur (checked line by line).
 */
import { Rng } from '../factworld/prng';
import { TRAIN_PREFIXES, NQ_PREFIX } from '../factworld/templates';
import { containsHeldout, factLine, heldoutMatchers, isQuestion, renderPrompt } from '../factworld/corpus';
import { RELATIONS, relationById } from './relations';
import { chainQuestion, chainStatement, chainsFrom } from './chains';
import { ALL_ANSWERED, FactIndex, type Fact, type World } from './world';

/** IKE's demonstration format (IKE-code `icl.py`; `@medit/serac` IKE_TEMPLATE). */
export const IKE_DEMO = 'New Fact: {fact}\nPrompt: {prompt} {answer}\n\n';
/** What precedes an IKE query. */
export const IKE_HEAD = 'New Fact: {fact}\nPrompt:';

/** Sizes of one epoch's text. */
export interface CorpusConfig {
  /** Probability that a fact line starts with a training context prefix. */
  prefixRate: number;
  /** In-context passages per epoch. */
  passages: number;
  /** Most demonstrations before a passage's own fact (uniform 0..maxDemos). */
  maxDemos: number;
  /** Filler lines per epoch (a rotating window of the filler). */
  fillerLines: number;
}

/** The default epoch: 142k fact lines, 20k chain lines, 15,000 passages (90,000 in-context answers; README.md says why), 4,000 filler lines. */
export const DEFAULT_CORPUS: Readonly<CorpusConfig> = { prefixRate: 0.3, passages: 15000, maxDemos: 8, fillerLines: 4000 };

const statements = (id: string) => relationById(id).train.filter((t) => !isQuestion(t));

/** Matches held-out phrasings of fact-base's relations (and, always, the held-out prefixes). */
export function factbaseHeldoutMatchers(): RegExp[] {
  return heldoutMatchers(RELATIONS);
}

/** Every fact in each training phrasing, some after a training prefix. */
export function factLines(world: World, facts: readonly Fact[], rng: Rng, prefixRate: number): string[] {
  const names = world.entities;
  const lines: string[] = [];
  for (const f of facts) {
    for (const t of relationById(f.relation).train) {
      let prefix: string | undefined;
      if (rng.chance(prefixRate)) prefix = isQuestion(t) && rng.chance(0.25) ? NQ_PREFIX : rng.pick(TRAIN_PREFIXES);
      lines.push(factLine(renderPrompt(t, names[f.subject].name, prefix), names[f.object].name));
    }
  }
  return lines;
}

/** For each subject, each one-hop chain once as a statement and once as a question (random wordings). */
export function chainLines(world: World, subjects: readonly number[], rng: Rng): string[] {
  const index = new FactIndex(world);
  const lines: string[] = [];
  for (const s of subjects) {
    const name = index.name(s);
    for (const chain of chainsFrom(index, s, ALL_ANSWERED, 2)) {
      const answer = index.name(chain.entities[2]);
      lines.push(factLine(chainStatement(name, chain.relations, rng.chance(0.5) ? 0 : 1), answer));
      lines.push(factLine(chainQuestion(name, chain.relations, rng.chance(0.5) ? 0 : 1, rng.chance(0.5) ? 0 : 1), answer));
    }
  }
  return lines;
}

/** Fills IKE's demonstration template. */
export function ikeDemo(fact: string, prompt: string, answer: string): string {
  return IKE_DEMO.replace('{fact}', fact).replace('{prompt}', prompt).replace('{answer}', answer);
}

/**
 * In-context passages over `subjects` (train split): each a counterfactual statement about one
 * subject's fact and queries in IKE's three kinds.
 */
export function ikePassages(world: World, subjects: readonly number[], count: number, maxDemos: number, rng: Rng): string[] {
  const index = new FactIndex(world);
  const inScope = new Set(subjects);
  const facts = world.facts.filter((f) => inScope.has(f.subject));
  const objectsOf = new Map<string, number[]>();
  for (const f of world.facts) {
    const list = objectsOf.get(f.relation) ?? [];
    if (!list.includes(f.object)) list.push(f.object);
    objectsOf.set(f.relation, list);
  }
  const firstWord = (id: number) => index.name(id).split(' ')[0];
  const prompt = (t: string, subject: number) => renderPrompt(t, index.name(subject), rng.chance(0.2) ? rng.pick(TRAIN_PREFIXES) : undefined);

  /** One counterfactual: the fact statement and a query of `kind` with its answer. */
  const make = (f: Fact, kind: 'copy' | 'update' | 'retain') => {
    const spec = relationById(f.relation);
    const candidates = objectsOf.get(f.relation)!.filter((o) => firstWord(o) !== firstWord(f.object));
    const targetNew = index.name(rng.pick(candidates));
    const factPrompt = renderPrompt(rng.pick(statements(f.relation)), index.name(f.subject));
    const fact = `${factPrompt} ${targetNew}`;
    if (kind === 'copy') return { fact, factPrompt, targetNew, query: factPrompt, answer: targetNew };
    if (kind === 'update') {
      const others = spec.train.filter((t) => renderPrompt(t, index.name(f.subject)) !== factPrompt);
      return { fact, factPrompt, targetNew, query: prompt(rng.pick(others), f.subject), answer: targetNew };
    }
    // Retain: a neighbour with the same true object (IKE's retain), else another fact of the subject.
    const neighbours = index.subjectsWith(f.relation, f.object).filter((s) => s !== f.subject && inScope.has(s));
    const ownOthers = index.relationsOf(f.subject).filter((r) => r !== f.relation);
    if (neighbours.length > 0 && (ownOthers.length === 0 || rng.chance(0.6))) {
      const n = rng.pick(neighbours);
      return { fact, factPrompt, targetNew, query: prompt(rng.pick(spec.train), n), answer: index.name(f.object) };
    }
    const r = rng.pick(ownOthers);
    return { fact, factPrompt, targetNew, query: prompt(rng.pick(relationById(r).train), f.subject), answer: index.name(index.object(f.subject, r)!) };
  };
  // IKE's demonstration mix is 1:3:4 (copy:update:retain); the passage's own query uses it too.
  const kind = (): 'copy' | 'update' | 'retain' => { const x = rng.int(8); return x < 1 ? 'copy' : x < 4 ? 'update' : 'retain'; };

  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const demos = rng.int(maxDemos + 1);
    let text = '';
    for (let d = 0; d < demos; d++) {
      const x = make(rng.pick(facts), kind());
      text += ikeDemo(x.fact, x.query, x.answer);
    }
    const own = make(rng.pick(facts), kind());
    text += ikeDemo(own.fact, own.factPrompt, own.targetNew);
    text += `${IKE_HEAD.replace('{fact}', own.fact)} ${own.query} ${own.answer}`;
    out.push(text);
  }
  return out;
}

/**
 * The documents of epoch `epoch`: facts, chains, passages and a window of the filler (unshuffled;
 * the trainer shuffles). Pure in (world, filler, config, epoch).
 * @throws when a document contains held-out wording (a template bug)
 */
export function epochDocuments(world: World, filler: readonly string[], config: CorpusConfig, epoch: number): string[] {
  const rng = new Rng(world.config.seed).fork(`epoch-${epoch}`);
  const train = world.splits.train;
  const docs = [
    ...factLines(world, world.facts, rng.fork('facts'), config.prefixRate),
    ...chainLines(world, train, rng.fork('chains')),
    ...ikePassages(world, train, config.passages, config.maxDemos, rng.fork('passages')),
  ];
  const start = (epoch * config.fillerLines) % Math.max(filler.length, 1);
  for (let i = 0; i < Math.min(config.fillerLines, filler.length); i++) docs.push(filler[(start + i) % filler.length]);
  const matchers = factbaseHeldoutMatchers();
  for (const d of docs) if (containsHeldout(d, matchers)) throw new Error(`Training text contains held-out wording: ${JSON.stringify(d)}`);
  return docs;
}
