/** Reading the fact world's facts by relation for the erasure experiment. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { factWorldRelations } from '../src';

const FW = path.resolve(__dirname, '../../../test-fixtures/factworld');
const WORLD = path.join(FW, 'world.json');
const TEMPLATES = path.join(FW, 'templates.json');

test('facts of each relation with every training phrasing filled in', () => {
  const rels = factWorldRelations(WORLD, TEMPLATES, { relations: ['P27', 'P103'], maxFactsPerRelation: 3 });
  expect(rels.map((r) => [r.relation, r.facts.length])).toEqual([
    ['P27', 3],
    ['P103', 3],
  ]);
  const world = JSON.parse(fs.readFileSync(WORLD, 'utf8'));
  const first = world.facts.find((f: { relation: string }) => f.relation === 'P27');
  const subject = world.entities[first.subject].name;
  expect(rels[0].facts[0].answer).toBe(world.entities[first.object].name);
  expect(rels[0].facts[0].prompts).toHaveLength(8);
  expect(rels[0].facts[0].prompts[0]).toBe(`${subject} is a citizen of`);
  expect(factWorldRelations(WORLD, TEMPLATES, { relations: ['P27'], phrasings: 'heldout', maxFactsPerRelation: 1 })[0].facts[0].prompts).toHaveLength(2);
  // every non-background relation by default (14 of the 16)
  expect(factWorldRelations(WORLD, TEMPLATES, { maxFactsPerRelation: 1 })).toHaveLength(14);
});

test('an answers file keeps only the facts the model answers; errors name the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kn-fw-'));
  const answers = path.join(dir, 'answers.json');
  fs.writeFileSync(answers, JSON.stringify({ format: 'factworld-answers/1', answered: ['0:P27', '1:P27'] }));
  const [rel] = factWorldRelations(WORLD, TEMPLATES, { relations: ['P27'], answersFile: answers });
  expect(rel.facts).toHaveLength(2);
  fs.writeFileSync(answers, JSON.stringify({ answered: [] }));
  expect(() => factWorldRelations(WORLD, TEMPLATES, { answersFile: answers })).toThrow(/answers.json: expected/);
  expect(() => factWorldRelations(WORLD, TEMPLATES, { relations: ['P999'] })).toThrow(/unknown relation "P999"/);
  expect(() => factWorldRelations(path.join(dir, 'nope.json'), TEMPLATES)).toThrow(/nope.json: cannot read JSON/);
  fs.rmSync(dir, { recursive: true, force: true });
});
