/**
 * ROME's `attribute_snippets.json` over a fact world (the CounterFact Reference Score's
 * references; fact-world's own file and fact-base's derived one): per relation and object, up to
 * {@link SNIPPETS_PER_OBJECT} subjects holding it, each with a text stating all of that subject's
 * facts in their relation's first training statement — the world's counterpart of a Wikipedia
 * snippet about a subject.
 */
import { factLine, isQuestion, renderPrompt } from './corpus';
import { entityQid } from './edit-records';
import type { FactLookup } from './fact-lookup';

/** Snippets per (relation, object) at most (the first holders by id). */
export const SNIPPETS_PER_OBJECT = 10;

/** One entry of `attribute_snippets.json`. */
export interface AttributeSnippets {
  relation_id: string;
  target_id: string;
  samples: { name: string; text: string }[];
}

/** Which snippets a world writes. */
export interface SnippetSource {
  /** Relations, in file order. */
  relations: readonly string[];
  /** Objects of a relation, in file order. */
  objects: (relation: string) => readonly number[];
  /** Subjects (ascending id) holding the object that may be quoted. */
  holders: (relation: string, object: number) => readonly number[];
  /** Training phrasings of a relation. */
  train: (relation: string) => readonly string[];
}

/** The `attribute_snippets.json` entries of a world. */
export function attributeSnippetEntries(index: FactLookup<{ name: string }>, source: SnippetSource): AttributeSnippets[] {
  const statement = (r: string) => source.train(r).find((t) => !isQuestion(t))!;
  const about = (s: number) => index.relationsOf(s).map((r) => factLine(renderPrompt(statement(r), index.name(s)), index.name(index.object(s, r)!))).join(' ');
  return source.relations.flatMap((r) => source.objects(r).map((o) => ({
    relation_id: r,
    target_id: entityQid(o),
    samples: source.holders(r, o).slice(0, SNIPPETS_PER_OBJECT).map((s) => ({ name: index.name(s), text: about(s) })),
  })));
}
