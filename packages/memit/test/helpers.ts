/**
 * Shared fixtures for the memit tests: the HF parity model (gpt2-trained-wordlevel: 2 layers,
 * d_model 64, d_ff 256, word-level vocabulary of 284 words) and facts it recalls (checked by
 * greedy decoding), plus a small statistics corpus written in its own vocabulary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, type Corpus, type EditRequest, type LayerStats, corpusFromTexts, loadModel, logSoftmax, noGrad, targetIds, tidy } from '@medit/core';

import { type NullSpace, nullSpace } from '../src';

export const PARITY = path.resolve(__dirname, '../../../test-fixtures/parity');

export function loadParityModel(): Promise<CausalLM> {
  return loadModel(path.join(PARITY, 'gpt2-trained-wordlevel'));
}

/** [subject, prompt template, true object] the parity model completes greedily. */
export const FACTS: [string, string, string][] = [
  ['Eiffel Tower', 'The {} is located in', 'Paris'],
  ['Colosseum', 'The {} is located in', 'Rome'],
  ['Big Ben', 'The {} is located in', 'London'],
  ['Prado Museum', 'The {} is located in', 'Madrid'],
  ['Hofburg Palace', 'The {} is located in', 'Vienna'],
  ['Danielle Darrieux', '{} is a citizen of', 'France'],
  ['Akira Kurosawa', '{} is a citizen of', 'Japan'],
  ['Pablo Picasso', '{} is a citizen of', 'Spain'],
  ['Frida Kahlo', '{} is a citizen of', 'Mexico'],
  ['Marie Curie', '{} is a citizen of', 'Poland'],
  ['Nikola Tesla', '{} is a citizen of', 'Serbia'],
  ['Ada Lovelace', '{} is a citizen of', 'England'],
  ['Toyota', '{} makes', 'cars'],
  ['Nokia', '{} makes', 'phones'],
  ['Sony', '{} makes', 'televisions'],
  ['Ikea', 'The headquarters of {} is in', 'Sweden'],
  ['Miles Davis', '{} plays the', 'trumpet'],
  ['Toko Yasuda', '{} plays the', 'guitar'],
];

/** Counterfactual requests: each subject gets another object of its relation. */
export function counterfacts(indices: number[]): EditRequest[] {
  return indices.map((i) => {
    const [subject, prompt, truth] = FACTS[i];
    const pool = FACTS.filter((f) => f[1] === prompt && f[2] !== truth).map((f) => f[2]);
    return { prompt, subject, targetNew: pool[i % pool.length], targetTrue: truth };
  });
}

/** Sentences in the model's vocabulary (facts, weather, travel) for the key statistics C. */
export function statsCorpus(): Corpus {
  const docs: string[] = [];
  const fillers = [
    'The weather was cold in the morning.',
    'The train arrived late because of snow.',
    'The students read about history and science.',
    'People visit the old museum every year.',
    'The crowd played a song in the evening.',
    'She wrote a long letter to her friend.',
    'The team won the final match of the season.',
    'The river flows through the old city.',
  ];
  for (const [s, p, o] of FACTS) {
    docs.push(`${p.replace('{}', s)} ${o}.`);
    docs.push(`${fillers[docs.length % fillers.length]} ${p.replace('{}', s)} ${o}.`);
    docs.push(`${p.replace('{}', s)} ${o}. ${fillers[(docs.length * 3) % fillers.length]}`);
  }
  for (const f of fillers) docs.push(f);
  return corpusFromTexts(docs, 'memit-test-corpus');
}

/** Mean log P(target tokens | prompt) per token (teacher-forced), as CounterFact's test does. */
export function targetLogProb(model: CausalLM, prompt: string, target: string): number {
  const tok = model.tokenizer!;
  const p = tok.encode(prompt);
  const t = targetIds(tok, target);
  const ids = [...p, ...t];
  return noGrad(() =>
    tidy(() => {
      const { logits } = model.forward([ids]);
      const V = logits.shape[2];
      const lp = logSoftmax(logits).data() as Float32Array;
      let s = 0;
      t.forEach((y, j) => (s += lp[(p.length - 1 + j) * V + y]));
      return s / t.length;
    }),
  );
}

/** Whether greedy decoding of the first target token after `prompt` gives `target`'s first token. */
export function argmaxIs(model: CausalLM, prompt: string, target: string): boolean {
  const tok = model.tokenizer!;
  const p = tok.encode(prompt);
  const t = targetIds(tok, target);
  return noGrad(() =>
    tidy(() => {
      const { logits } = model.forward([p], { logitsAt: [p.length - 1] });
      const row = logits.data() as Float32Array;
      let best = 0;
      for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
      return best === t[0];
    }),
  );
}

export const MICRO = path.resolve(__dirname, '../../../test-fixtures/memit/micro-facts');

/** One fact of the micro-facts model (test-fixtures/memit/micro-facts/facts.json). */
export interface MicroFact {
  subject: string;
  relation: string;
  object: string;
  /** the model completes `prompt` with `object` (greedy first token) */
  answered: boolean;
  prompt: string;
  heldout: string[];
}

export function microFacts(): MicroFact[] {
  return JSON.parse(fs.readFileSync(path.join(MICRO, 'facts.json'), 'utf8'));
}

/** The first 400 lines of the fact world's filler text (no facts): the statistics corpus. */
export function fillerCorpus(lines = 400): Corpus {
  const text = fs.readFileSync(path.resolve(__dirname, '../../../test-fixtures/factworld/filler.txt'), 'utf8');
  return corpusFromTexts(text.split('\n').filter((l) => l.trim()).slice(0, lines), `filler.txt[0:${lines}]`);
}

/**
 * Counterfactual requests on answered facts of `relation`: the object moves to the next
 * other object of that relation (a different first word), cycling.
 */
export function microRequests(facts: MicroFact[], relation: string, count: number, offset = 0): (EditRequest & { fact: MicroFact })[] {
  const pool = facts.filter((f) => f.relation === relation && f.answered);
  const objects = [...new Set(facts.filter((f) => f.relation === relation).map((f) => f.object))];
  return pool.slice(offset, offset + count).map((f, i) => {
    const others = objects.filter((o) => o.split(' ')[0] !== f.object.split(' ')[0]);
    return { prompt: f.prompt, subject: f.subject, targetNew: others[(offset + i * 3) % others.length], targetTrue: f.object, fact: f };
  });
}

/** AlphaEdit's null space of C at each of `layers` (the caller disposes each `basis`). */
export function nullSpacesOf(stats: Map<number, LayerStats>, layers: number[], threshold: number): Map<number, NullSpace> {
  return new Map(
    layers.map((l) => {
      const c = stats.get(l)!.mean();
      const ns = nullSpace(c, threshold);
      c.dispose();
      return [l, ns];
    }),
  );
}
