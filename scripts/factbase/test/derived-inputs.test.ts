/**
 * fact-base's derived inputs on the small world: written when missing (and only then), the
 * covariance text and the Reference Score's references name train-split subjects only, the KL
 * texts are the filler's first lines, and the snippets are keyed like fact-base's CounterFact
 * records (relation id, target id) so that every eval record's new object can find its references.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { worldToJson, buildFiller } from '../build';
import { KL_TEXT_LINES, attributeSnippets, ensureDerivedInputs, statsCorpus } from '../derived-inputs';
import { buildEditSets } from '../edit-sets';
import { ALL_ANSWERED, FactIndex, SMALL_CONFIG, generateWorld } from '../world';

const world = generateWorld(SMALL_CONFIG);
const filler = buildFiller(world, 300);
const index = new FactIndex(world);

/** The splits of the subjects a text names (by their first name word, which no other entity uses). */
function splitsNamed(texts: readonly string[]): Set<string> {
  const owner = new Map(world.entities.slice(0, world.subjectCount).map((e) => [e.name.split(' ')[0], e.id]));
  return new Set(texts.flatMap((t) => t.match(/[A-Za-z]+/g) ?? []).filter((w) => owner.has(w)).map((w) => index.split(owner.get(w)!)));
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'factbase-derived-'));
  fs.mkdirSync(path.join(tmp, 'factbase'));
  fs.writeFileSync(path.join(tmp, 'factbase/world.json'), worldToJson(world));
  fs.writeFileSync(path.join(tmp, 'factbase/filler.txt'), filler.join('\n') + '\n');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the covariance text names train-split subjects only', () => {
  const docs = statsCorpus(world, filler).trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
  expect(docs.length).toBeGreaterThan(filler.length);
  expect([...splitsNamed(docs)]).toEqual(['train']);
});

test('the snippets: train-split subjects only, keyed as the CounterFact records are', () => {
  const snippets = attributeSnippets(world);
  expect([...splitsNamed(snippets.flatMap((s) => s.samples.map((x) => x.text)))]).toEqual(['train']);
  for (const s of snippets) expect(s.samples.length).toBeGreaterThan(0);
  const keys = new Set(snippets.map((s) => `${s.relation_id} ${s.target_id}`));
  const cases = buildEditSets(world, { answers: ALL_ANSWERED }).counterfact.eval;
  const found = cases.filter((c) => keys.has(`${c.requested_rewrite.relation_id} ${c.requested_rewrite.target_new.id}`));
  // every new object is held by a subject of the eval split, and nearly always by a train one too
  expect(found.length / cases.length).toBeGreaterThan(0.9);
});

test('ensureDerivedInputs writes the missing files only', () => {
  const files = { statsCorpus: 'work/stats.jsonl', klTexts: 'work/kl.txt', snippets: 'work/snippets.json' };
  expect(ensureDerivedInputs(tmp, 'factbase', files).sort()).toEqual(['klTexts', 'snippets', 'statsCorpus']);
  const kl = fs.readFileSync(path.join(tmp, files.klTexts), 'utf8').trim().split('\n');
  expect(kl).toEqual(filler.slice(0, KL_TEXT_LINES));
  expect(splitsNamed(kl).size).toBe(0);
  expect(fs.readFileSync(path.join(tmp, files.statsCorpus), 'utf8')).toBe(statsCorpus(world, filler));
  expect(JSON.parse(fs.readFileSync(path.join(tmp, files.snippets), 'utf8'))).toEqual(attributeSnippets(world));
  expect(ensureDerivedInputs(tmp, 'factbase', files)).toEqual([]);
  fs.rmSync(path.join(tmp, files.klTexts));
  expect(ensureDerivedInputs(tmp, 'factbase', files)).toEqual(['klTexts']);
  expect(() => ensureDerivedInputs(tmp, 'nowhere', { klTexts: 'work/other.txt' })).toThrow(/nowhere\/world\.json/);
});
