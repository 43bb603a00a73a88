import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateWorld, WorldIndex, SMALL_CONFIG, DEFAULT_CONFIG, containsName, type World } from '../world';
import { RELATIONS, HELDOUT_PREFIXES, relationById } from '../templates';
import { buildEditSets, editSetFiles, selectEditCases, type EditSets } from '../datasets';
import { ALL_ANSWERED, SPLITS, type AnswerPredicate } from '../edit-records';
import { answersFromKeys, loadWorld, readAnswers } from '../load';
import { missingFrom, referenceRecords, shapesOf, stringsIn } from './records';

const FIX = join(__dirname, '../../../test-fixtures');

describe('edit sets over the default world (every fact answered)', () => {
  const world = generateWorld(DEFAULT_CONFIG);
  const index = new WorldIndex(world);
  const sets = buildEditSets(world, { answers: ALL_ANSWERED, maxCasesPerSplit: 150 });
  const all = <T>(s: Record<(typeof SPLITS)[number], T[]>) => SPLITS.flatMap((k) => s[k]);

  it('produces records whose fields and value types match the real datasets', () => {
    const cf = all(sets.counterfact);
    expect(sets.counterfact.train).toHaveLength(150);
    expect(sets.counterfact.validation).toHaveLength(150);
    // eval: format 1's sample of 150, less the edits its split cannot hold
    expect(sets.counterfact.eval.length).toBeGreaterThan(100);
    expect(sets.counterfact.eval.length).toBeLessThanOrEqual(150);
    const realCf = shapesOf([...referenceRecords('counterfact_sample.json'), ...referenceRecords('counterfact_portability_200.json')]);
    expect(missingFrom(shapesOf(cf), realCf)).toEqual([]);
    expect(missingFrom(shapesOf(referenceRecords('counterfact_sample.json')), shapesOf(cf))).toEqual([]);

    const realZsre = shapesOf(referenceRecords('zsre_sample.json'));
    expect(missingFrom(shapesOf(all(sets.zsre)), realZsre)).toEqual([]);
    expect(missingFrom(realZsre, shapesOf(all(sets.zsre)))).toEqual([]);

    const ke = all(sets.knoweditZsre);
    expect(ke.length).toBeGreaterThan(50);
    const realKe = shapesOf(referenceRecords('knowedit_zsre_sample.json'));
    expect(missingFrom(shapesOf(ke), realKe)).toEqual([]);
    const keCf = all(sets.knoweditCounterfact);
    expect(missingFrom(shapesOf(keCf), shapesOf(referenceRecords('knowedit_wiki_counterfact_sample.json')))).toEqual([]);
    for (const r of ke) expect(Object.keys(r).sort()).toEqual(Object.keys(referenceRecords('knowedit_zsre_sample.json')[0] as object).sort());
  });

  it('picks a target_new of the same type that differs from target_true, and keeps splits disjoint by subject', () => {
    for (const c of sets.cases) {
      expect(c.targetNew).not.toBe(c.fact.object);
      expect(index.entity(c.targetNew).type).toBe(index.entity(c.fact.object).type);
      expect(index.name(c.targetNew).split(' ')[0]).not.toBe(index.name(c.fact.object).split(' ')[0]);
      expect(c.split).toBe(index.split(c.fact.subject));
    }
    const subjects = (rs: { requested_rewrite: { subject: string } }[]) => new Set(rs.map((r) => r.requested_rewrite.subject));
    const train = subjects(sets.counterfact.train);
    const validation = subjects(sets.counterfact.validation);
    for (const s of subjects(sets.counterfact.eval)) expect([s, train.has(s) || validation.has(s)]).toEqual([s, false]);
    for (const s of validation) expect([s, train.has(s)]).toEqual([s, false]);
    for (const r of all(sets.counterfact)) {
      expect(r.requested_rewrite.target_true.str).toBe(index.name(world.facts[r.pararel_idx].object));
      expect(r.requested_rewrite.target_new.id).not.toBe(r.requested_rewrite.target_true.id);
    }
  });

  it('fills CounterFact prompts from the right phrasings and subjects', () => {
    const nameToId = new Map(world.entities.map((e) => [e.name, e.id]));
    for (const r of all(sets.counterfact)) {
      const spec = relationById(r.requested_rewrite.relation_id);
      expect(spec.train).toContain(r.requested_rewrite.prompt);
      expect(r.paraphrase_prompts).toHaveLength(2);
      r.paraphrase_prompts.forEach((p, i) => {
        const prefix = HELDOUT_PREFIXES.find((h) => p.startsWith(`${h} `));
        expect(prefix).toBeDefined();
        expect(p.slice(prefix!.length + 1)).toBe(spec.heldout[i].replace('{}', r.requested_rewrite.subject));
      });
      expect(r.neighborhood_prompts).toHaveLength(10);
      expect(r.attribute_prompts).toHaveLength(10);
      expect(r.generation_prompts).toHaveLength(10);
      // Each neighbourhood prompt is another subject with the same true object; attribute prompts have target_new.
      const subjectOf = (prompt: string) => {
        for (const t of [...spec.train, ...spec.heldout]) {
          const [a, b] = t.split('{}');
          if (prompt.startsWith(a) && prompt.endsWith(b)) {
            const id = nameToId.get(prompt.slice(a.length, prompt.length - b.length));
            if (id !== undefined) return id;
          }
        }
        throw new Error(`prompt "${prompt}" matches no phrasing of ${spec.id}`);
      };
      const trueId = nameToId.get(r.requested_rewrite.target_true.str)!;
      const newId = nameToId.get(r.requested_rewrite.target_new.str)!;
      for (const p of r.neighborhood_prompts) expect(index.object(subjectOf(p), spec.id)).toBe(trueId);
      for (const p of r.attribute_prompts) expect(index.object(subjectOf(p), spec.id)).toBe(newId);
    }
  });

  it('derives portability answers from the new object (one hop) and locality from the same subject', () => {
    let checked = 0;
    for (const r of all(sets.knoweditCounterfact)) {
      const subject = world.entities.find((e) => e.name === r.subject)!.id;
      const newId = world.entities.find((e) => e.name === r.target_new)!.id;
      for (const p of r.portability.Reasoning) {
        const answers = RELATIONS.map((x) => index.object(newId, x.id)).filter((o) => o !== undefined).map((o) => index.name(o!));
        expect(answers).toContain(p.ground_truth);
        checked++;
      }
      for (const l of r.locality.Relation_Specificity) {
        expect(index.relationsOf(subject).map((rel) => index.name(index.object(subject, rel)!))).toContain(l.ground_truth);
      }
    }
    expect(checked).toBeGreaterThan(50);
    const p27 = all(sets.zsre).find((r) => r.portability?.['New Question'].startsWith('The official language of the country'));
    expect(p27).toBeDefined();
  });
});

/** Every string of every record of each split, joined. */
function splitTexts(sets: EditSets): Record<string, string> {
  return Object.fromEntries(SPLITS.map((k) => [k, stringsIn([sets.counterfact[k], sets.zsre[k], sets.knoweditZsre[k], sets.knoweditCounterfact[k]]).join('\n')]));
}

describe('split hygiene', () => {
  const world = generateWorld(DEFAULT_CONFIG);
  const index = new WorldIndex(world);
  const sets = buildEditSets(world, { answers: ALL_ANSWERED, maxCasesPerSplit: 150 });

  it('names in each split only that split\'s subjects (edited, neighbours, attributes, loc, objects)', () => {
    const texts = splitTexts(sets);
    for (const split of SPLITS) expect(texts[split].length).toBeGreaterThan(1000);
    for (let s = 0; s < world.subjectCount; s++) {
      const named = SPLITS.filter((k) => containsName(texts[k], index.name(s)));
      for (const k of named) expect([index.name(s), k]).toEqual([index.name(s), index.split(s)]);
    }
  });

  it('keeps subjects whose names contain one another in one split', () => {
    const names = world.entities.slice(0, world.subjectCount).map((e) => e.name);
    let pairs = 0;
    names.forEach((a, i) => names.forEach((b, j) => {
      if (i !== j && containsName(b, a)) {
        pairs++;
        expect([a, b, index.split(i)]).toEqual([a, b, index.split(j)]);
      }
    }));
    expect(pairs).toBeGreaterThan(0);
    expect(world.validationSubjects.length).toBeGreaterThanOrEqual(Math.round(world.subjectCount * DEFAULT_CONFIG.validationFraction));
  });

  it('keeps eval edits of format 1 with their ids in the case map', () => {
    const map = JSON.parse(editSetFiles(sets).get('case-map.json')!) as { eval: [number, number][] };
    const evalIds = new Set(sets.cases.filter((c) => c.split === 'eval').map((c) => c.caseId));
    expect(map.eval.length).toBeGreaterThan(evalIds.size * 0.6);
    for (const [now] of map.eval) expect(evalIds.has(now)).toBe(true);
    expect(new Set(map.eval.map(([, old]) => old)).size).toBe(map.eval.length);
  });
});

describe('committed edit sets', () => {
  it.each([
    ['edits', 'fact-small', undefined],
    ['edits-tiny', 'fact-tiny', true],
  ] as const)('%s is what build-edits.js builds from %s\'s answers (byte for byte)', (dir, model, tiny) => {
    const world = loadWorld(join(FIX, 'factworld/world.json'));
    const manifest = JSON.parse(readFileSync(join(FIX, 'factworld', dir, 'edits-manifest.json'), 'utf8'));
    expect(manifest.tiny).toBe(tiny === true);
    const files = editSetFiles(buildEditSets(world, {
      answers: readAnswers(join(FIX, 'models', model, 'answers.json'), world),
      subjects: tiny ? (s) => s < world.config.tinySubjects : undefined,
      maxCasesPerSplit: manifest.max,
    }));
    expect([...files.keys()].sort()).toEqual(Object.keys(manifest.sha256).sort());
    for (const [name, content] of files) {
      const sha = createHash('sha256').update(content).digest('hex');
      expect([name, sha]).toEqual([name, manifest.sha256[name]]);
      expect([name, createHash('sha256').update(readFileSync(join(FIX, 'factworld', dir, name))).digest('hex')]).toEqual([name, sha]);
    }
  });
});

describe('edit sets honour the answers predicate', () => {
  const world: World = generateWorld(SMALL_CONFIG);
  const index = new WorldIndex(world);
  // The model "fails" every fact of the subjects with odd ids and every P106 fact.
  const answers: AnswerPredicate = (s, r) => !(index.isSubject(s) && s % 2 === 1) && r !== 'P106';

  it('never uses an unanswered fact in a case or any prompt', () => {
    const sets = buildEditSets(world, { answers });
    expect(sets.cases.length).toBeGreaterThan(20);
    for (const c of sets.cases) expect(answers(c.fact.subject, c.fact.relation)).toBe(true);
    // People never occur as objects, so a failed person's name anywhere means an unanswered fact was
    // used. The name must stand alone (not be part of a longer three-word name).
    const failed = world.entities.filter((e) => e.type === 'person' && e.id % 2 === 1).map((e) => e.name);
    expect(failed.length).toBeGreaterThan(10);
    const text = JSON.stringify([sets.counterfact, sets.zsre, sets.knoweditZsre, sets.knoweditCounterfact]);
    for (const name of failed) expect([name, new RegExp(`(?<![A-Z][a-z]* )${name}(?! [A-Z])`).test(text)]).toEqual([name, false]);
    const answered = world.entities.find((e) => e.type === 'person' && e.id % 2 === 0 && sets.cases.some((c) => c.fact.subject === e.id))!;
    expect(new RegExp(`(?<![A-Z][a-z]* )${answered.name}(?! [A-Z])`).test(text)).toBe(true);
    expect(sets.cases.some((c) => c.fact.relation === 'P106')).toBe(false);
  });

  it('restricts edits to a sub-world and reads answer keys', () => {
    const keys = world.facts.filter((f) => f.subject < 10).map((f) => `${f.subject}:${f.relation}`);
    const cases = selectEditCases(world, { answers: ALL_ANSWERED, subjects: (s) => s < 10 });
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) expect(c.fact.subject).toBeLessThan(10);
    const pred = answersFromKeys(keys);
    expect(pred(0, world.facts.find((f) => f.subject === 0)!.relation)).toBe(true);
    expect(pred(10, 'P27')).toBe(false);
  });

  it('is deterministic', () => {
    expect(JSON.stringify(buildEditSets(world, { answers }))).toBe(JSON.stringify(buildEditSets(world, { answers })));
  });
});
