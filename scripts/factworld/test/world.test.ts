import { generateWorld, tinyFacts, WorldIndex, DEFAULT_CONFIG, SMALL_CONFIG } from '../world';
import { stratified } from '../fact-sheet';
import { RELATIONS, relationById } from '../templates';
import { objectSharing } from '../build';
import { Rng } from '../prng';

describe('fact world (default config)', () => {
  const world = generateWorld(DEFAULT_CONFIG);
  const index = new WorldIndex(world);
  const subjects = world.entities.slice(0, world.subjectCount);
  const primary = RELATIONS.filter((r) => !r.background).map((r) => r.id);

  it('has at least 1,000 multi-token subjects of four types and at least 10 relations', () => {
    expect(world.subjectCount).toBeGreaterThanOrEqual(1000);
    expect(new Set(subjects.map((s) => s.type))).toEqual(new Set(['person', 'place', 'organisation', 'product']));
    for (const s of subjects) expect(s.name.split(' ').length).toBeGreaterThanOrEqual(2);
    expect(new Set(world.facts.map((f) => f.relation)).size).toBeGreaterThanOrEqual(10);
    expect(new Set(subjects.map((s) => s.name)).size).toBe(world.subjectCount);
  });

  it('shares name words across people (subject tokens are not ids)', () => {
    const firsts = new Map<string, number>();
    for (const s of subjects.filter((x) => x.type === 'person')) firsts.set(s.name.split(' ')[0], (firsts.get(s.name.split(' ')[0]) ?? 0) + 1);
    expect(Math.max(...firsts.values())).toBeGreaterThanOrEqual(3);
  });

  it('shares every object of a subject relation among at least 3 subjects', () => {
    const sharing = objectSharing(world);
    for (const r of primary) expect(sharing[r].min).toBeGreaterThanOrEqual(3);
  });

  it('types every fact and gives multi-token objects a first word unique within their type', () => {
    for (const f of world.facts) {
      const spec = relationById(f.relation);
      expect(spec.subjectTypes).toContain(world.entities[f.subject].type);
      expect(world.entities[f.object].type).toBe(spec.objectType);
    }
    const objects = world.entities.slice(world.subjectCount);
    expect(objects.some((o) => o.name.includes(' '))).toBe(true);
    for (const type of new Set(objects.map((o) => o.type))) {
      const firsts = objects.filter((o) => o.type === type).map((o) => o.name.split(' ')[0]);
      expect(new Set(firsts).size).toBe(firsts.length);
    }
  });

  it('keeps one-hop facts consistent (place → city → country → continent; product → maker → country)', () => {
    for (const s of subjects) {
      if (s.type === 'place') {
        const country = index.object(index.object(s.id, 'P131')!, 'P17');
        expect(index.object(s.id, 'P17')).toBe(country);
        expect(index.object(s.id, 'P30')).toBe(index.object(country!, 'P30'));
      }
      if (s.type === 'product') {
        const hq = index.object(index.object(s.id, 'P176')!, 'P159')!;
        expect(index.object(s.id, 'P495')).toBe(index.object(hq, 'P17'));
      }
    }
    for (const c of world.entities.filter((e) => e.type === 'country')) {
      expect(index.object(index.object(c.id, 'P36')!, 'P17')).toBe(c.id);
      expect(index.object(c.id, 'P37')).toBeDefined();
    }
  });

  it('has a tiny sub-world with every subject relation and all background facts', () => {
    const tiny = tinyFacts(world);
    expect(new Set(tiny.filter((f) => f.subject < world.subjectCount).map((f) => f.subject)).size).toBe(DEFAULT_CONFIG.tinySubjects);
    expect(new Set(tiny.map((f) => f.relation))).toEqual(new Set(world.facts.map((f) => f.relation)));
    for (const f of tiny) expect(f.subject < DEFAULT_CONFIG.tinySubjects || f.subject >= world.subjectCount).toBe(true);
  });

  it('puts evalFraction of subjects in the eval split and validationFraction in the validation split, disjoint', () => {
    expect(world.evalSubjects.length).toBe(Math.round(world.subjectCount * DEFAULT_CONFIG.evalFraction));
    expect(new Set(world.evalSubjects).size).toBe(world.evalSubjects.length);
    // at least the fraction: a subject joins with every subject whose name contains its own or is contained in it
    expect(world.validationSubjects.length).toBeGreaterThanOrEqual(Math.round(world.subjectCount * DEFAULT_CONFIG.validationFraction));
    expect(world.validationSubjects.length).toBeLessThan(Math.round(world.subjectCount * DEFAULT_CONFIG.validationFraction) + 5);
    const evalSet = new Set(world.evalSubjects);
    for (const s of world.validationSubjects) expect(evalSet.has(s)).toBe(false);
    const index = new WorldIndex(world);
    expect(index.split(world.validationSubjects[0])).toBe('validation');
    expect(index.split(world.evalSubjects[0])).toBe('eval');
    expect(index.split(world.subjectCount)).toBeUndefined();
  });

  it('is deterministic and depends on the seed', () => {
    expect(generateWorld(SMALL_CONFIG)).toEqual(generateWorld(SMALL_CONFIG));
    expect(generateWorld({ ...SMALL_CONFIG, seed: 8 }).entities[0].name).not.toBe(generateWorld(SMALL_CONFIG).entities[0].name);
  });

  it('rejects an inconsistent config with the field name', () => {
    expect(() => generateWorld({ ...SMALL_CONFIG, cities: 2 })).toThrow(/config.cities/);
    expect(() => generateWorld({ ...SMALL_CONFIG, persons: 0 })).toThrow(/config.persons/);
    expect(() => generateWorld({ ...SMALL_CONFIG, validationFraction: 0.8 })).toThrow(/config.validationFraction/);
  });
});

describe('stratified', () => {
  it('gives every object at least min items and returns n items', () => {
    const out = stratified(new Rng(1), 50, 7, 4);
    expect(out).toHaveLength(50);
    for (let k = 0; k < 7; k++) expect(out.filter((x) => x === k).length).toBeGreaterThanOrEqual(4);
  });
});
