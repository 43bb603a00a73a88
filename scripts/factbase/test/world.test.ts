/** The fact-base world: size, determinism, chains, split, and names that identify their subject. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { worldToJson } from '../build';
import { chainsFrom } from '../chains';
import { HOPS, RELATIONS, SUBJECT_RELATIONS } from '../relations';
import { ALL_ANSWERED, DEFAULT_CONFIG, FactIndex, SMALL_CONFIG, generateWorld } from '../world';

const FIXTURES = join(__dirname, '../../../test-fixtures/factbase');
const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as { sha256: Record<string, string> };

describe('fact-base world (default config)', () => {
  const world = generateWorld(DEFAULT_CONFIG);
  const index = new FactIndex(world);
  const subjects = world.entities.slice(0, world.subjectCount);

  it('is the committed world.json, byte for byte (a hash of the regenerated world)', () => {
    const json = worldToJson(world);
    expect(createHash('sha256').update(json).digest('hex')).toBe(manifest.sha256['world.json']);
    expect(worldToJson(generateWorld(DEFAULT_CONFIG))).toBe(json);
    expect(worldToJson(generateWorld({ ...DEFAULT_CONFIG, seed: 27 }))).not.toBe(json);
  });

  it('has at least 3,000 subjects of four types and at least 20 relations, with chains to background facts', () => {
    expect(world.subjectCount).toBeGreaterThanOrEqual(3000);
    expect(new Set(subjects.map((s) => s.type))).toEqual(new Set(Object.keys(SUBJECT_RELATIONS)));
    expect(new Set(world.facts.map((f) => f.relation)).size).toBeGreaterThanOrEqual(20);
    expect(RELATIONS).toHaveLength(new Set(world.facts.map((f) => f.relation)).size);
    // A person's birthplace → that city's country → its capital, language, currency: all stated facts.
    const person = subjects.find((s) => s.type === 'person')!.id;
    const city = index.object(person, 'P19')!;
    const country = index.object(city, 'P17')!;
    for (const r of ['P36', 'P37', 'P38', 'P30']) expect(index.object(country, r)).toBeDefined();
    const lengths = new Set(subjects.slice(0, 200).flatMap((s) => chainsFrom(index, s.id, ALL_ANSWERED).map((c) => c.relations.length)));
    expect(lengths).toEqual(new Set([2, 3, 4]));
    for (const h of HOPS) expect(world.facts.some((f) => f.relation === h.to && !index.isSubject(f.subject))).toBe(true);
  });

  it('keeps derived facts consistent with their chains', () => {
    for (const s of subjects) {
      if (s.type === 'place') {
        expect(index.object(s.id, 'P17')).toBe(index.object(index.object(s.id, 'P131')!, 'P17'));
        expect(index.object(s.id, 'P30')).toBe(index.object(index.object(s.id, 'P17')!, 'P30'));
      }
      if (s.type === 'organisation') expect(index.object(s.id, 'P17')).toBe(index.object(index.object(s.id, 'P159')!, 'P17'));
      if (s.type === 'product') expect(index.object(s.id, 'P495')).toBe(index.object(index.object(index.object(s.id, 'P176')!, 'P159')!, 'P17'));
    }
  });

  it('splits the subjects into disjoint train / validation / eval sets with at least 1,000 eval subjects', () => {
    const { train, validation, eval: ev } = world.splits;
    expect(ev.length).toBeGreaterThanOrEqual(1000);
    expect(validation.length).toBeGreaterThan(0);
    expect(new Set([...train, ...validation, ...ev]).size).toBe(world.subjectCount);
    expect(train.length + validation.length + ev.length).toBe(world.subjectCount);
    for (const split of [train, validation, ev]) expect(new Set(split.map((s) => index.entity(s).type)).size).toBe(4);
  });

  it('never uses a subject as an object, and gives every subject name words no other entity has', () => {
    for (const f of world.facts) expect(index.isSubject(f.object)).toBe(false);
    const holders = new Map<string, Set<number>>();
    for (const e of world.entities) for (const w of e.name.split(' ')) holders.set(w, (holders.get(w) ?? new Set()).add(e.id));
    const shared = new Set(['van', 'de', 'al', 'del', 'von', 'ter', 'da', 'el', 'and', 'Nova', 'Aero', 'Vista', 'Prime', 'Lux', 'Mini', 'Max', 'Pro', 'Zen', 'Solo', 'Duo', 'Flex']);
    for (const s of subjects) for (const w of s.name.split(' ')) if (!shared.has(w)) expect([w, holders.get(w)!.size]).toEqual([w, 1]);
    for (const s of subjects) {
      const words = s.name.split(' ');
      expect(shared.has(words[0]) || shared.has(words[words.length - 1])).toBe(false);
    }
  });
});

test('a small config builds the same code paths', () => {
  const world = generateWorld(SMALL_CONFIG);
  expect(world.subjectCount).toBe(160);
  expect(world.splits.eval).toHaveLength(SMALL_CONFIG.evalSubjects);
  expect(() => generateWorld({ ...SMALL_CONFIG, evalSubjects: 150 })).toThrow(/evalSubjects/);
});
