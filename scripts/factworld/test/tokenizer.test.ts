import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { preTokenize, encode, decode, buildVocab, tokenizerJson, EOS_TOKEN, UNK_TOKEN } from '../tokenizer';
import { Rng } from '../prng';

const REF = join(__dirname, '../../../test-fixtures/factworld/reference/parity-word');

describe('factworld tokenizer', () => {
  const parity = JSON.parse(readFileSync(join(REF, 'tokenizer.json'), 'utf8'));
  const vocab = new Map<string, number>(Object.entries(parity.model.vocab as Record<string, number>));
  const cases = JSON.parse(readFileSync(join(REF, 'tokenizer_tests.json'), 'utf8')) as { text: string; ids: number[]; decode: string }[];

  it('encodes like Hugging Face tokenizers on the parity word tokenizer', () => {
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) expect(encode(vocab, c.text)).toEqual(c.ids);
  });

  it('decodes like Hugging Face tokenizers on the parity word tokenizer', () => {
    for (const c of cases) expect(decode(vocab, c.ids)).toBe(c.decode);
  });

  it('maps a leading space to Ġ and splits GPT-2 contractions and punctuation', () => {
    expect(preTokenize("Varn Oltega's mother tongue is High Doran.")).toEqual(['Varn', 'ĠOltega', "'s", 'Ġmother', 'Ġtongue', 'Ġis', 'ĠHigh', 'ĠDoran', '.']);
    expect(preTokenize('Who makes Kesho Mini 5?')).toEqual(['Who', 'Ġmakes', 'ĠKesho', 'ĠMini', 'Ġ5', '?']);
  });

  it('writes the parity layout with special tokens at ids 0 and 1', () => {
    const v = buildVocab(['a b b b.'], ['c', ' b']);
    const json = tokenizerJson(v) as typeof parity;
    expect(Object.keys(json)).toEqual(Object.keys(parity));
    for (const k of ['pre_tokenizer', 'decoder', 'added_tokens', 'normalizer', 'post_processor']) expect(json[k]).toEqual(parity[k]);
    expect(json.model.type).toBe('WordLevel');
    expect(json.model.unk_token).toBe(UNK_TOKEN);
    // By count (Ġb three times), ties in code-unit order, then unseen extras; known extras are not repeated.
    expect(json.model.vocab).toEqual({ [EOS_TOKEN]: 0, [UNK_TOKEN]: 1, 'Ġb': 2, '.': 3, a: 4, c: 5 });
  });
});

describe('Rng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const a = Array.from({ length: 5 }, ((r) => () => r.next())(new Rng(3)));
    const b = Array.from({ length: 5 }, ((r) => () => r.next())(new Rng(3)));
    const c = Array.from({ length: 5 }, ((r) => () => r.next())(new Rng(4)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const x of a) expect(x >= 0 && x < 1).toBe(true);
  });

  it('rejects a non-integer seed', () => {
    expect(() => new Rng(1.5)).toThrow(/integer for seed/);
  });
});
