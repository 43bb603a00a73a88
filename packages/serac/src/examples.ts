/**
 * SERAC training pairs built from edit cases (specs/meta-and-memory.md §2.3, §2.6 [R]): for every
 * edit its in-scope queries (the edit prompt, its rephrases, and the edit's relation asked about
 * the same subject in the other cases' phrasings) and its out-of-scope queries, hard ones first:
 * - the case's own locality / neighbourhood / attribute prompts (same relation or object, other subjects);
 * - the edit's template filled with another subject, half the time one sharing a name word with
 *   the edit's subject ("Leda Vagam" vs "Leda Braka");
 * - another relation's template filled with the edit's own subject (same subject, other relation);
 * - a random prompt of another case.
 * Relations are known only for cases with a `relationId` (CounterFact); cases without one
 * contribute their own prompts but no cross-case phrasings. Cross-case phrasings include the
 * other cases' rephrases with their subject replaced (held-out wordings after context sentences),
 * in scope for the same relation and out of scope for another; the edit's own rephrases with
 * another subject are out of scope.
 */
import { type EditRequest, fillTemplate, mulberry32 } from '@medit/core';
import type { EditCase } from '@medit/data';

/** The text a memory entry is stored and compared as: the filled edit prompt and the new object. */
export function editStatement(r: Pick<EditRequest, 'prompt' | 'subject' | 'targetNew'>): string {
  return `${fillTemplate(r.prompt, r.subject)} ${r.targetNew.trim()}`;
}

/** One training edit with its in-scope and out-of-scope queries. */
export interface ScopeTrainingEdit {
  request: EditRequest;
  relation?: string;
  /** queries that must be routed to this edit */
  inScope: string[];
  /** the rephrase-style members of `inScope`: the case's own rephrases and the other cases' of its relation, asked about this subject */
  rephrases: string[];
  /** out-of-scope queries, hardest kinds first */
  outOfScope: { query: string; kind: 'locality' | 'other-subject' | 'same-subject' | 'random' }[];
  /** objects a query may be followed by (the harness scores prompt + target rows): new, true, others of the relation */
  tails: string[];
}

/** A random generator with the helpers the samplers use. */
export interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
}

export function makeRng(seed: number): Rng {
  const r = mulberry32(seed);
  return {
    next: r,
    int: (n) => Math.floor(r() * n),
    pick: (xs) => xs[Math.floor(r() * xs.length)],
  };
}

/**
 * Builds the per-edit query sets. Deterministic for a seed.
 * @example const edits = buildScopeTrainingSet(readDataset('counterfact-train.json').cases, 0);
 */
export function buildScopeTrainingSet(cases: readonly EditCase[], seed = 0): ScopeTrainingEdit[] {
  const rng = makeRng(seed);
  const byRelation = new Map<string, EditCase[]>();
  for (const c of cases) if (c.request.relationId) (byRelation.get(c.request.relationId) ?? byRelation.set(c.request.relationId, []).get(c.request.relationId)!).push(c);
  const objects = (rel: string | undefined) =>
    rel ? [...new Set(byRelation.get(rel)!.flatMap((c) => [c.request.targetNew, c.request.targetTrue ?? c.request.targetNew]))] : [];
  const subjects = [...new Set(cases.map((c) => c.request.subject))];
  const relCases = cases.filter((c) => c.request.relationId);
  /** A case's prompts (template and rephrases) asked about another subject. */
  const rephrasesAbout = (o: EditCase, subject: string): string[] => o.rephrasePrompts.filter((p) => p.includes(o.request.subject)).map((p) => p.replace(o.request.subject, subject));
  const askedAbout = (o: EditCase, subject: string): string[] => [fillTemplate(o.request.prompt, subject), ...rephrasesAbout(o, subject)];
  return cases.map((c) => {
    const r = c.request;
    const rel = r.relationId;
    const own = fillTemplate(r.prompt, r.subject);
    const inScope = new Set<string>([own, ...c.rephrasePrompts]);
    const rephrases = new Set<string>(c.rephrasePrompts);
    if (rel) for (const o of byRelation.get(rel)!) for (const p of askedAbout(o, r.subject)) inScope.add(p);
    if (rel) for (const o of byRelation.get(rel)!) for (const p of rephrasesAbout(o, r.subject)) rephrases.add(p);
    const outOfScope: ScopeTrainingEdit['outOfScope'] = [];
    for (const p of [...c.localityPrompts, ...(c.attributePrompts ?? [])]) outOfScope.push({ query: p.prompt, kind: 'locality' });
    const words = new Set(r.subject.split(/\s+/));
    const namesakes = subjects.filter((s) => s !== r.subject && s.split(/\s+/).some((w) => words.has(w)));
    for (let k = 0; k < 6; k++) {
      const pool = k % 2 === 0 && namesakes.length > 0 ? namesakes : subjects;
      const s = rng.pick(pool);
      if (s !== r.subject) for (const q of askedAbout(c, s)) outOfScope.push({ query: q, kind: 'other-subject' });
    }
    if (rel) {
      const others = relCases.filter((o) => o.request.relationId !== rel);
      for (let k = 0; k < 6 && others.length > 0; k++) for (const q of askedAbout(rng.pick(others), r.subject)) outOfScope.push({ query: q, kind: 'same-subject' });
    }
    for (let k = 0; k < 4; k++) {
      const o = rng.pick(cases);
      if (o.request.subject !== r.subject) outOfScope.push({ query: fillTemplate(o.request.prompt, o.request.subject), kind: 'random' });
    }
    const tails = [...new Set([r.targetNew, ...(r.targetTrue ? [r.targetTrue] : []), ...objects(rel)])];
    return { request: r, relation: rel, inScope: [...inScope], rephrases: [...rephrases], outOfScope: outOfScope.filter((q) => !inScope.has(q.query)), tails };
  });
}

/**
 * Context sentences that rephrase prompts put before the subject ("A cold rain fell all day. What
 * is ..."): everything up to the last ". " before the subject.
 */
export function contextPrefixes(cases: readonly EditCase[]): string[] {
  const out = new Set<string>();
  for (const c of cases)
    for (const p of c.rephrasePrompts) {
      const at = p.indexOf(c.request.subject);
      const cut = at > 0 ? p.lastIndexOf('. ', at) : -1;
      if (cut > 0) out.add(p.slice(0, cut + 1));
    }
  return [...out];
}

/**
 * A query as the harness presents it: followed by an object half the time (the harness scores
 * prompt + target rows), and after a context sentence 30% of the time (so that a prefix, common in
 * rephrases, is no cue for being in scope).
 */
export function presentQuery(query: string, tails: readonly string[], prefixes: readonly string[], rng: Rng): string {
  const q = prefixes.length > 0 && rng.next() < 0.3 && !query.includes('. ') ? `${rng.pick(prefixes)} ${query}` : query;
  return rng.next() < 0.5 || tails.length === 0 ? q : `${q} ${rng.pick(tails)}`;
}

/** Objects of each relation among the cases (for counterfactual-target augmentation). */
export function relationObjects(edits: readonly ScopeTrainingEdit[]): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const e of edits) {
    if (!e.relation) continue;
    const s = out.get(e.relation) ?? out.set(e.relation, new Set()).get(e.relation)!;
    s.add(e.request.targetNew);
    if (e.request.targetTrue) s.add(e.request.targetTrue);
  }
  return new Map([...out].map(([k, v]) => [k, [...v]]));
}
