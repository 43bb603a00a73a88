/**
 * Conversion of GPT-2's original files (openai/gpt-2: `encoder.json` token → id, `vocab.bpe` merges
 * with a `#version` header; HF ships the same as vocab.json / merges.txt) into tokenizer.json form.
 */
import { TokenizerError, describe } from './errors';

/**
 * Builds a tokenizer.json-shaped object for GPT-2's byte-level BPE from the parsed `encoder.json`
 * and the text of `vocab.bpe`. `<|endoftext|>`, when present, becomes a special added token.
 * @param encoder - parsed encoder.json / vocab.json
 * @param merges - text of vocab.bpe / merges.txt
 * @param source - name used in error messages
 * @throws TokenizerError when a merges line is not "left right"
 * @example
 * ```ts
 * const json = gpt2FilesToJSON(JSON.parse(vocabJson), mergesTxt);
 * const tok = Tokenizer.fromJSON(json);
 * ```
 */
export function gpt2FilesToJSON(encoder: unknown, merges: string, source = 'encoder.json + vocab.bpe'): Record<string, unknown> {
  if (typeof encoder !== 'object' || encoder === null || Array.isArray(encoder)) {
    throw new TokenizerError(`Expected an object (token → id) for encoder.json but received ${describe(encoder)}`, source);
  }
  const pairs: Array<[string, string]> = [];
  merges.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2) {
      throw new TokenizerError(`Expected "left right" on line ${i + 1} of the merges file but received ${JSON.stringify(line)}`, source);
    }
    pairs.push([parts[0], parts[1]]);
  });
  const vocab = encoder as Record<string, unknown>;
  const eot = '<|endoftext|>';
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    added_tokens:
      eot in vocab
        ? [{ id: vocab[eot], content: eot, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }]
        : [],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: pairs,
    },
  };
}
