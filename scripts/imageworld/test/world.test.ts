/**
 * The image world: the committed world.json is what the generator makes; splits partition the
 * scene combinations and the named things; the three phrasing sides never share a text; renders
 * are deterministic; the tokenizer covers every text (the val phrasings too) without unknown tokens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Tokenizer } from '@medit/core';

import { TRAINING_MIX, trainingBatch, worldTexts } from '../examples';
import { render } from '../render';
import * as texts from '../texts';
import { DEFAULT_WORLD_CONFIG, SPLITS, type World, allSceneKeys, generateWorld, parseSceneKey, sceneKey } from '../world';

const DIR = path.join(__dirname, '../../../test-fixtures/imageworld');
const world = JSON.parse(fs.readFileSync(path.join(DIR, 'world.json'), 'utf8')) as World;

test('world.json is the generator output for the default config', () => {
  expect(generateWorld(DEFAULT_WORLD_CONFIG)).toEqual(world);
});

test('scene splits partition every combination', () => {
  const all = SPLITS.flatMap((s) => world.scenes[s]);
  expect(new Set(all).size).toBe(all.length);
  expect([...all].sort()).toEqual([...allSceneKeys()].sort());
  expect(world.scenes.eval.length).toBe(280);
  for (const k of all.slice(0, 50)) expect(sceneKey(parseSceneKey(k))).toBe(k);
});

test('names are unique, each thing in one group, half of each group known', () => {
  const names = [...world.nations.flatMap((n) => [n.name, n.capital]), ...world.landmarks.map((l) => l.name)];
  expect(new Set(names.map((n) => n.toLowerCase())).size).toBe(names.length);
  const flags = world.nations.map((n) => JSON.stringify(n.flag));
  expect(new Set(flags).size).toBe(flags.length);
  const looks = world.landmarks.map((l) => `${l.type}:${l.colours}`);
  expect(new Set(looks).size).toBe(looks.length);
  for (const g of SPLITS) {
    const ns = world.nations.filter((n) => n.group === g);
    expect(ns.filter((n) => n.flagKnown).length).toBe(Math.ceil(ns.length / 2));
    for (const l of world.landmarks.filter((x) => x.group === g)) expect(ns.map((n) => n.name)).toContain(l.nation);
  }
});

const PHRASING_LISTS: texts.Phrasings[] = [
  ...Object.values(texts.SCENE_QUESTIONS),
  texts.FLAG_QUESTIONS,
  texts.LANDMARK_NAME_QUESTIONS,
  texts.LANDMARK_TYPE_QUESTIONS,
  texts.CAPTION_PROMPTS,
  texts.CAPITAL_QUESTIONS,
  texts.LOCATION_QUESTIONS,
];

test('the train, val and eval phrasing sides share no text, and each has two phrasings or more', () => {
  const side = (s: 'train' | 'val' | 'eval') => PHRASING_LISTS.flatMap((p) => p[s]);
  const [train, val, evalSide] = [new Set(side('train')), new Set(side('val')), new Set(side('eval'))];
  expect([...val].filter((q) => train.has(q))).toEqual([]);
  expect([...evalSide].filter((q) => train.has(q) || val.has(q))).toEqual([]);
  expect(train.size + val.size + evalSide.size).toBe(side('train').length + side('val').length + side('eval').length);
  for (const p of PHRASING_LISTS) for (const s of ['train', 'val', 'eval'] as const) expect(p[s].length).toBeGreaterThanOrEqual(2);
});

test('the reverse name facts: every nation and landmark name is an answer of the training mix, in questions no edit record uses', () => {
  expect(Object.values(TRAINING_MIX).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  const reverse = [...texts.NATION_BY_CAPITAL_QUESTIONS, ...texts.LANDMARK_BY_NATION_QUESTIONS];
  const sides = new Set(PHRASING_LISTS.flatMap((p) => [...p.train, ...p.val, ...p.eval]));
  expect(reverse.filter((q) => sides.has(q))).toEqual([]);
  const answers = new Set<string>();
  // the first 2,000 of the 14,000 training batches (about 3,800 name facts over 520 names)
  for (let step = 0; step < 2000; step++) for (const e of trainingBatch(world, 1, step, 32)) if (e.kind === 'name-fact') answers.add(e.answer);
  const names = [...world.nations.map((n) => n.name), ...world.landmarks.map((l) => texts.landmarkTitle(l))];
  expect(names.filter((n) => !answers.has(n))).toEqual([]);
});

test('renders are deterministic per seed and differ across seeds', () => {
  const contents = [parseSceneKey(world.scenes.eval[0]), { kind: 'flag' as const, nation: world.nations[0].name }, { kind: 'landmark' as const, landmark: world.landmarks[0].name }];
  for (const c of contents) {
    const a = render(world, c, 5);
    expect(a.width).toBe(48);
    expect(Buffer.from(render(world, c, 5).data).equals(Buffer.from(a.data))).toBe(true);
    expect(Buffer.from(render(world, c, 6).data).equals(Buffer.from(a.data))).toBe(false);
  }
});

test('the tokenizer encodes every world text without unknown tokens', () => {
  const tok = Tokenizer.fromFile(path.join(DIR, 'tokenizer/tokenizer.json'));
  const unk = tok.unkTokenId!;
  const bad = worldTexts(world).filter((t) => tok.encode(t).includes(unk));
  expect(bad.slice(0, 5)).toEqual([]);
});

test('the val phrasings encode without unknown tokens, as prompts are used', () => {
  const tok = Tokenizer.fromFile(path.join(DIR, 'tokenizer/tokenizer.json'));
  const unk = tok.unkTokenId!;
  const filled = (q: string) => [q.replace('{}', world.nations[0].name), q.replace('{}', texts.landmarkTitle(world.landmarks[0]))];
  const prompts = PHRASING_LISTS.flatMap((p) => p.val).flatMap(filled);
  const bad = prompts.flatMap((q) => [q, ` ${q}`, texts.applyTemplate(q)]).filter((t) => tok.encode(t).includes(unk));
  expect(bad).toEqual([]);
});
