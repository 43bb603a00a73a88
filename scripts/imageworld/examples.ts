/**
 * What the vision-language model is trained and checked on: image + text examples (VQA answers,
 * captions after a caption prompt) and text-only facts, drawn from the parts of the world the
 * model may see — object scenes of the train split, known flags and landmarks (of every group),
 * and every nation's and landmark's text facts, also reversed (a nation named from its capital, a
 * landmark from its nation). Pictures of unknown flags and landmarks are never drawn: the model meets them
 * first in the edit sets.
 */
import { Rng } from '../factworld/prng';
import {
  CAPITAL_QUESTIONS,
  CAPTION_PROMPTS,
  FLAG_QUESTIONS,
  LANDMARK_BY_NATION_QUESTIONS,
  LANDMARK_NAME_QUESTIONS,
  LANDMARK_TYPE_QUESTIONS,
  LOCATION_QUESTIONS,
  NATION_BY_CAPITAL_QUESTIONS,
  SCENE_ATTRIBUTES,
  SCENE_QUESTIONS,
  type Phrasings,
  allPhrasings,
  applyTemplate,
  capitalFact,
  flagCaption,
  landmarkByNationFact,
  landmarkCaption,
  landmarkTitle,
  locationFact,
  nationByCapitalFact,
  sceneAnswer,
  sceneCaption,
} from './texts';
import { type Landmark, type SceneContent, type World, parseSceneKey } from './world';

/** One example: an image (content + render seed) or none, a prompt and the answer that follows it. */
export interface WorldExample {
  kind: ExampleKind;
  content: SceneContent | null;
  /** render seed of the image */
  seed: number;
  /** question (plain or in the VQA template), caption prompt, or text-only question */
  prompt: string;
  answer: string;
}

export type ExampleKind = 'scene-vqa' | 'scene-caption' | 'flag-vqa' | 'flag-caption' | 'landmark-name' | 'landmark-type' | 'landmark-caption' | 'text-fact' | 'name-fact';

/** Share of each kind in training batches. */
export const TRAINING_MIX: Readonly<Record<ExampleKind, number>> = {
  'scene-vqa': 0.38,
  'scene-caption': 0.11,
  'flag-vqa': 0.12,
  'flag-caption': 0.03,
  'landmark-name': 0.08,
  'landmark-type': 0.05,
  'landmark-caption': 0.06,
  'text-fact': 0.11,
  'name-fact': 0.06,
};

/** A question of `p` phrased plainly or, half of the time, in MMEdit's VQA template. */
export function drawQuestion(rng: Rng, p: Phrasings): string {
  return templated(rng, rng.pick(allPhrasings(p)));
}

function templated(rng: Rng, question: string): string {
  return rng.chance(0.5) ? applyTemplate(question) : question;
}

/** One training example of `kind`, drawn with `rng` (render seeds included). */
export function drawExample(world: World, kind: ExampleKind, rng: Rng): WorldExample {
  const seed = rng.int(2 ** 31);
  const knownFlags = world.nations.filter((n) => n.flagKnown);
  const knownLandmarks = world.landmarks.filter((l) => l.known);
  switch (kind) {
    case 'scene-vqa': {
      const scene = parseSceneKey(rng.pick(world.scenes.train));
      const a = rng.pick(SCENE_ATTRIBUTES);
      return { kind, content: scene, seed, prompt: drawQuestion(rng, SCENE_QUESTIONS[a]), answer: sceneAnswer(scene, a) };
    }
    case 'scene-caption': {
      const scene = parseSceneKey(rng.pick(world.scenes.train));
      return { kind, content: scene, seed, prompt: rng.pick(allPhrasings(CAPTION_PROMPTS)), answer: sceneCaption(scene) };
    }
    case 'flag-vqa': {
      const n = rng.pick(knownFlags);
      return { kind, content: { kind: 'flag', nation: n.name }, seed, prompt: drawQuestion(rng, FLAG_QUESTIONS), answer: n.name };
    }
    case 'flag-caption': {
      const n = rng.pick(knownFlags);
      return { kind, content: { kind: 'flag', nation: n.name }, seed, prompt: rng.pick(allPhrasings(CAPTION_PROMPTS)), answer: flagCaption(n) };
    }
    case 'landmark-name': {
      const l = rng.pick(knownLandmarks);
      return { kind, content: { kind: 'landmark', landmark: l.name }, seed, prompt: drawQuestion(rng, LANDMARK_NAME_QUESTIONS), answer: l.name };
    }
    case 'landmark-type': {
      const l = rng.pick(knownLandmarks);
      return { kind, content: { kind: 'landmark', landmark: l.name }, seed, prompt: drawQuestion(rng, LANDMARK_TYPE_QUESTIONS), answer: l.type };
    }
    case 'landmark-caption': {
      const l = rng.pick(knownLandmarks);
      return { kind, content: { kind: 'landmark', landmark: l.name }, seed, prompt: rng.pick(allPhrasings(CAPTION_PROMPTS)), answer: landmarkCaption(l) };
    }
    case 'text-fact': {
      const fact = drawTextFact(world, rng);
      return { kind, content: null, seed, prompt: templated(rng, fact.question), answer: fact.answer };
    }
    case 'name-fact': {
      const fact = drawNameFact(world, rng);
      return { kind, content: null, seed, prompt: templated(rng, fact.question), answer: fact.answer };
    }
  }
}

/** A text-only fact: a nation's capital (60 %) or where a landmark stands. */
export function drawTextFact(world: World, rng: Rng): { question: string; answer: string } {
  return rng.chance(0.6) ? capitalFact(rng.pick(world.nations), rng.pick(allPhrasings(CAPITAL_QUESTIONS))) : locationFact(rng.pick(world.landmarks), rng.pick(allPhrasings(LOCATION_QUESTIONS)));
}

/** A name fact: a nation from its capital (50 %) or a landmark of `landmarks` from its nation. */
export function drawNameFact(world: World, rng: Rng, landmarks: readonly Landmark[] = world.landmarks): { question: string; answer: string } {
  return rng.chance(0.5) ? nationByCapitalFact(rng.pick(world.nations), rng.pick(NATION_BY_CAPITAL_QUESTIONS)) : landmarkByNationFact(rng.pick(landmarks), rng.pick(LANDMARK_BY_NATION_QUESTIONS));
}

/** A training batch: a pure function of (seed, step), so training resumes bit for bit. */
export function trainingBatch(world: World, seed: number, step: number, size: number): WorldExample[] {
  const rng = new Rng((Math.imul(seed, 1_000_003) + Math.imul(step, 7919)) >>> 0);
  const kinds = Object.keys(TRAINING_MIX) as ExampleKind[];
  return Array.from({ length: size }, () => {
    let r = rng.next();
    const kind = kinds.find((k) => (r -= TRAINING_MIX[k]) < 0) ?? 'text-fact';
    return drawExample(world, kind, rng);
  });
}

/**
 * Every text the world can produce, for the vocabulary: prompts as they start a sequence, after a
 * space (in-context prefixes) and in the VQA template; answers and names after a space, as they
 * always follow a prompt.
 */
export function worldTexts(world: World): string[] {
  const out: string[] = [];
  const prompt = (t: string) => out.push(t, ` ${t}`, applyTemplate(t));
  const answer = (t: string) => out.push(` ${t}`);
  for (const a of SCENE_ATTRIBUTES) allPhrasings(SCENE_QUESTIONS[a]).forEach(prompt);
  for (const key of [...world.scenes.train, ...world.scenes.val, ...world.scenes.eval]) {
    const s = parseSceneKey(key);
    answer(sceneCaption(s));
    SCENE_ATTRIBUTES.forEach((a) => answer(sceneAnswer(s, a)));
  }
  [FLAG_QUESTIONS, LANDMARK_NAME_QUESTIONS, LANDMARK_TYPE_QUESTIONS, CAPTION_PROMPTS].forEach((p) => allPhrasings(p).forEach(prompt));
  for (const n of world.nations) {
    [n.name, n.capital, flagCaption(n)].forEach(answer);
    allPhrasings(CAPITAL_QUESTIONS).forEach((q) => prompt(capitalFact(n, q).question));
    NATION_BY_CAPITAL_QUESTIONS.forEach((q) => prompt(nationByCapitalFact(n, q).question));
    LANDMARK_BY_NATION_QUESTIONS.forEach((q) => prompt(q.replace('{}', n.name)));
  }
  for (const l of world.landmarks) {
    [l.name, l.type, landmarkCaption(l), landmarkTitle(l)].forEach(answer);
    allPhrasings(LOCATION_QUESTIONS).forEach((q) => prompt(locationFact(l, q).question));
  }
  return out;
}
