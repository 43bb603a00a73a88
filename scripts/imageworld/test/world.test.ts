/**
 * The image world: the committed world.json is what the generator makes; splits partition the
 * scene combinations and the named things; the two phrasing sides never share a text; renders
 * are deterministic; the tokenizer covers every text without unknown tokens.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Tokenizer } from '@medit/core';

import { worldTexts } from '../examples';
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

test('train and eval phrasing sides share no text', () => {
  const lists: texts.Phrasings[] = [
    ...Object.values(texts.SCENE_QUESTIONS),
    texts.FLAG_QUESTIONS,
    texts.LANDMARK_NAME_QUESTIONS,
    texts.LANDMARK_TYPE_QUESTIONS,
    texts.CAPTION_PROMPTS,
    texts.CAPITAL_QUESTIONS,
    texts.LOCATION_QUESTIONS,
  ];
  const train = new Set(lists.flatMap((p) => p.train));
  const evalSide = lists.flatMap((p) => p.eval);
  expect(evalSide.filter((q) => train.has(q))).toEqual([]);
  expect(new Set([...train, ...evalSide]).size).toBe(train.size + evalSide.length);
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
