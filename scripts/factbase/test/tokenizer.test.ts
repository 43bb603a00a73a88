/**
 * The fact-base BPE tokenizer: the trainer's merges on a hand-checked corpus, identical ids from
 * the trainer's own encoder, medit's core tokenizer and Hugging Face's tokenizers.js on the
 * committed corpus sample and held-out texts, and subject names whose first and last tokens are
 * their own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '@medit/core';

import { BpeEncoder, EOS_TOKEN, bpeTokenizerJson, trainBpe } from '../bpe';
import { evalTexts, sharedNameTokens } from '../build';
import { ikeDemo } from '../corpus';
import { DEFAULT_CONFIG, generateWorld } from '../world';

const DIR = join(__dirname, '../../../test-fixtures/factbase');
const json = JSON.parse(readFileSync(join(DIR, 'tokenizer/tokenizer.json'), 'utf8'));
const config = JSON.parse(readFileSync(join(DIR, 'tokenizer/tokenizer_config.json'), 'utf8'));

test('merges the most frequent pair first, ties in code-unit order, and stops at the vocabulary size', () => {
  const bpe = trainBpe(['ab ab abc', 'ab'], { vocabSize: 260, minFrequency: 1 });
  // Pre-tokens: "ab" ×2, "Ġab" ×1, "Ġabc" ×1. Pair counts: a b = 4, Ġ a = 2, b c = 1.
  expect(bpe.merges[0]).toEqual(['a', 'b']);
  // Then "Ġ ab" (2), then "Ġab c" (1); with the default minFrequency 2 the last one is not made.
  expect(bpe.merges.slice(1)).toEqual([['Ġ', 'ab'], ['Ġab', 'c']]);
  expect(trainBpe(['ab ab abc', 'ab'], { vocabSize: 260 }).merges).toHaveLength(2);
  expect(bpe.vocab.size).toBe(260);
  expect(bpe.vocab.get(EOS_TOKEN)).toBe(256);
  expect(bpe.vocab.get('ab')).toBe(257);
  // Ties: "x y" and "y z" both once; "x" < "y" so x y merges first.
  expect(trainBpe(['xy yz'], { vocabSize: 258, minFrequency: 1 }).merges).toEqual([['x', 'y']]);
});

test('writes the layout of a tokenizer.json that HF tokenizers trained (test-fixtures/tokenizers/bpe1000)', () => {
  const bpe1000 = JSON.parse(readFileSync(join(__dirname, '../../../test-fixtures/tokenizers/bpe1000/tokenizer.json'), 'utf8'));
  const out = bpeTokenizerJson(trainBpe(['hello hello world'], { vocabSize: 270 })) as typeof bpe1000;
  expect(Object.keys(out)).toEqual(Object.keys(bpe1000));
  expect(Object.keys(out.model)).toEqual(Object.keys(bpe1000.model));
  for (const k of ['added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) expect(out[k]).toEqual(bpe1000[k]);
  const bytes = (j: typeof bpe1000) => Object.entries(j.model.vocab as Record<string, number>).filter(([, id]) => id < 256).sort((a, b) => a[1] - b[1]).map(([t]) => t);
  expect(bytes(out)).toEqual(bytes(bpe1000));
  expect(out.model.merges[0]).toBe('e l');
});

describe('the committed tokenizer', () => {
  const core = Tokenizer.fromFile(join(DIR, 'tokenizer/tokenizer.json'));
  const hf = new HfTokenizer(json, config);
  const merges: [string, string][] = (json.model.merges as string[]).map((m) => m.split(' ') as [string, string]);
  const own = new BpeEncoder({ vocab: new Map(Object.entries(json.model.vocab as Record<string, number>)), merges });
  const sample = readFileSync(join(DIR, 'corpus/sample.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string);
  const world = generateWorld(DEFAULT_CONFIG);
  const heldout = [...evalTexts(world), ikeDemo('Zuma Kel is a citizen of Ávila', 'Où est Zuma?', 'Ávila ✓'), 'tabs\tand  spaces\n\n\nend', "it's, we'll — 123 4.5"];

  it('gives identical ids in the core reader, tokenizers.js and the trainer encoder, and decodes back', () => {
    expect(sample.length).toBeGreaterThanOrEqual(1000);
    for (const text of [...sample, ...heldout]) {
      const ids = core.encode(text, { addSpecialTokens: false });
      expect([text, hf.encode(text, { add_special_tokens: false }).ids]).toEqual([text, ids]);
      expect([text, own.encode(text)]).toEqual([text, ids]);
      expect(core.decode(ids)).toBe(text);
    }
    expect(core.vocabSize).toBe(json.model.vocab && Object.keys(json.model.vocab).length);
    expect(core.eosTokenId).toBe(256);
  });

  it('gives at most 5 % of subjects (overall and in each split) a first or last token another subject starts or ends with', () => {
    // Mid-sentence (" Name") and at the start of a prompt ("{} works for": "Name").
    for (const encode of [(t: string) => core.encode(t, { addSpecialTokens: false }), (t: string) => core.encode(t.trimStart(), { addSpecialTokens: false })]) {
      const all = sharedNameTokens(world, encode);
      expect(all.shared / all.subjects).toBeLessThanOrEqual(0.05);
      for (const ids of Object.values(world.splits)) {
        const s = sharedNameTokens(world, encode, ids);
        expect(s.shared / s.subjects).toBeLessThanOrEqual(0.05);
      }
    }
    const encode = (t: string) => core.encode(t, { addSpecialTokens: false });
    // Names are sub-word sequences of their own: at least two tokens each.
    for (const e of world.entities.slice(0, world.subjectCount)) expect(encode(` ${e.name}`).length).toBeGreaterThanOrEqual(2);
  });
});
