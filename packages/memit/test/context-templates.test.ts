/**
 * MEMIT's context templates: samples that start with MEMIT's five words when the tokenizer
 * knows them (fact-base's byte-level BPE), ROME's samples from the start token otherwise
 * (fact-small's word-level vocabulary maps "Therefore" to its unknown token).
 */
import * as path from 'node:path';

import { type CausalLM, contextTemplates, loadModel } from '@medit/core';
import { MEMIT_START_WORDS, memitContextTemplates } from '@medit/memit';

const MODELS = path.resolve(__dirname, '../../../test-fixtures/models');

describe('memitContextTemplates', () => {
  let factBase: CausalLM;
  let factSmall: CausalLM;
  beforeAll(async () => {
    factBase = await loadModel(path.join(MODELS, 'fact-base'));
    factSmall = await loadModel(path.join(MODELS, 'fact-small'));
  });
  afterAll(() => {
    factBase.dispose();
    factSmall.dispose();
  });

  test('a tokenizer that knows the five words: count / 5 samples per word, each starting with it', () => {
    const groups = memitContextTemplates(factBase, { context_template_length_params: [[10, 10]], context_template_seed: 0 });
    expect(groups[0]).toEqual(['{}']);
    expect(groups).toHaveLength(2);
    expect(groups[1]).toHaveLength(10);
    MEMIT_START_WORDS.forEach((word, w) => {
      for (const t of groups[1].slice(2 * w, 2 * w + 2)) {
        expect(t.startsWith(`${word} `) || t.startsWith(`${word}'`) || t.startsWith(`${word}.`) || t.startsWith(`${word},`)).toBe(true);
        expect(t.endsWith('. {}')).toBe(true);
        // at most 10 tokens of text: the word's and the generated ones
        expect(factBase.tokenizer!.encode(t.slice(0, -'. {}'.length), { addSpecialTokens: false }).length).toBeLessThanOrEqual(10);
      }
    });
    // seeded: the same templates again, other ones for another seed
    expect(memitContextTemplates(factBase, { context_template_length_params: [[10, 10]], context_template_seed: 0 })).toEqual(groups);
    expect(memitContextTemplates(factBase, { context_template_length_params: [[10, 10]], context_template_seed: 1 })[1]).not.toEqual(groups[1]);
  });

  test('a count below five makes no template with the words: the error says so', () => {
    expect(() => memitContextTemplates(factBase, { context_template_length_params: [[10, 1]], context_template_seed: 0 })).toThrow(
      /context_template_length_params \[10, 1\] makes no template.*count must be at least 5/,
    );
  });

  test('a word-level vocabulary without the words: ROME\'s samples from the start token, `count` of them', () => {
    expect(factSmall.tokenizer!.unknownWords(MEMIT_START_WORDS.join(' ')).length).toBeGreaterThan(0);
    const groups = memitContextTemplates(factSmall, { context_template_length_params: [[10, 3]], context_template_seed: 0 });
    expect(groups).toEqual([['{}'], contextTemplates(factSmall, [[10, 3]], 0).slice(1)]);
  });
});
