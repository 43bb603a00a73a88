/**
 * Tokenizer parity and behaviour: the HF reference cases in test-fixtures/tokenizers (copied from
 * shared/parity: tokenizer_tests.json, expected.json input ids, ROME target ids) and hand-checked
 * cases on tiny hand-built SentencePiece-style (Llama) and WordPiece (BERT) tokenizer.json files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer, TokenizerError } from '../src/tokenizer';

const FIX = path.join(__dirname, '../../../test-fixtures/tokenizers');
const readJson = (rel: string) => JSON.parse(fs.readFileSync(path.join(FIX, rel), 'utf8'));

interface Case { text: string; ids: number[]; tokens: string[]; decode: string }

describe('HF reference cases (tokenizer_tests.json)', () => {
  // gpt2 and llama in shared/parity use the same byte-level BPE as tokenizers/bpe1000.
  const sets: Array<[string, string]> = [
    ['bpe1000', 'bpe1000'], ['gpt2', 'bpe1000'], ['llama', 'bpe1000'],
    ['word', 'word'], ['gpt2-trained-wordlevel', 'word'],
  ];
  for (const [dir, cases] of sets) {
    it(`${dir}: ids, tokens and decode equal HF's`, () => {
      const tok = Tokenizer.fromFile(path.join(FIX, dir));
      const tests: Case[] = readJson(`${cases}/tokenizer_tests.json`);
      expect(tests.length).toBeGreaterThanOrEqual(4);
      for (const t of tests) {
        const enc = tok.encodeWithOffsets(t.text);
        expect({ text: t.text, ids: enc.ids, tokens: enc.tokens }).toEqual({ text: t.text, ids: t.ids, tokens: t.tokens });
        expect(tok.decode(t.ids)).toBe(t.decode);
      }
    });
  }

  it('GPT-2 files (vocab.json + merges.txt) give the same tokenizer as tokenizer.json', () => {
    const a = Tokenizer.fromFile(path.join(FIX, 'gpt2/tokenizer.json'));
    const b = Tokenizer.fromGpt2Files(path.join(FIX, 'gpt2/vocab.json'), path.join(FIX, 'gpt2/merges.txt'));
    for (const t of readJson('bpe1000/tokenizer_tests.json') as Case[]) {
      expect(b.encode(t.text)).toEqual(a.encode(t.text));
    }
    expect(b.vocabSize).toBe(a.vocabSize);
  });

  it('WordLevel maps unknown words to the unk id (not null)', () => {
    const tok = Tokenizer.fromFile(path.join(FIX, 'word'));
    expect(tok.unkTokenId).toBe(1);
    expect(tok.encode(' Zanzibar')).toEqual([1]);
    expect(tok.encode(" Darrieux's")).toEqual([tok.tokenToId('ĠDarrieux'), 1]);
    expect(tok.tokenToId('ĠDarrieux')).toBe(48);
  });

  it('gpt2-trained-wordlevel expected.json: the texts encode to the reference input_ids', () => {
    const tok = Tokenizer.fromFile(path.join(FIX, 'gpt2-trained-wordlevel'));
    const exp = readJson('gpt2-trained-wordlevel/expected.json');
    expect(exp.texts.length).toBe(exp.inputs.input_ids.length);
    exp.texts.forEach((text: string, i: number) => expect(tok.encode(text)).toEqual(exp.inputs.input_ids[i]));
    // The greedy prompt is the first six tokens of the first text.
    const prompt: number[] = exp.greedy.prompt_ids;
    expect(tok.encode(exp.texts[0]).slice(0, prompt.length)).toEqual(prompt);
    expect(tok.decode(prompt)).toBe('The Eiffel Tower is located in');
    expect(tok.encode('The Eiffel Tower is located in')).toEqual(prompt);
  });

  it('ROME reference: targets with a leading space encode to the reference target_ids', () => {
    const tok = Tokenizer.fromFile(path.join(FIX, 'gpt2-trained-wordlevel'));
    const exp = readJson('rome/expected.json');
    let checked = 0;
    for (const req of exp.requests) {
      for (const phase of ['before', 'after']) {
        for (const which of ['new', 'true']) {
          const r = req[phase][which];
          expect(tok.encode(r.target)).toEqual(r.target_ids);
          // top5_next are single next tokens decoded by HF.
          for (const [s] of r.top5_next as Array<[string, number]>) {
            const ids = tok.encode(s);
            expect(ids).toHaveLength(1);
            expect(tok.decode(ids)).toBe(s);
          }
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4);
  });

  it('special-token ids come from tokenizer_config.json / special_tokens_map.json', () => {
    const gpt2 = Tokenizer.fromFile(path.join(FIX, 'gpt2'));
    expect([gpt2.bosTokenId, gpt2.eosTokenId, gpt2.unkTokenId, gpt2.padTokenId]).toEqual([256, 256, 256, undefined]);
    expect(gpt2.vocabSize).toBe(1000);
    const word = Tokenizer.fromFile(path.join(FIX, 'word/tokenizer.json'));
    expect([word.bosTokenId, word.eosTokenId, word.unkTokenId, word.padTokenId]).toEqual([0, 0, 1, undefined]);
    expect(word.vocabSize).toBe(284);
    // Without the side files only what tokenizer.json implies is known.
    const bare = Tokenizer.fromJSON(readJson('gpt2/tokenizer.json'));
    expect([bare.bosTokenId, bare.eosTokenId, bare.unkTokenId]).toEqual([undefined, undefined, undefined]);
    const bareWord = Tokenizer.fromJSON(readJson('word/tokenizer.json'));
    expect(bareWord.unkTokenId).toBe(1);
  });

  it('skips special tokens on request and reports offsets into the text', () => {
    const tok = Tokenizer.fromFile(path.join(FIX, 'bpe1000'));
    const text = '<|endoftext|>The Eiffel Tower';
    const enc = tok.encodeWithOffsets(text);
    expect(enc.tokens).toEqual(['<|endoftext|>', 'The', 'ĠEiffel', 'ĠTower']);
    expect(enc.offsets).toEqual([[0, 13], [13, 16], [16, 23], [23, 29]]);
    expect(enc.specialTokensMask).toEqual([1, 0, 0, 0]);
    expect(tok.decode(enc.ids, { skipSpecialTokens: true })).toBe('The Eiffel Tower');
    expect(tok.isSpecialToken('<|endoftext|>')).toBe(true);
  });
});

describe('SentencePiece-style BPE (hand-built Llama layout)', () => {
  const legacy = Tokenizer.fromFile(path.join(FIX, 'llama-sp-tiny'));
  const meta = Tokenizer.fromFile(path.join(FIX, 'llama-metaspace-tiny'));
  const byte = (b: number) => 3 + b; // <0x00> is id 3

  it('has the vocabulary layout the expectations below assume', () => {
    expect(legacy.tokenToId('<0x0A>')).toBe(byte(0x0a));
    expect(legacy.tokenToId('▁')).toBe(259);
    expect(legacy.tokenToId('▁The')).toBe(284);
    expect(legacy.tokenToId('▁capital')).toBe(290);
    expect([legacy.bosTokenId, legacy.eosTokenId, legacy.unkTokenId, legacy.padTokenId]).toEqual([1, 2, 0, undefined]);
  });

  it('prepends "▁", replaces spaces and merges by rank; <s> comes from the template', () => {
    // ▁capital: ▁c (rank 3), ap (4), ▁cap (9), it (10), al (11), ▁capit (12), ▁capital (13).
    // ▁Paris: is (2), ▁P (16), ar (17), ▁Par (18), ▁Paris (19). "France" has no merges.
    const text = 'The capital of France is Paris.';
    const expected = ['<s>', '▁The', '▁capital', '▁of', '▁', 'F', 'r', 'a', 'n', 'c', 'e', '▁is', '▁Paris', '.'];
    for (const tok of [legacy, meta]) {
      const enc = tok.encodeWithOffsets(text);
      expect(enc.tokens).toEqual(expected);
      expect(enc.ids.slice(0, 4)).toEqual([1, 284, 290, 292]);
      expect(tok.encode(text, { addSpecialTokens: false })).toEqual(enc.ids.slice(1));
    }
    // Offsets: "▁The" covers "The" (the prepended ▁ aligns with "T"); "▁capital" covers " capital".
    const enc = legacy.encodeWithOffsets(text);
    expect(enc.offsets.slice(0, 3)).toEqual([[0, 0], [0, 3], [3, 11]]);
    // Repeated pairs merge left to right: "eeee" → "ee", "ee".
    expect(legacy.encodeWithOffsets('teeeeth', { addSpecialTokens: false }).tokens).toEqual(['▁t', 'ee', 'ee', 't', 'h']);
  });

  it('falls back to <0xNN> byte tokens for characters outside the vocabulary', () => {
    const enc = legacy.encodeWithOffsets('Café 日本\n', { addSpecialTokens: false });
    expect(enc.tokens).toEqual(['▁', '<0x43>', 'a', 'f', '<0xC3>', '<0xA9>', '▁', '<0xE6>', '<0x97>', '<0xA5>', '<0xE6>', '<0x9C>', '<0xAC>', '<0x0A>']);
    expect(enc.ids).toEqual([259, byte(0x43), 260, 263, byte(0xc3), byte(0xa9), 259, byte(0xe6), byte(0x97), byte(0xa5), byte(0xe6), byte(0x9c), byte(0xac), byte(0x0a)]);
    // Both bytes of "é" point at "é".
    expect(enc.offsets[4]).toEqual([3, 4]);
    expect(enc.offsets[5]).toEqual([3, 4]);
    expect(legacy.decode(enc.ids)).toBe('Café 日本\n');
    expect(legacy.decode([byte(0xe6), byte(0x97)])).toBe('\ufffd\ufffd'); // an incomplete character: one U+FFFD per byte
  });

  it('decodes like HF: "<s>" kept unless skipped, the leading space stripped', () => {
    const ids = legacy.encode('The capital of France is Paris.');
    expect(legacy.decode(ids)).toBe('<s> The capital of France is Paris.');
    expect(legacy.decode(ids, { skipSpecialTokens: true })).toBe('The capital of France is Paris.');
    expect(meta.decode(ids, { skipSpecialTokens: true })).toBe('The capital of France is Paris.');
  });

  it('legacy Prepend normalizer vs Metaspace prepend_scheme "first" after an added token', () => {
    // Legacy: each piece between added tokens gets "▁"; "first": only the piece at the start of the text.
    expect(legacy.encodeWithOffsets('<s>The cat', { addSpecialTokens: false }).tokens).toEqual(['<s>', '▁The', '▁c', 'a', 't']);
    expect(meta.encodeWithOffsets('<s>The cat', { addSpecialTokens: false }).tokens).toEqual(['<s>', 'T', 'he', '▁c', 'a', 't']);
    expect(legacy.encodeWithOffsets('is</s>is', { addSpecialTokens: false }).tokens).toEqual(['▁is', '</s>', '▁is']);
    expect(meta.encodeWithOffsets('is</s>is', { addSpecialTokens: false }).tokens).toEqual(['▁is', '</s>', 'is']);
  });

  it('without byte_fallback, unknown characters become <unk>, fused when fuse_unk is set', () => {
    const json = readJson('llama-sp-tiny/tokenizer.json');
    json.model.byte_fallback = false;
    const fused = Tokenizer.fromJSON(json, { source: 'fused' });
    expect(fused.encodeWithOffsets('ÀÉa', { addSpecialTokens: false }).tokens).toEqual(['▁', '<unk>', 'a']);
    json.model.fuse_unk = false;
    const unfused = Tokenizer.fromJSON(json, { source: 'unfused' });
    expect(unfused.encodeWithOffsets('ÀÉa', { addSpecialTokens: false }).tokens).toEqual(['▁', '<unk>', '<unk>', 'a']);
  });
});

describe('WordPiece (hand-built BERT layout)', () => {
  const tok = Tokenizer.fromFile(path.join(FIX, 'bert-tiny-wordpiece'));
  const tokens = (s: string) => tok.encodeWithOffsets(s).tokens;

  it('lowercases, splits punctuation and wraps with [CLS] … [SEP]', () => {
    const enc = tok.encodeWithOffsets('The capital of France is Paris.');
    expect(enc.tokens).toEqual(['[CLS]', 'the', 'capital', 'of', 'france', 'is', 'paris', '.', '[SEP]']);
    expect(enc.ids).toEqual([2, 5, 6, 7, 8, 9, 10, 11, 3]);
    expect(enc.specialTokensMask).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(enc.typeIds).toEqual(new Array(9).fill(0));
    expect(tok.encode('Paris', { addSpecialTokens: false })).toEqual([10]);
  });

  it('uses ## continuations, [UNK] for unsplittable words and max_input_chars_per_word (10)', () => {
    expect(tokens("don't unaffable runnings")).toEqual(['[CLS]', 'don', "'", 't', 'un', '##aff', '##able', 'run', '##ning', '##s', '[SEP]']);
    expect(tokens('unaffables')).toEqual(['[CLS]', 'un', '##aff', '##able', '##s', '[SEP]']); // 10 characters
    expect(tokens('unaffablesss')).toEqual(['[CLS]', '[UNK]', '[SEP]']); // 12 > 10
    expect(tokens('xyz')).toEqual(['[CLS]', '[UNK]', '[SEP]']);
    expect(tokens('aaa')).toEqual(['[CLS]', 'a', '##a', '##a', '[SEP]']);
  });

  it('strips accents, pads CJK characters, drops control characters', () => {
    const enc = tok.encodeWithOffsets('Café 日本');
    expect(enc.tokens).toEqual(['[CLS]', 'cafe', '日', '本', '[SEP]']);
    expect(enc.offsets).toEqual([[0, 0], [0, 4], [5, 6], [6, 7], [0, 0]]);
    expect(tokens('CAFE\u0301')).toEqual(['[CLS]', 'cafe', '[SEP]']);
    // \u0000 is removed (so "the" and "capital" join into an unknown word), \t is a space.
    expect(tokens('the\u0000capital\tof')).toEqual(['[CLS]', '[UNK]', 'of', '[SEP]']);
  });

  it('matches special tokens in the raw text and reports BERT roles', () => {
    expect(tokens('[MASK] is Paris')).toEqual(['[CLS]', '[MASK]', 'is', 'paris', '[SEP]']);
    expect([tok.clsTokenId, tok.sepTokenId, tok.padTokenId, tok.maskTokenId, tok.unkTokenId]).toEqual([2, 3, 0, 4, 1]);
    expect(tok.bosTokenId).toBeUndefined();
    // tokenizer.json alone: [CLS]/[SEP] are inferred from the template, not taken as bos/eos.
    const bare = Tokenizer.fromJSON(readJson('bert-tiny-wordpiece/tokenizer.json'));
    expect([bare.clsTokenId, bare.sepTokenId, bare.unkTokenId, bare.bosTokenId]).toEqual([2, 3, 1, undefined]);
  });

  it('decodes with the WordPiece decoder (per-token clean-up, as HF tokenizers)', () => {
    expect(tok.decode(tok.encode('Hello, WORLD!'))).toBe('[CLS] hello, world! [SEP]');
    expect(tok.decode(tok.encode('Hello, WORLD!'), { skipSpecialTokens: true })).toBe('hello, world!');
    expect(tok.decode(tok.encode('unaffable runnings'), { skipSpecialTokens: true })).toBe('unaffable runnings');
    // HF's decoder cleans up per token, so " ' " survives; transformers' clean_up_tokenization fixes it.
    const ids = tok.encode("don't", { addSpecialTokens: false });
    expect(tok.decode(ids)).toBe("don ' t");
    expect(tok.decode(ids, { cleanUpTokenizationSpaces: true })).toBe("don't");
  });
});

describe('pre-tokenizers and regex translation', () => {
  const wordLevel = (preTokenizer: unknown, words: string[]) =>
    Tokenizer.fromJSON({
      version: '1.0',
      pre_tokenizer: preTokenizer,
      model: { type: 'WordLevel', unk_token: '<unk>', vocab: Object.fromEntries(['<unk>', ...words].map((w, i) => [w, i])) },
    }, { source: 'inline' });

  it('Split with the Llama-3 pattern ((?i:…) groups, \\p{N}{1,3})', () => {
    const pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    // "!\n\n" is one piece (" ?[^\s\p{L}\p{N}]+[\r\n]*"), " \n\n" another ("\s*[\r\n]+").
    const pieces = ['I', "'LL", ' be', ' there', ' ', '123', '45', '!\n\n', 'Ok', ' \n\n', 'Go'];
    const tok = wordLevel({ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, pieces);
    expect(tok.encodeWithOffsets("I'LL be there 12345!\n\nOk \n\nGo").tokens).toEqual(pieces);
  });

  it('Whitespace, WhitespaceSplit, Digits and Sequence', () => {
    const ws = wordLevel({ type: 'Whitespace' }, ['Hello', ',', 'world', '!!']);
    expect(ws.encodeWithOffsets('Hello, world!!').tokens).toEqual(['Hello', ',', 'world', '!!']);
    const split = wordLevel({ type: 'WhitespaceSplit' }, ['Hello,', 'world!!']);
    expect(split.encodeWithOffsets(' Hello,\u3000world!! ').tokens).toEqual(['Hello,', 'world!!']);
    const seq = wordLevel({ type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Digits', individual_digits: true }] }, ['a', '1', '2']);
    expect(seq.encodeWithOffsets('a12 2').tokens).toEqual(['a', '1', '2', '2']);
  });
});

describe('errors', () => {
  const base = () => readJson('word/tokenizer.json');
  const expectError = (fn: () => unknown, re: RegExp) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TokenizerError);
    expect((err as Error).message).toMatch(re);
  };

  it('names the unsupported component type, its path and the file', () => {
    expectError(() => Tokenizer.fromJSON({ model: { type: 'Unigram', vocab: [] } }, { source: 'm/tokenizer.json' }), /^m\/tokenizer\.json: Unsupported model type "Unigram" at "model"/);
    const pre = base();
    pre.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'ByteLevel' }, { type: 'UnicodeScripts' }] };
    expectError(() => Tokenizer.fromJSON(pre, { source: 'p.json' }), /p\.json: Unsupported pre_tokenizer type "UnicodeScripts" at "pre_tokenizer\.pretokenizers\[1\]"/);
    const norm = base();
    norm.normalizer = { type: 'Precompiled', precompiled_charsmap: '' };
    expectError(() => Tokenizer.fromJSON(norm), /Unsupported normalizer type "Precompiled"/);
    const dec = base();
    dec.decoder = { type: 'CTC' };
    expectError(() => Tokenizer.fromJSON(dec), /Unsupported decoder type "CTC"/);
    const post = base();
    post.post_processor = { type: 'Mystery' };
    expectError(() => Tokenizer.fromJSON(post), /Unsupported post_processor type "Mystery"/);
  });

  it('names missing or malformed fields', () => {
    expectError(() => Tokenizer.fromJSON({ version: '1.0' }, { source: 't.json' }), /t\.json: Expected an object for "model" but received undefined/);
    expectError(() => Tokenizer.fromJSON({ model: { type: 'BPE', merges: [] } }), /Expected an object for "model\.vocab" but received undefined/);
    expectError(() => Tokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b c'] } }), /"model\.merges\[0\]"/);
    expectError(() => Tokenizer.fromJSON({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b'] } }), /uses "b", which is not in "model\.vocab"/);
    expectError(() => Tokenizer.fromJSON({ model: { type: 'WordLevel', vocab: { a: -1 } } }), /"model\.vocab\["a"\]"/);
    expectError(() => Tokenizer.fromJSON({ model: { type: 'BPE', dropout: 0.1, vocab: {}, merges: [] } }), /dropout/);
    const bad = base();
    bad.pre_tokenizer = { type: 'Split', pattern: { Regex: '(?>a)' }, behavior: 'Isolated', invert: false };
    expectError(() => Tokenizer.fromJSON(bad), /"pre_tokenizer\.pattern\.Regex"/);
    expectError(() => Tokenizer.fromJSON(base(), { source: 'd/tokenizer.json', config: { bos_token: '<nope>' } }), /tokenizer_config\.json: The bos_token "<nope>" is not in the vocabulary/);
  });

  it('reports unreadable and invalid files by path', () => {
    expectError(() => Tokenizer.fromFile(path.join(FIX, 'does-not-exist/tokenizer.json')), /does-not-exist\/tokenizer\.json: Cannot read the file/);
    expectError(() => Tokenizer.fromFile(path.join(FIX, 'gpt2/merges.txt')), /gpt2\/merges\.txt: Invalid JSON/);
  });

  it('throws on unknown ids and on unknown words without an unk token', () => {
    const tok = Tokenizer.fromFile(path.join(FIX, 'word'));
    expect(() => tok.decode([0, 100000])).toThrow(RangeError);
    const noUnk = base();
    noUnk.model.unk_token = '<missing>';
    const t = Tokenizer.fromJSON(noUnk, { source: 'w.json' });
    expect(t.encode('The')).toEqual([9]);
    expectError(() => t.encode(' Zanzibar'), /w\.json: WordLevel unk_token "<missing>" is not in the vocabulary.*"ĠZanzibar"/);
  });
});
