/**
 * Edit sets over fact-base: the real datasets' schemas (checked against the trimmed real samples
 * in test-fixtures/factworld/reference and read back by @medit/data; MQuAKE against its README's
 * format), split hygiene (a record names only subjects of its split; no eval text verbatim in a
 * train or validation record), 1,000+ eval edits on distinct subjects, and the answers predicate.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseDataset } from '@medit/data';

import { EDIT_SET_FILES, SPLITS, buildEditSets, type EditSets, type MquakeRecord } from '../edit-sets';
import { ALL_ANSWERED, DEFAULT_CONFIG, FactIndex, generateWorld, type SplitName } from '../world';
import { missingFrom, referenceRecords, shapesOf, stringsIn } from '../../factworld/test/records';

const PREVIEW = join(__dirname, '../../../test-fixtures/factbase/preview');

/** MQuAKE-CF's fields and value types (princeton-nlp/MQuAKE README, "Data format"). */
const MQUAKE_SHAPE = new Set([
  ':object', '.case_id:number', '.requested_rewrite:array', '.requested_rewrite[]:object',
  ...['prompt', 'relation_id', 'subject', 'question'].map((k) => `.requested_rewrite[].${k}:string`),
  ...['target_new', 'target_true'].flatMap((k) => [`.requested_rewrite[].${k}:object`, `.requested_rewrite[].${k}.str:string`, `.requested_rewrite[].${k}.id:string`]),
  '.questions:array', '.questions[]:string', '.answer:string', '.answer_alias:array', '.new_answer:string', '.new_answer_alias:array',
  ...['single_hops', 'new_single_hops'].flatMap((k) => [`.${k}:array`, `.${k}[]:object`, `.${k}[].question:string`, `.${k}[].cloze:string`, `.${k}[].answer:string`, `.${k}[].answer_alias:array`]),
  '.orig:object',
  ...['triples', 'triples_labeled', 'new_triples', 'new_triples_labeled', 'edit_triples'].flatMap((k) => [`.orig.${k}:array`, `.orig.${k}[]:array`, `.orig.${k}[][]:string`]),
]);

describe('edit sets over the default world (every fact answered)', () => {
  const world = generateWorld(DEFAULT_CONFIG);
  const index = new FactIndex(world);
  const sets = buildEditSets(world, { answers: ALL_ANSWERED });
  const all = <T>(s: Record<SplitName, T[]>) => SPLITS.flatMap((k) => s[k]);

  it('writes the real datasets\' fields and value types, which @medit/data reads back', () => {
    const realCf = shapesOf([...referenceRecords('counterfact_sample.json'), ...referenceRecords('counterfact_portability_200.json')]);
    expect(missingFrom(shapesOf(all(sets.counterfact)), realCf)).toEqual([]);
    expect(missingFrom(shapesOf(referenceRecords('counterfact_sample.json')), shapesOf(all(sets.counterfact)))).toEqual([]);
    expect(missingFrom(shapesOf(all(sets.zsre)), shapesOf(referenceRecords('zsre_sample.json')))).toEqual([]);
    expect(missingFrom(shapesOf(referenceRecords('zsre_sample.json')), shapesOf(all(sets.zsre)))).toEqual([]);
    expect(missingFrom(shapesOf(all(sets.knoweditZsre)), shapesOf(referenceRecords('knowedit_zsre_sample.json')))).toEqual([]);
    expect(missingFrom(shapesOf(all(sets.knoweditCounterfact)), shapesOf(referenceRecords('knowedit_wiki_counterfact_sample.json')))).toEqual([]);
    expect(shapesOf(all(sets.mquake))).toEqual(MQUAKE_SHAPE);
    for (const [key, format] of [['counterfact', 'counterfact'], ['zsre', 'zsre'], ['knoweditZsre', 'knowedit'], ['knoweditCounterfact', 'knowedit']] as const) {
      const ds = parseDataset(JSON.stringify(sets[key].eval), { file: `${key}-eval.json` });
      expect([key, ds.format, ds.cases.length, ds.skipped.length]).toEqual([key, format, sets[key].eval.length, 0]);
    }
  });

  it('gives at least 1,000 eval edits, each on a different subject, with new objects of the same type', () => {
    for (const split of SPLITS) {
      const subjects = sets.counterfact[split].map((r) => r.requested_rewrite.subject);
      expect(new Set(subjects).size).toBe(subjects.length);
    }
    expect(sets.counterfact.eval.length).toBeGreaterThanOrEqual(1000);
    for (const c of sets.cases) {
      expect(index.split(c.fact.subject)).toBe(c.split);
      expect(index.entity(c.targetNew).type).toBe(index.entity(c.fact.object).type);
      expect(index.name(c.targetNew).split(' ')[0]).not.toBe(index.name(c.fact.object).split(' ')[0]);
    }
    expect(sets.mquake.eval.length).toBeGreaterThan(500);
    expect(new Set(sets.mquake.eval.map((r) => r.orig.triples.length))).toEqual(new Set([2, 3, 4]));
  });

  it('names in a record only subjects of its split, and puts no eval text verbatim in a train or validation record', () => {
    // Subject-name words are unique to their subject, so a word names its subject.
    const owner = new Map<string, number>();
    for (const s of world.entities.slice(0, world.subjectCount)) for (const w of s.name.split(' ')) owner.set(w, s.id);
    for (const w of ['van', 'de', 'al', 'del', 'von', 'ter', 'da', 'el', 'and', 'Nova', 'Aero', 'Vista', 'Prime', 'Lux', 'Mini', 'Max', 'Pro', 'Zen', 'Solo', 'Duo', 'Flex']) owner.delete(w);
    for (const [key, stem] of EDIT_SET_FILES) {
      for (const split of SPLITS) {
        const named = new Set(stringsIn(sets[key][split]).flatMap((t) => t.match(/[A-Za-z]+/g) ?? []).filter((w) => owner.has(w)).map((w) => index.split(owner.get(w)!)));
        expect([stem, split, [...named]]).toEqual([stem, split, [split]]);
      }
      const evalTexts = new Set(stringsIn(sets[key].eval).filter((t) => t.split(' ').length >= 4 && !t.includes('{}')));
      const leaked = [...sets[key].train, ...sets[key].validation].flatMap((r) => stringsIn(r)).filter((t) => evalTexts.has(t));
      expect([stem, leaked]).toEqual([stem, []]);
    }
  });

  it('builds MQuAKE chains whose answers follow the facts before and after the edit', () => {
    const byName = new Map(world.entities.map((e) => [e.name, e.id]));
    for (const r of sets.mquake.eval.slice(0, 300) as MquakeRecord[]) {
      const rw = r.requested_rewrite[0];
      const walk = (first: string) => r.orig.triples_labeled.slice(1).reduce((at, _t, i) => index.name(index.object(byName.get(at)!, r.orig.triples[i + 1][1])!), first);
      expect(walk(rw.target_true.str)).toBe(r.answer);
      expect(walk(rw.target_new.str)).toBe(r.new_answer);
      expect(r.new_answer).not.toBe(r.answer);
      expect(r.single_hops.map((h) => h.answer)).toEqual(r.orig.triples_labeled.map((t) => t[2]));
      expect(r.new_single_hops.map((h) => h.answer)).toEqual(r.orig.new_triples_labeled.map((t) => t[2]));
      for (const q of r.questions) expect(q).toContain(rw.subject);
    }
  });

  it('matches the committed previews', () => {
    const preview: EditSets = buildEditSets(world, { answers: ALL_ANSWERED, maxCasesPerSplit: 10 });
    for (const [key, stem] of EDIT_SET_FILES) {
      for (const split of SPLITS) expect(JSON.parse(readFileSync(join(PREVIEW, `${stem}-${split}.json`), 'utf8'))).toEqual(JSON.parse(JSON.stringify(preview[key][split])));
    }
  });
});

test('uses only answered facts, for the edit and for every other prompt', () => {
  const world = generateWorld(DEFAULT_CONFIG);
  const index = new FactIndex(world);
  // A model that knows no citizenship and misses every 7th fact.
  const missed = new Set(world.facts.filter((f, i) => f.relation === 'P27' || i % 7 === 0).map((f) => `${f.subject}:${f.relation}`));
  const answers = (s: number, r: string) => !missed.has(`${s}:${r}`);
  const sets = buildEditSets(world, { answers });
  expect(sets.cases.length).toBeGreaterThan(2000);
  for (const c of sets.cases) expect(answers(c.fact.subject, c.fact.relation)).toBe(true);
  const entityOf = (qid: string) => Number(qid.slice(1)) - 100000;
  for (const r of SPLITS.flatMap((split) => sets.mquake[split])) {
    // Every fact of the chain before the edit, and every hop after the edited one, is answered.
    for (const t of [...r.orig.triples, ...r.orig.new_triples.slice(1)]) expect(answers(entityOf(t[0]), t[1])).toBe(true);
  }
  const owner = new Map<string, number>();
  for (const e of world.entities.slice(0, world.subjectCount)) owner.set(e.name.split(' ')[0], e.id);
  for (const r of SPLITS.flatMap((split) => sets.counterfact[split])) {
    for (const p of [...r.neighborhood_prompts, ...r.attribute_prompts]) {
      const subject = (p.match(/[A-Za-z]+/g) ?? []).map((w) => owner.get(w)).find((id) => id !== undefined)!;
      expect(answers(subject, r.requested_rewrite.relation_id)).toBe(true);
      expect(index.split(subject)).toBe(index.split(owner.get(r.requested_rewrite.subject.split(' ')[0])!));
    }
  }
});
