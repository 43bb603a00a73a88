/**
 * The shipped fact-world models really know the world (issue 14's bars), and the edit sets
 * built from them are sound: every target_true is what fact-small answers, every target_new
 * is a different object of the same type.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadModel, mulberry32, type CausalLM } from '@medit/core';

import { loadWorld } from '../load';
import { measureRecall } from '../recall';
import { RELATIONS } from '../templates';
import { WorldIndex, tinyFacts, type Fact } from '../world';

const FIX = path.resolve(__dirname, '../../../test-fixtures');
const world = loadWorld(path.join(FIX, 'factworld/world.json'));
const index = new WorldIndex(world);

/** A deterministic sample of n facts about primary subjects. */
function sample(facts: Fact[], n: number, seed: number): Fact[] {
  const rng = mulberry32(seed);
  const pool = facts.filter((f) => index.isSubject(f.subject));
  const out: Fact[] = [];
  const taken = new Set<number>();
  while (out.length < Math.min(n, pool.length)) {
    const i = Math.floor(rng() * pool.length);
    if (!taken.has(i)) {
      taken.add(i);
      out.push(pool[i]);
    }
  }
  return out;
}

describe.each([
  ['fact-tiny', () => tinyFacts(world), 0.9, 0],
  ['fact-llama', () => tinyFacts(world), 0.95, 0.85],
  ['fact-small', () => world.facts, 0.95, 0.75],
] as const)('%s', (name, facts, trainBar, heldoutBar) => {
  let model: CausalLM;
  beforeAll(async () => {
    model = await loadModel(path.join(FIX, 'models', name));
  });
  afterAll(() => model.dispose());

  test(`answers ≥ ${trainBar * 100}% of 200 sampled facts on training phrasings${heldoutBar ? ` and ≥ ${heldoutBar * 100}% on held-out ones` : ''}`, () => {
    const r = measureRecall(model, world, sample(facts(), 200, 7));
    expect(r.train.checked).toBeGreaterThanOrEqual(200 * 8);
    expect(r.train.firstToken).toBeGreaterThanOrEqual(trainBar);
    expect(r.train.wholeObject).toBeGreaterThanOrEqual(trainBar);
    if (heldoutBar) expect(r.heldout.firstToken).toBeGreaterThanOrEqual(heldoutBar);
  });

  test('ships its training record', () => {
    const t = JSON.parse(fs.readFileSync(path.join(FIX, 'models', name, 'training.json'), 'utf8'));
    expect(t.steps).toBeGreaterThan(0);
    expect(t.params).toBe([...model.params.values()].reduce((s, p) => s + p.size, 0));
    expect(t.params).toBeLessThanOrEqual(name === 'fact-small' ? 8_000_000 : 1_000_000);
  });
});

test('CounterFact edit sets: target_true is answered, target_new is another object of the same type', () => {
  const dir = path.join(FIX, 'factworld/edits');
  const answered = new Set<string>(JSON.parse(fs.readFileSync(path.join(FIX, 'models/fact-small/answers.json'), 'utf8')).answered);
  const nameToId = new Map(world.entities.map((e) => [e.name, e.id]));
  for (const split of ['train', 'validation', 'eval'] as const) {
    const records = JSON.parse(fs.readFileSync(path.join(dir, `counterfact-${split}.json`), 'utf8'));
    expect(records.length).toBeGreaterThan(100);
    for (const r of records) {
      const rw = r.requested_rewrite;
      const subject = nameToId.get(rw.subject)!;
      const relation = RELATIONS.find((x) => x.id === rw.relation_id)!;
      expect(answered.has(`${subject}:${relation.id}`)).toBe(true);
      expect(index.name(index.object(subject, relation.id)!)).toBe(rw.target_true.str);
      const newId = nameToId.get(rw.target_new.str)!;
      expect(rw.target_new.str).not.toBe(rw.target_true.str);
      expect(index.entity(newId).type).toBe(relation.objectType);
      expect(index.split(subject)).toBe(split);
    }
  }
});
