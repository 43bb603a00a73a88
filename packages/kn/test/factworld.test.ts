/** Reading the fact world's facts by relation, and the erasure experiment on fact-small. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadModel, modelFingerprint } from '@medit/core';

import { erasureExperiment, factWorldRelations } from '../src';

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

test('erasure on fact-small (seed §5.2): the 20 most frequent P1303 (instrument) neurons double its perplexity, other relations move < 10 %', async () => {
  const dir = path.resolve(__dirname, '../../../test-fixtures/models/fact-small');
  const model = await loadModel(dir);
  try {
    const relations = factWorldRelations(WORLD, TEMPLATES, { answersFile: path.join(dir, 'answers.json'), maxFactsPerRelation: 20 });
    const fingerprint = modelFingerprint(model);
    const r = await erasureExperiment(model, relations, 'P1303', { topK: 20 });
    expect(modelFingerprint(model)).toBe(fingerprint);
    // measured (bench/reports/kn-erasure-fact-small.json): ×2.23, other relations ≤ 4.3 %
    expect(r.neurons).toHaveLength(20);
    expect(r.erasedRatio).toBeGreaterThanOrEqual(2);
    expect(r.maxOtherChange).toBeLessThanOrEqual(0.1);
    expect(r.passes).toBe(true);
    // the saturated model: before erasure every relation's answers have perplexity < 1.05
    for (const p of r.perplexity) expect(p.before).toBeLessThan(1.05);
  } finally {
    model.dispose();
  }
}, 300_000);
