/**
 * MMEdit edit sets over the image world (Cheng et al., EMNLP 2023; specs/meta-and-memory.md §8.5),
 * in MMEdit's record schema `{src, pred, alt, rephrase, image, image_rephrase, loc, loc_ans, m_loc,
 * m_loc_q, m_loc_a}`, built as MMEdit built E-VQA and E-IC: from the model's *suboptimal* answers.
 *
 * - E-VQA: flags of unknown nations (the model never saw them: it names another nation) asked
 *   "which nation…", and object-scene questions the model answers wrongly.
 * - E-IC: pictures of unknown landmarks after a caption prompt (the model names another
 *   landmark), and object scenes whose caption the model gets wrong.
 *   Wrongly answered scenes are kept up to half as many as the flag / landmark records.
 * - `pred` is the model's greedy answer, `alt` the world's; only records with pred ≠ alt are kept.
 * - `src` and `rephrase`: two phrasings of the split's own side (texts.ts: the train, val and
 *   eval sides are disjoint, so val records, like eval's, are worded as no train record is);
 *   `image_rephrase`: the same content rendered with another seed (position, size, colour jitter, background noise) — the role MMEdit's
 *   diffusion images play.
 * - `loc` / `loc_ans`: a text-only fact of the split's group (capital or landmark location);
 *   `m_loc` / `m_loc_q` / `m_loc_a`: an image + question of the split's locality pool (object
 *   scenes of the split, known flags and landmarks of its group), stored without the VQA template
 *   (the harness applies it).
 *
 * Split hygiene: a split's records draw only on its scene combinations and its group of nations
 * and landmarks, and on its own side of the phrasings; train and val records that would contain an
 * eval text (of four words or more) or name an eval record's answer are dropped.
 */
import { Rng } from '../factworld/prng';
import type { WorldExample } from './examples';
import {
  CAPITAL_QUESTIONS,
  CAPTION_PROMPTS,
  FLAG_QUESTIONS,
  LANDMARK_NAME_QUESTIONS,
  LANDMARK_TYPE_QUESTIONS,
  LOCATION_QUESTIONS,
  SCENE_ATTRIBUTES,
  SCENE_QUESTIONS,
  type Phrasings,
  capitalFact,
  landmarkCaption,
  locationFact,
  sceneAnswer,
  sceneCaption,
} from './texts';
import { type SceneContent, type Split, type World, parseSceneKey, sceneKey } from './world';

/** An MMEdit record with its images still as (content, seed) — the builder renders and names them. */
export interface DraftRecord {
  task: 'vqa' | 'caption';
  src: string;
  pred: string;
  alt: string;
  rephrase: string;
  image: { content: SceneContent; seed: number };
  imageRephrase: { content: SceneContent; seed: number };
  loc: string;
  locAns: string;
  mLoc: { content: SceneContent; seed: number };
  mLocQ: string;
  mLocA: string;
}

/** Greedy answers of the model for examples (image + prompt), in order. */
export type Predict = (examples: readonly Omit<WorldExample, 'kind'>[]) => string[];

/** Records per unknown flag / landmark, per split. */
const PER_THING: Record<Split, number> = { train: 3, val: 2, eval: 2 };
/** Scene questions (and captions) sampled per split to find the model's wrong answers. */
const SCENE_PROBES: Record<Split, number> = { train: 600, val: 300, eval: 600 };
/** Wrongly answered scenes kept per split, at most this share of the flag / landmark records (they would swamp E-IC). */
const SCENE_SHARE = 0.5;

/** A stable key of an image's content (for the split manifest). */
export function contentKey(c: SceneContent): string {
  if (c.kind === 'objects') return `scene:${sceneKey(c)}`;
  return c.kind === 'flag' ? `flag:${c.nation}` : `landmark:${c.landmark}`;
}

/** Two different phrasings of a split's side, by index. */
function twoOf(p: Phrasings, split: Split, k: number): [string, string] {
  const list = p[split];
  return [list[k % list.length], list[(k + 1) % list.length]];
}

/** The split's locality pools: text facts, and image + question + answer. */
function localityPools(world: World, split: Split, rng: Rng) {
  const nations = world.nations.filter((n) => n.group === split);
  const landmarks = world.landmarks.filter((l) => l.group === split);
  const text = () => (rng.chance(0.6) ? capitalFact(rng.pick(nations), rng.pick(CAPITAL_QUESTIONS[split])) : locationFact(rng.pick(landmarks), rng.pick(LOCATION_QUESTIONS[split])));
  const knownFlags = nations.filter((n) => n.flagKnown);
  const knownLandmarks = landmarks.filter((l) => l.known);
  const image = (): { content: SceneContent; q: string; a: string } => {
    const r = rng.next();
    if (r < 0.6) {
      const s = parseSceneKey(rng.pick(world.scenes[split]));
      const a = rng.pick(SCENE_ATTRIBUTES);
      return { content: s, q: rng.pick(SCENE_QUESTIONS[a][split]), a: sceneAnswer(s, a) };
    }
    if (r < 0.75) {
      const n = rng.pick(knownFlags);
      return { content: { kind: 'flag', nation: n.name }, q: rng.pick(FLAG_QUESTIONS[split]), a: n.name };
    }
    const l = rng.pick(knownLandmarks);
    return rng.chance(0.5) ? { content: { kind: 'landmark', landmark: l.name }, q: rng.pick(LANDMARK_NAME_QUESTIONS[split]), a: l.name } : { content: { kind: 'landmark', landmark: l.name }, q: rng.pick(LANDMARK_TYPE_QUESTIONS[split]), a: l.type };
  };
  return { text, image };
}

/** Candidate edits (before predictions) of one split and task. */
function candidates(world: World, split: Split, task: 'vqa' | 'caption', rng: Rng): Omit<DraftRecord, 'pred' | 'loc' | 'locAns' | 'mLoc' | 'mLocQ' | 'mLocA'>[] {
  const seed = () => rng.int(2 ** 31);
  const out: ReturnType<typeof candidates> = [];
  const things = task === 'vqa' ? world.nations.filter((n) => n.group === split && !n.flagKnown).map((n) => ({ content: { kind: 'flag', nation: n.name } as SceneContent, alt: n.name })) : world.landmarks.filter((l) => l.group === split && !l.known).map((l) => ({ content: { kind: 'landmark', landmark: l.name } as SceneContent, alt: landmarkCaption(l) }));
  things.forEach((t, i) => {
    for (let k = 0; k < PER_THING[split]; k++) {
      const [src, rephrase] = twoOf(task === 'vqa' ? FLAG_QUESTIONS : CAPTION_PROMPTS, split, i + k);
      out.push({ task, src, rephrase, alt: t.alt, image: { content: t.content, seed: seed() }, imageRephrase: { content: t.content, seed: seed() } });
    }
  });
  for (let k = 0; k < SCENE_PROBES[split]; k++) {
    const s = parseSceneKey(rng.pick(world.scenes[split]));
    if (task === 'vqa') {
      const a = rng.pick(SCENE_ATTRIBUTES);
      const [src, rephrase] = twoOf(SCENE_QUESTIONS[a], split, rng.int(SCENE_QUESTIONS[a][split].length));
      out.push({ task, src, rephrase, alt: sceneAnswer(s, a), image: { content: s, seed: seed() }, imageRephrase: { content: s, seed: seed() } });
    } else {
      const [src, rephrase] = twoOf(CAPTION_PROMPTS, split, rng.int(CAPTION_PROMPTS[split].length));
      out.push({ task, src, rephrase, alt: sceneCaption(s), image: { content: s, seed: seed() }, imageRephrase: { content: s, seed: seed() } });
    }
  }
  return out;
}

/**
 * The records of one split and task: candidates whose greedy prediction differs from the answer,
 * each with its text and multimodal locality inputs. Deterministic for (world, split, task, seed,
 * predictions).
 */
export function buildSplit(world: World, split: Split, task: 'vqa' | 'caption', predict: Predict, seed: number): DraftRecord[] {
  const rng = new Rng((seed * 31 + SPLITS_ORDER.indexOf(split) * 7 + (task === 'vqa' ? 1 : 2)) >>> 0);
  const cands = candidates(world, split, task, rng);
  const preds = predict(cands.map((c) => ({ content: c.image.content, seed: c.image.seed, prompt: c.src, answer: c.alt })));
  const pools = localityPools(world, split, rng);
  const out: DraftRecord[] = [];
  const named = cands.filter((c) => c.image.content.kind !== 'objects').length;
  let scenes = 0;
  cands.forEach((c, i) => {
    const pred = preds[i].trim();
    if (pred === c.alt) return;
    if (c.image.content.kind === 'objects' && ++scenes > Math.floor(named * SCENE_SHARE)) return;
    const loc = pools.text();
    const m = pools.image();
    out.push({ ...c, pred, loc: loc.question, locAns: loc.answer, mLoc: { content: m.content, seed: rng.int(2 ** 31) }, mLocQ: m.q, mLocA: m.a });
  });
  return out;
}

const SPLITS_ORDER: readonly Split[] = ['train', 'val', 'eval'];

/** Strings of four or more words (the leak check's unit) and the answers of records. */
export function recordTexts(r: DraftRecord): string[] {
  return [r.src, r.pred, r.alt, r.rephrase, r.loc, r.locAns, r.mLocQ, r.mLocA];
}

/** The eval split's edit subjects: its unknown nations and landmarks (what eval records edit). */
export function evalSubjects(world: World): string[] {
  return [...world.nations.filter((n) => n.group === 'eval' && !n.flagKnown).map((n) => n.name), ...world.landmarks.filter((l) => l.group === 'eval' && !l.known).map((l) => l.name)];
}

/**
 * Drops train/val records that contain an eval text of four or more words or name an eval
 * subject (a model's wrong guess may be anything it knows); returns the kept records and how
 * many were dropped.
 */
export function withoutEvalLeaks(records: readonly DraftRecord[], evalRecords: readonly DraftRecord[], subjects: readonly string[]): { kept: DraftRecord[]; dropped: number } {
  const long = new Set(evalRecords.flatMap(recordTexts).filter((t) => t.split(' ').length >= 4));
  const named = new RegExp(`(^|[^\\w])(${subjects.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})([^\\w]|$)`);
  const kept = records.filter((r) => !recordTexts(r).some((t) => long.has(t) || (subjects.length > 0 && named.test(t))));
  return { kept, dropped: records.length - kept.length };
}
