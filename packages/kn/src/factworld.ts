/**
 * Facts of the medit fact world (test-fixtures/factworld: `world.json`, `templates.json`, and a
 * trained model's `answers.json`) as {@link RelationFacts} for the erasure experiment: every
 * fact of a relation with each of its phrasings filled in (the paraphrases the refinement uses).
 */
import * as fs from 'node:fs';

import { ArgumentError, IOError } from '@medit/core';

import type { RelationFacts } from './erasure';

interface WorldJson {
  format: string;
  entities: { id: number; name: string }[];
  facts: { subject: number; relation: string; object: number }[];
}

interface TemplatesJson {
  relations: { id: string; background: boolean; train: string[]; heldout: string[] }[];
}

export interface FactWorldOptions {
  /** `answers.json` of the model ({format: "factworld-answers/1", answered: ["12:P27", ...]}): only facts it answers */
  answersFile?: string;
  /** relation ids to keep (default: every non-background relation) */
  relations?: string[];
  /** facts per relation, in world order (default 20) */
  maxFactsPerRelation?: number;
  /** which phrasings become prompts (default 'train', the 8 the model was trained on) */
  phrasings?: 'train' | 'heldout' | 'all';
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new IOError(`${file}: cannot read JSON (${(err as Error).message})`);
  }
}

/**
 * Reads the fact world's facts grouped by relation.
 * @throws IOError for unreadable or malformed files, ArgumentError for an unknown relation id
 * @example
 * const rels = factWorldRelations('test-fixtures/factworld/world.json', 'test-fixtures/factworld/templates.json',
 *   { answersFile: 'test-fixtures/models/fact-small/answers.json' });
 * const result = await erasureExperiment(model, rels, 'P27');
 */
export function factWorldRelations(worldFile: string, templatesFile: string, opts: FactWorldOptions = {}): RelationFacts[] {
  const world = readJson<WorldJson>(worldFile);
  if (world.format !== 'factworld/1' || !Array.isArray(world.entities) || !Array.isArray(world.facts)) {
    throw new IOError(`${worldFile}: expected a factworld/1 world with entities and facts`);
  }
  const templates = readJson<TemplatesJson>(templatesFile);
  if (!Array.isArray(templates.relations)) throw new IOError(`${templatesFile}: expected a "relations" array`);
  let answered: Set<string> | undefined;
  if (opts.answersFile) {
    const a = readJson<{ format?: string; answered?: unknown }>(opts.answersFile);
    if (a.format !== 'factworld-answers/1' || !Array.isArray(a.answered)) throw new IOError(`${opts.answersFile}: expected {"format": "factworld-answers/1", "answered": [...]}`);
    answered = new Set(a.answered as string[]);
  }
  const byId = new Map(templates.relations.map((r) => [r.id, r]));
  const ids = opts.relations ?? templates.relations.filter((r) => !r.background).map((r) => r.id);
  const max = opts.maxFactsPerRelation ?? 20;
  return ids.map((id) => {
    const rel = byId.get(id);
    if (!rel) throw new ArgumentError(`factWorldRelations: unknown relation ${JSON.stringify(id)} (known: ${[...byId.keys()].join(', ')})`);
    const phrasings = opts.phrasings === 'heldout' ? rel.heldout : opts.phrasings === 'all' ? [...rel.train, ...rel.heldout] : rel.train;
    const facts = world.facts
      .filter((f) => f.relation === id && (!answered || answered.has(`${f.subject}:${id}`)))
      .slice(0, max)
      .map((f) => {
        const subject = world.entities[f.subject]?.name;
        const object = world.entities[f.object]?.name;
        if (subject === undefined || object === undefined) throw new IOError(`${worldFile}: fact ${JSON.stringify(f)} names a missing entity`);
        return { prompts: phrasings.map((t) => t.replace('{}', subject)), answer: object };
      });
    return { relation: id, facts };
  });
}
