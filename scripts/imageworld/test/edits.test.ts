/**
 * The committed MMEdit edit sets: MMEdit's schema, readable images, suboptimal entries only, and
 * split hygiene — no eval image content (scene combination, flag or landmark) and no eval text of
 * four or more words in a train or val file, and no eval edit subject named there (the checks of
 * ../shared/tools/leak-check.mjs, plus contents, which only the manifest knows); and the phrasing
 * partition: each split's questions and prompts come from its own side of the phrasing lists, so
 * val records are worded as no train or eval record is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readPng } from '@medit/core';
import { MMEDIT_FIELDS, readMmedit } from '@medit/data';

import { evalSubjects } from '../edits';
import * as texts from '../texts';
import type { World } from '../world';

const DIR = path.join(__dirname, '../../../test-fixtures/imageworld/edits');
const world = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../test-fixtures/imageworld/world.json'), 'utf8')) as World;
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as { images: Record<string, { content: string; split: string }>; counts: Record<string, number> };
const files = fs.readdirSync(DIR).filter((f) => /^(vqa|caption)-(train|val|eval)\.json$/.test(f));
const records = (f: string) => JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as Record<string, string>[];

const strings = (x: unknown): string[] => (typeof x === 'string' ? [x] : Array.isArray(x) ? x.flatMap(strings) : x && typeof x === 'object' ? Object.values(x).flatMap(strings) : []);

test('six files in MMEdit schema, every record suboptimal (pred ≠ alt), counts as in the manifest', () => {
  expect(files.sort()).toEqual(['caption-eval.json', 'caption-train.json', 'caption-val.json', 'vqa-eval.json', 'vqa-train.json', 'vqa-val.json']);
  for (const f of files) {
    const recs = records(f);
    expect(recs.length).toBe(manifest.counts[f.replace('.json', '')]);
    for (const r of recs) {
      expect(Object.keys(r).sort()).toEqual([...MMEDIT_FIELDS].sort());
      expect(r.pred).not.toBe(r.alt);
    }
    expect(readMmedit(path.join(DIR, f)).skipped).toEqual([]);
  }
  expect(manifest.counts['vqa-eval']).toBeGreaterThanOrEqual(80);
  expect(manifest.counts['caption-eval']).toBeGreaterThanOrEqual(60);
});

test('images exist, are 48×48 PNGs, and each split shows only its own contents', () => {
  const split = (f: string) => f.split('-')[1].replace('.json', '');
  const contents: Record<string, Set<string>> = { train: new Set(), val: new Set(), eval: new Set() };
  for (const f of files) {
    for (const r of records(f)) {
      for (const key of ['image', 'image_rephrase', 'm_loc']) {
        const entry = manifest.images[r[key]];
        expect(entry?.split).toBe(split(f));
        contents[split(f)].add(entry.content);
      }
    }
  }
  const sample = Object.keys(manifest.images).slice(0, 5).map((p) => readPng(path.join(DIR, p)));
  for (const img of sample) expect([img.width, img.height]).toEqual([48, 48]);
  for (const other of ['train', 'val']) expect([...contents.eval].filter((c) => contents[other].has(c))).toEqual([]);
  // every eval content is an eval scene combination or an eval-group flag / landmark
  const evalNames = new Set([...world.nations.filter((n) => n.group === 'eval').map((n) => n.name), ...world.landmarks.filter((l) => l.group === 'eval').map((l) => l.name)]);
  const evalScenes = new Set(world.scenes.eval);
  for (const c of contents.eval) {
    const [kind, id] = c.split(':');
    expect(kind === 'scene' ? evalScenes.has(id) : evalNames.has(id)).toBe(true);
  }
});

test('no eval text of four or more words and no eval subject in a train or val file', () => {
  const trainText = new Set(files.filter((f) => !f.includes('eval')).flatMap((f) => strings(records(f))));
  const blob = [...trainText].join('\n');
  for (const f of files.filter((x) => x.includes('eval'))) {
    const texts = [...new Set(strings(records(f)).filter((s) => s.split(' ').length >= 4))];
    expect(texts.filter((s) => trainText.has(s))).toEqual([]);
  }
  const named = evalSubjects(world).filter((s) => new RegExp(`(^|[^\\w])${s}([^\\w]|$)`).test(blob));
  expect(named).toEqual([]);
});

test('each split is worded with its own phrasing side only: val phrasings are in no train or eval file', () => {
  const lists: texts.Phrasings[] = [...Object.values(texts.SCENE_QUESTIONS), texts.FLAG_QUESTIONS, texts.LANDMARK_NAME_QUESTIONS, texts.LANDMARK_TYPE_QUESTIONS, texts.CAPTION_PROMPTS];
  const factLists = [texts.CAPITAL_QUESTIONS, texts.LOCATION_QUESTIONS];
  const used: Record<string, Set<string>> = { train: new Set(), val: new Set(), eval: new Set() };
  for (const f of files) {
    const split = f.split('-')[1].replace('.json', '') as 'train' | 'val' | 'eval';
    const side = new Set(lists.flatMap((p) => p[split]));
    // a text fact is a side's template with a name in place of `{}`
    const facts = factLists.flatMap((p) => p[split]).map((t) => t.split('{}'));
    for (const r of records(f)) {
      for (const q of [r.src, r.rephrase, r.m_loc_q]) {
        expect([f, q, side.has(q)]).toEqual([f, q, true]);
        used[split].add(q);
      }
      const fact = facts.find(([pre, post]) => r.loc.startsWith(pre) && r.loc.endsWith(post));
      expect([f, r.loc, fact !== undefined]).toEqual([f, r.loc, true]);
      used[split].add(fact!.join('{}'));
    }
  }
  expect([...used.val].filter((q) => used.train.has(q) || used.eval.has(q))).toEqual([]);
  expect([...used.eval].filter((q) => used.train.has(q))).toEqual([]);
  expect(used.val.size).toBeGreaterThanOrEqual(10);
});
