/**
 * How well a vision-language model answers the image world: an example counts as answered when
 * the model's greedy continuation of the prompt is exactly the answer followed by end-of-text —
 * checked teacher-forced (every answer token and the EOS after it are the argmax), which is the
 * same thing in one forward pass.
 */
import { type CausalLM, type RgbImage, noGrad, rightPad, targetIds, tidy } from '@medit/core';

import { Rng } from '../factworld/prng';
import { render } from './render';
import {
  CAPTION_PROMPTS,
  FLAG_QUESTIONS,
  LANDMARK_NAME_QUESTIONS,
  LANDMARK_TYPE_QUESTIONS,
  SCENE_ATTRIBUTES,
  SCENE_QUESTIONS,
  allPhrasings,
  landmarkCaption,
  sceneAnswer,
  sceneCaption,
} from './texts';
import { type WorldExample, drawNameFact, drawQuestion, drawTextFact } from './examples';
import { type Split, type World, parseSceneKey } from './world';

/** Token ids of an example: prompt, then answer + EOS; `answerStart` = index of the answer's first token. */
export function encodeExample(model: CausalLM, e: Pick<WorldExample, 'prompt' | 'answer'>): { ids: number[]; answerStart: number } {
  const tok = model.tokenizer!;
  const prompt = tok.encode(e.prompt);
  return { ids: [...prompt, ...targetIds(tok, e.answer), model.config.eosTokenId ?? 0], answerStart: prompt.length };
}

/** Per example: whether the model answers it exactly (batched forward passes). */
export function answered(model: CausalLM, world: World, examples: readonly WorldExample[], batchSize = 64): boolean[] {
  const out: boolean[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const chunk = examples.slice(start, start + batchSize);
    const enc = chunk.map((e) => encodeExample(model, e));
    const images: (RgbImage | null)[] = chunk.map((e) => (e.content ? render(world, e.content, e.seed) : null));
    const { ids, mask } = rightPad(
      enc.map((e) => e.ids),
      model.config.eosTokenId ?? 0,
    );
    const T = ids[0].length;
    const pred = noGrad(() =>
      tidy(() => {
        const { logits } = model.forward(ids, { attentionMask: mask, images });
        const V = logits.shape[2];
        const d = logits.data() as Float32Array;
        return ids.map((_, b) =>
          Array.from({ length: T }, (_, t) => {
            let best = 0;
            for (let v = 1; v < V; v++) if (d[(b * T + t) * V + v] > d[(b * T + t) * V + best]) best = v;
            return best;
          }),
        );
      }),
    );
    enc.forEach((e, b) => {
      let ok = true;
      for (let j = e.answerStart; j < e.ids.length; j++) if (pred[b][j - 1] !== e.ids[j]) ok = false;
      out.push(ok);
    });
  }
  return out;
}

/** Fraction answered. */
export function accuracy(model: CausalLM, world: World, examples: readonly WorldExample[]): number {
  const ok = answered(model, world, examples);
  return ok.filter(Boolean).length / Math.max(ok.length, 1);
}

/** Check sets: a fixed sample of each kind of question, rendered with seeds no training batch draws from. */
export function checkSets(world: World, perSet = 400, seed = 9_000_001): Record<string, WorldExample[]> {
  const rng = new Rng(seed);
  const draw = (n: number, f: () => Omit<WorldExample, 'seed'>): WorldExample[] => Array.from({ length: n }, () => ({ ...f(), seed: 1_000_000_000 + rng.int(1_000_000_000) }));
  const scenesOf = (split: Split) => (): Omit<WorldExample, 'seed'> => {
    const s = parseSceneKey(rng.pick(world.scenes[split]));
    const a = rng.pick(SCENE_ATTRIBUTES);
    return { kind: 'scene-vqa', content: s, prompt: drawQuestion(rng, SCENE_QUESTIONS[a]), answer: sceneAnswer(s, a) };
  };
  const known = world.nations.filter((n) => n.flagKnown);
  const knownL = world.landmarks.filter((l) => l.known);
  const unknownL = world.landmarks.filter((l) => !l.known);
  const soleLandmarks = world.landmarks.filter((l) => world.landmarks.filter((m) => m.nation === l.nation).length === 1);
  return {
    'scene questions, eval split': draw(perSet * 2, scenesOf('eval')),
    'scene questions, val split': draw(perSet, scenesOf('val')),
    'scene questions, train split': draw(perSet, scenesOf('train')),
    'scene captions, eval split': draw(perSet, () => {
      const s = parseSceneKey(rng.pick(world.scenes.eval));
      return { kind: 'scene-caption', content: s, prompt: rng.pick(allPhrasings(CAPTION_PROMPTS)), answer: sceneCaption(s) };
    }),
    'known flags': draw(perSet, () => {
      const n = rng.pick(known);
      return { kind: 'flag-vqa', content: { kind: 'flag', nation: n.name }, prompt: drawQuestion(rng, FLAG_QUESTIONS), answer: n.name };
    }),
    'known landmarks': draw(perSet, () => {
      const l = rng.pick(knownL);
      return { kind: 'landmark-name', content: { kind: 'landmark', landmark: l.name }, prompt: drawQuestion(rng, LANDMARK_NAME_QUESTIONS), answer: l.name };
    }),
    'known landmark captions': draw(perSet, () => {
      const l = rng.pick(knownL);
      return { kind: 'landmark-caption', content: { kind: 'landmark', landmark: l.name }, prompt: rng.pick(allPhrasings(CAPTION_PROMPTS)), answer: landmarkCaption(l) };
    }),
    'landmark types, unknown landmarks': draw(perSet, () => {
      const l = rng.pick(unknownL);
      return { kind: 'landmark-type', content: { kind: 'landmark', landmark: l.name }, prompt: drawQuestion(rng, LANDMARK_TYPE_QUESTIONS), answer: l.type };
    }),
    'text facts': draw(perSet, () => {
      const f = drawTextFact(world, rng);
      return { kind: 'text-fact', content: null, prompt: f.question, answer: f.answer };
    }),
    // landmarks only of nations that have one, where the question has one answer
    'name facts': draw(perSet, () => {
      const f = drawNameFact(world, rng, soleLandmarks);
      return { kind: 'name-fact', content: null, prompt: f.question, answer: f.answer };
    }),
  };
}
