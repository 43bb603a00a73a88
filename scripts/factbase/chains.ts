/**
 * Chains of facts for multi-hop questions: a subject's fact leads to an entity whose own facts
 * (HOPS) the training text states. The wording of a chain nests the relations' noun phrases
 * ("the country where the city X was born in is located") inside the last relation's training
 * question or hop statement, the same way in training text (train-split subjects) and in edit sets.
 */
import { isQuestion, renderPrompt } from '../factworld/corpus';
import { HOPS, HOP_STATEMENTS, relationById } from './relations';
import type { AnswerPredicate, FactIndex } from './world';

const capitalise = (s: string) => s[0].toUpperCase() + s.slice(1);
const questions = (id: string) => relationById(id).train.filter(isQuestion);

/** A chain of relations from a subject: r1 is the subject's, each next one a hop (HOPS). */
export interface Chain {
  relations: string[];
  /** entities along the chain: [subject, o1, ..., ok] */
  entities: number[];
}

/** Chains of 2..maxHops relations from `subject` whose every fact is answered. */
export function chainsFrom(index: FactIndex, subject: number, answers: AnswerPredicate, maxHops = 4): Chain[] {
  const out: Chain[] = [];
  const walk = (relations: string[], entities: number[]) => {
    if (relations.length >= 2) out.push({ relations: [...relations], entities: [...entities] });
    if (relations.length === maxHops) return;
    const last = relations[relations.length - 1];
    if (!relationById(last).describe) return;
    for (const h of HOPS) {
      if (h.from !== last) continue;
      const at = entities[entities.length - 1];
      const next = index.object(at, h.to);
      if (next === undefined || !answers(at, h.to)) continue;
      walk([...relations, h.to], [...entities, next]);
    }
  };
  for (const r of index.relationsOf(subject)) {
    const o = index.object(subject, r)!;
    if (answers(subject, r) && HOPS.some((h) => h.from === r)) walk([r], [subject, o]);
  }
  return out;
}

/** The entities of `chain` when its first fact's object becomes `targetNew` (undefined when a hop is missing or unanswered). */
export function rewiredChain(index: FactIndex, chain: Chain, targetNew: number, answers: AnswerPredicate): number[] | undefined {
  const entities = [chain.entities[0], targetNew];
  for (const r of chain.relations.slice(1)) {
    const at = entities[entities.length - 1];
    const next = index.object(at, r);
    if (next === undefined || !answers(at, r)) return undefined;
    entities.push(next);
  }
  return entities;
}

/** Noun phrase for the end of relations[0..k) from the subject ("the country where the city X was born in is located"), wording d. */
function describeChain(subjectName: string, relations: readonly string[], d: 0 | 1): string {
  return relations.reduce((phrase, r) => renderPrompt(relationById(r).describe![d], phrase), subjectName);
}

/** The multi-hop question of a chain: the last relation's training question `q` about the described entity. */
export function chainQuestion(subjectName: string, relations: readonly string[], q: 0 | 1, d: 0 | 1): string {
  return renderPrompt(questions(relations[relations.length - 1])[q], describeChain(subjectName, relations.slice(0, -1), d));
}

/** The statement form ("The capital of the country X is a citizen of is") of a chain. */
export function chainStatement(subjectName: string, relations: readonly string[], d: 0 | 1): string {
  const last = relations[relations.length - 1];
  const hop = HOP_STATEMENTS[last];
  if (!hop) throw new Error(`Relation ${last} ends a chain but has no hop statement`);
  return capitalise(renderPrompt(hop, describeChain(subjectName, relations.slice(0, -1), d)));
}

