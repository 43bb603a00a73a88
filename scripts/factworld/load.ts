/**
 * Reading a generated world and a model's answer list back from disk, with checks that name the
 * file and the problem.
 */
import { readFileSync } from 'node:fs';
import type { World } from './world';
import type { AnswerPredicate } from './edit-records';

/**
 * Loads `world.json` written by the generator.
 * @throws when the file is not a factworld/1 world or its entities/facts are malformed
 */
export function loadWorld(path: string): World {
  let w: World;
  try {
    w = JSON.parse(readFileSync(path, 'utf8')) as World;
  } catch (e) {
    throw new Error(`Cannot read fact world ${path}: ${(e as Error).message}`);
  }
  if (w.format !== 'factworld/1') throw new Error(`Expected format "factworld/1" in ${path} but received ${JSON.stringify(w.format)}`);
  if (!Array.isArray(w.entities) || !Array.isArray(w.facts)) throw new Error(`Expected arrays "entities" and "facts" in ${path}`);
  for (const k of ['evalSubjects', 'validationSubjects'] as const) {
    if (!Array.isArray(w[k])) throw new Error(`Expected an array "${k}" in ${path} (a world written before the validation split: regenerate it with generate.js)`);
  }
  w.entities.forEach((e, i) => {
    if (e.id !== i || typeof e.name !== 'string') throw new Error(`${path}: entity ${i} is malformed (${JSON.stringify(e)})`);
  });
  w.facts.forEach((f, i) => {
    if (!w.entities[f.subject] || !w.entities[f.object] || typeof f.relation !== 'string') throw new Error(`${path}: fact ${i} is malformed (${JSON.stringify(f)})`);
  });
  return w;
}

/** A predicate from "subject:relation" keys, e.g. ["12:P27", "12:P103"]. */
export function answersFromKeys(keys: Iterable<string>): AnswerPredicate {
  const set = new Set(keys);
  return (subject, relation) => set.has(`${subject}:${relation}`);
}

/**
 * Reads an answers file: `{"format": "factworld-answers/1", "answered": ["12:P27", ...]}`, the
 * facts a trained model answers correctly (written by the model check).
 * @throws when the file is malformed or a key does not name a world fact
 */
export function readAnswers(path: string, world: World): AnswerPredicate {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { format?: string; answered?: unknown };
  if (raw.format !== 'factworld-answers/1' || !Array.isArray(raw.answered)) {
    throw new Error(`Expected {"format": "factworld-answers/1", "answered": [...]} in ${path}`);
  }
  const facts = new Set(world.facts.map((f) => `${f.subject}:${f.relation}`));
  for (const k of raw.answered) {
    if (typeof k !== 'string' || !facts.has(k)) throw new Error(`${path}: answered entry ${JSON.stringify(k)} is not a "subject:relation" key of a world fact`);
  }
  return answersFromKeys(raw.answered as string[]);
}
