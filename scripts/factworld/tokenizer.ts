/**
 * A Hugging Face `tokenizer.json` for the fact world: WordLevel model, GPT-2 ByteLevel
 * pre-tokenizer (add_prefix_space false, trim_offsets true, use_regex true) and ByteLevel decoder,
 * the same layout as the parity word tokenizer in ../shared/parity/tokenizers/word.
 *
 * Pre-tokenization follows HF tokenizers' ByteLevel: split with GPT-2's regex, then map every UTF-8
 * byte to GPT-2's printable byte alphabet (bytes_to_unicode in openai/gpt-2 encoder.py), so a
 * leading space becomes "Ġ". A WordLevel model then looks each piece up; unknown → `<|unk|>`.
 */

/** End of text; also BOS and padding. Id 0. */
export const EOS_TOKEN = '<|endoftext|>';
/** Unknown word. Id 1. */
export const UNK_TOKEN = '<|unk|>';

// GPT-2's pre-tokenization pattern (openai/gpt-2 encoder.py; HF tokenizers ByteLevel uses the same).
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's byte → printable character table (bytes_to_unicode). @internal */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const table = new Array<string>(256);
  for (const b of bs) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  return table;
})();

/** Splits text (no special tokens) into byte-level pre-tokens, e.g. "Varn plays" → ["Varn", "Ġplays"]. */
export function preTokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(GPT2_PATTERN)) {
    const s = m[0];
    let piece = '';
    // ASCII is one byte per char, so the table applies directly; anything else goes through UTF-8.
    if (/^[\x00-\x7f]*$/.test(s)) for (let i = 0; i < s.length; i++) piece += BYTE_TO_UNICODE[s.charCodeAt(i)];
    else for (const b of Buffer.from(s, 'utf8')) piece += BYTE_TO_UNICODE[b];
    out.push(piece);
  }
  return out;
}

/**
 * Builds the vocabulary: the two special tokens, then every pre-token of `corpus` by descending
 * count (ties in code-unit order), then pre-tokens of `extra` texts not seen in the corpus (sorted).
 * @returns token → id
 */
export function buildVocab(corpus: Iterable<string>, extra: Iterable<string>): Map<string, number> {
  return buildVocabFromPreTokens((function* () { for (const line of corpus) yield preTokenize(line); })(), extra);
}

/** {@link buildVocab} over lines already split by {@link preTokenize}. */
export function buildVocabFromPreTokens(corpus: Iterable<readonly string[]>, extra: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of corpus) for (const t of line) counts.set(t, (counts.get(t) ?? 0) + 1);
  const vocab = new Map<string, number>([[EOS_TOKEN, 0], [UNK_TOKEN, 1]]);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [t] of ranked) if (!vocab.has(t)) vocab.set(t, vocab.size);
  const rest = new Set<string>();
  for (const text of extra) for (const t of preTokenize(text)) if (!vocab.has(t)) rest.add(t);
  for (const t of [...rest].sort()) vocab.set(t, vocab.size);
  return vocab;
}

/** The HF `tokenizer.json` object for a vocabulary (same field order as the parity file). */
export function tokenizerJson(vocab: Map<string, number>): object {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  if (vocab.get(EOS_TOKEN) !== 0 || vocab.get(UNK_TOKEN) !== 1) throw new Error(`Expected ${EOS_TOKEN} at id 0 and ${UNK_TOKEN} at id 1`);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, EOS_TOKEN), special(1, UNK_TOKEN)],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocab), unk_token: UNK_TOKEN },
  };
}

/** `tokenizer_config.json` as in the parity word tokenizer. */
export function tokenizerConfig(modelMaxLength: number): object {
  return {
    tokenizer_class: 'WordLevelTokenizer', unk_token: UNK_TOKEN, bos_token: EOS_TOKEN, eos_token: EOS_TOKEN,
    model_max_length: modelMaxLength, clean_up_tokenization_spaces: false,
  };
}

/** `special_tokens_map.json`. */
export function specialTokensMap(): object {
  return { bos_token: EOS_TOKEN, eos_token: EOS_TOKEN, unk_token: UNK_TOKEN };
}

/**
 * Encodes text with a WordLevel vocabulary the way HF tokenizers does: special tokens are matched
 * first, the rest is pre-tokenized and looked up (unknown → `<|unk|>`). No BOS/EOS is added.
 */
export function encode(vocab: ReadonlyMap<string, number>, text: string): number[] {
  const unk = vocab.get(UNK_TOKEN);
  if (unk === undefined) throw new Error(`Vocabulary lacks ${UNK_TOKEN}`);
  const ids: number[] = [];
  for (const part of text.split(/(<\|endoftext\|>|<\|unk\|>)/)) {
    if (part === '') continue;
    if (part === EOS_TOKEN || part === UNK_TOKEN) { ids.push(vocab.get(part)!); continue; }
    for (const t of preTokenize(part)) ids.push(vocab.get(t) ?? unk);
  }
  return ids;
}

/** Decodes ids back to text (ByteLevel decoder: byte alphabet → UTF-8). */
export function decode(vocab: ReadonlyMap<string, number>, ids: readonly number[]): string {
  const inverse = new Map<number, string>();
  for (const [t, i] of vocab) inverse.set(i, t);
  const unicodeToByte = new Map<string, number>(BYTE_TO_UNICODE.map((c, b) => [c, b]));
  let out = '';
  let bytes: number[] = [];
  const flush = () => { out += Buffer.from(bytes).toString('utf8'); bytes = []; };
  for (const id of ids) {
    const t = inverse.get(id);
    if (t === undefined) throw new RangeError(`Token id ${id} is not in the vocabulary (size ${vocab.size})`);
    if (t === EOS_TOKEN || t === UNK_TOKEN) { flush(); out += t; continue; }
    for (const ch of t) {
      const b = unicodeToByte.get(ch);
      if (b === undefined) throw new Error(`Token "${t}" has a character outside the byte alphabet`);
      bytes.push(b);
    }
  }
  flush();
  return out;
}
