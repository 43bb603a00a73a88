/**
 * EDA word noise (word-noise.ts): each operation changes what it says and keeps the punctuation
 * in place, the vocabulary holds only the texts' lower-case words, and the scope classifier's and
 * counterfactual model's training read the noised queries (share 0 leaves their runs bit-identical).
 */
import * as path from 'node:path';

import type { RgbImage } from '@medit/core';
import { readDataset, type MmeditCase } from '@medit/data';

import { buildScopeTrainingSet, classifierTokenizer, contextPrefixes, makeRng, maybePerturbWords, perturbWords, textVocabulary, trainMultimodalCounterfactual, trainScopeClassifier } from '../src';
import { imageWorldTinyVlm } from '../../core/test-utils/tiny-vlm';

const ROOT = path.resolve(__dirname, '../../..');
const VOCAB = ['colour', 'picture', 'large'];

test('textVocabulary: the lower-case words of the texts, without names or punctuation', () => {
  expect(textVocabulary(['Whose flag is shown here?', 'Name the capital city of Hezork.', 'a photo of'])).toEqual(['a', 'capital', 'city', 'flag', 'here', 'is', 'of', 'photo', 'shown', 'the']);
});

test('perturbWords: one EDA operation per draw, words from the text or the vocabulary, the final "?" kept', () => {
  const text = 'What shape do you see here?';
  const words = ['What', 'shape', 'do', 'you', 'see', 'here'];
  const rng = makeRng(3);
  const kinds = new Set<string>();
  for (let k = 0; k < 200; k++) {
    const out = perturbWords(text, { rate: 0.1, vocabulary: VOCAB }, rng);
    expect(out.endsWith('?')).toBe(true);
    expect(out.slice(0, -1)).not.toMatch(/[?]/);
    const got = out.slice(0, -1).split(' ');
    for (const w of got) expect([...words, ...VOCAB]).toContain(w);
    // rate 0.1 of 6 words: exactly one operation
    if (got.length === 7) kinds.add('insert');
    else if (got.length === 5) {
      kinds.add('delete');
      expect(words.filter((w) => !got.includes(w))).toHaveLength(1);
    } else if (got.some((w) => VOCAB.includes(w))) {
      kinds.add('replace');
      expect(got.filter((w, i) => w !== words[i])).toHaveLength(1);
    } else if (got.join(' ') !== words.join(' ')) {
      kinds.add('swap');
      expect([...got].sort()).toEqual([...words].sort());
      expect(got.filter((w, i) => w !== words[i])).toHaveLength(2);
    }
  }
  expect(kinds).toEqual(new Set(['insert', 'delete', 'replace', 'swap']));
  // a larger rate changes more words
  const many = perturbWords('a b c d e f g h i j', { rate: 0.5, vocabulary: ['z'] }, makeRng(1));
  expect(many).not.toBe('a b c d e f g h i j');
  // deterministic for the generator's seed
  expect(perturbWords(text, { rate: 0.3, vocabulary: VOCAB }, makeRng(9))).toBe(perturbWords(text, { rate: 0.3, vocabulary: VOCAB }, makeRng(9)));
  expect(() => perturbWords(text, { rate: 1.5, vocabulary: VOCAB }, rng)).toThrow(/rate must be in \[0, 1\]/);
  expect(() => perturbWords(text, { rate: 0.1, vocabulary: [] }, rng)).toThrow(/vocabulary is empty/);
});

test('maybePerturbWords: share 0 neither changes the text nor draws', () => {
  const a = makeRng(4);
  const b = makeRng(4);
  expect(maybePerturbWords('a photo of', { share: 0, rate: 0.1, vocabulary: VOCAB }, a)).toBe('a photo of');
  expect(maybePerturbWords('a photo of', undefined, a)).toBe('a photo of');
  expect(a.next()).toBe(b.next());
  const noised = Array.from({ length: 50 }, () => maybePerturbWords('a photo of', { share: 1, rate: 0.1, vocabulary: VOCAB }, a));
  // a swap of a word with itself leaves the text as it was; the other draws change it
  expect(noised.filter((t) => t !== 'a photo of').length).toBeGreaterThan(30);
});

test('the scope classifier trains on noised queries; share 0 leaves its run bit-identical', () => {
  const tiny = path.join(ROOT, 'test-fixtures/models/fact-tiny');
  const cases = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-train.json')).cases;
  const edits = buildScopeTrainingSet(cases, 0);
  const tok = classifierTokenizer(tiny, { cls: '<|endoftext|>', sep: '<|endoftext|>' });
  const vocabulary = textVocabulary(cases.flatMap((c) => c.rephrasePrompts));
  const run = (share?: number) => {
    const t = trainScopeClassifier(tok, edits, contextPrefixes(cases), { kind: 'embedding', hiddenSize: 16, layers: 1, heads: 2, intermediateSize: 32, steps: 4, batchEdits: 2, ...(share === undefined ? {} : { queryNoise: { share, rate: 0.2, vocabulary } }) });
    t.bert.dispose();
    return t.history.map((h) => h.loss);
  };
  const plain = run();
  expect(run(0)).toEqual(plain);
  expect(run(1)).not.toEqual(plain);
});

test('the counterfactual model trains on noised statements and queries; share 0 leaves its run bit-identical', () => {
  const image: RgbImage = { width: 12, height: 12, data: new Uint8Array(12 * 12 * 3).map((_, i) => (i * 31) % 256) };
  const mm = (i: number, src: string, rephrase: string, alt: string): MmeditCase<RgbImage> => ({
    id: String(i),
    src,
    pred: 'red',
    alt,
    rephrase,
    image,
    imageRephrase: image,
    loc: 'What is the capital of Kesmira?',
    locAns: 'left',
    mLoc: image,
    mLocQ: 'How many shapes are there?',
    mLocA: 'three',
    cond: '',
    source: { file: 'train.json', index: i },
  });
  const cases = [mm(0, 'What colour are the shapes?', 'What is the colour of the shapes?', 'red'), mm(1, 'a photo of', 'an image of', 'one large red circle')];
  const vocabulary = textVocabulary(cases.flatMap((c) => [c.src, c.rephrase]));
  const run = (share?: number, which: 'query' | 'statement' = 'query') => {
    const model = imageWorldTinyVlm(7);
    const noise = { share: share ?? 0, rate: 0.3, vocabulary };
    const h = trainMultimodalCounterfactual(model, cases, { steps: 3, batchSize: 4, seed: 1, ...(share === undefined ? {} : which === 'query' ? { queryNoise: noise } : { statementNoise: noise }) });
    model.dispose();
    return h.map((x) => x.loss);
  };
  const plain = run();
  expect(run(0)).toEqual(plain);
  expect(run(0, 'statement')).toEqual(plain);
  expect(run(1)).not.toEqual(plain);
  expect(run(1, 'statement')).not.toEqual(plain);
  expect(run(1, 'statement')).not.toEqual(run(1));
});
