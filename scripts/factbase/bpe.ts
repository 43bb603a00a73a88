/**
 * A byte-level BPE trainer (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with
 * Subword Units"; GPT-2's byte-level variant, Radford et al. 2019) and the Hugging Face
 * `tokenizer.json` it writes: ByteLevel pre-tokenizer and decoder, BPE model with merges, in the
 * layout of `shared/parity/tokenizers/bpe1000` (HF tokenizers' own trainer output).
 *
 * Training: pre-tokenize with GPT-2's regex and byte alphabet (`../factworld/tokenizer`), count
 * words, start from the 256 byte symbols, then repeatedly merge the most frequent adjacent pair
 * (ties: the pair whose left, then right, symbol comes first in code-unit order) until the
 * vocabulary has `vocabSize` entries or no pair occurs `minFrequency` times. Vocabulary: the byte
 * alphabet in byte order (ids 0–255: byte b is GPT-2's printable character for b, as in HF-trained
 * byte-level tokenizers), `<|endoftext|>` (256), then one
 * token per merge in merge order. Encoding a training word with the merges by rank reproduces the
 * training segmentation, so any BPE reader gives the same ids.
 */
import { BYTE_TO_UNICODE, preTokenize } from '../factworld/tokenizer';

/** End of text: document separator, BOS and padding. */
export const EOS_TOKEN = '<|endoftext|>';

/** Options of {@link trainBpe}. */
export interface BpeOptions {
  /** Final vocabulary size, bytes and `<|endoftext|>` included (≥ 257). */
  vocabSize: number;
  /** Pairs seen fewer times are never merged (default 2). */
  minFrequency?: number;
}

/** A trained BPE: the vocabulary (token → id) and the merges in rank order. */
export interface Bpe {
  vocab: Map<string, number>;
  merges: [string, string][];
}

/** Max-heap of candidate merges with lazy deletion (entries whose count is stale are skipped). */
class PairHeap {
  private readonly items: { count: number; a: number; b: number }[] = [];

  constructor(private readonly symbols: readonly string[]) {}

  private before(x: { count: number; a: number; b: number }, y: { count: number; a: number; b: number }): boolean {
    if (x.count !== y.count) return x.count > y.count;
    const [xa, ya] = [this.symbols[x.a], this.symbols[y.a]];
    if (xa !== ya) return xa < ya;
    return this.symbols[x.b] < this.symbols[y.b];
  }

  push(item: { count: number; a: number; b: number }): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  pop(): { count: number; a: number; b: number } | undefined {
    const h = this.items;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Trains a byte-level BPE on `texts` (documents without special tokens).
 * @throws RangeError when `vocabSize` cannot hold the byte alphabet and `<|endoftext|>`
 * @example
 * const bpe = trainBpe(lines, { vocabSize: 8000 });
 * const json = bpeTokenizerJson(bpe);
 */
export function trainBpe(texts: Iterable<string>, opts: BpeOptions): Bpe {
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < 257) throw new RangeError(`Expected an integer vocabSize >= 257 (256 bytes + ${EOS_TOKEN}) but received ${opts.vocabSize}`);
  const counts = new Map<string, number>();
  for (const text of texts) for (const w of preTokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);

  const symbols = [...BYTE_TO_UNICODE];
  const vocab = new Map<string, number>(symbols.map((s, i) => [s, i]));
  vocab.set(EOS_TOKEN, symbols.length);
  symbols.push(EOS_TOKEN);
  // Words in a fixed order (code-unit order), so pair bookkeeping never depends on Map insertion.
  const entries = [...counts.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const freq = entries.map(([, c]) => c);
  const words = entries.map(([w]) => [...w].map((ch) => vocab.get(ch)!));

  const key = (a: number, b: number) => a * 0x100000 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const heap = new PairHeap(symbols);
  const changed = new Set<number>();
  const addPairs = (w: number, sign: 1 | -1) => {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[w]);
      changed.add(k);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  const pushChanged = () => {
    for (const k of changed) {
      const c = pairCount.get(k)!;
      if (c >= minFrequency) heap.push({ count: c, a: Math.floor(k / 0x100000), b: k % 0x100000 });
    }
    changed.clear();
  };
  words.forEach((_, w) => addPairs(w, 1));
  pushChanged();

  const merges: [string, string][] = [];
  while (vocab.size < opts.vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const k = key(top.a, top.b);
    if (pairCount.get(k) !== top.count) continue;
    const merged = symbols[top.a] + symbols[top.b];
    // A merge can rebuild a string another merge already made ("a"+"bc" after "ab"+"c"): the
    // token keeps its first id, as in HF's trainer.
    let id = vocab.get(merged);
    if (id === undefined) {
      id = symbols.length;
      symbols.push(merged);
      vocab.set(merged, id);
    }
    merges.push([symbols[top.a], symbols[top.b]]);
    for (const w of [...(pairWords.get(k) ?? [])]) {
      const s = words[w];
      let has = false;
      for (let i = 0; i + 1 < s.length && !has; i++) has = s[i] === top.a && s[i + 1] === top.b;
      if (!has) continue;
      addPairs(w, -1);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === top.a && s[i + 1] === top.b) { out.push(id); i++; } else out.push(s[i]);
      }
      words[w] = out;
      addPairs(w, 1);
    }
    pairWords.delete(k);
    pairCount.delete(k);
    changed.delete(k);
    pushChanged();
  }
  return { vocab, merges };
}

/** The HF `tokenizer.json` of a trained BPE (field order and settings as `parity/tokenizers/bpe1000`). */
export function bpeTokenizerJson(bpe: Bpe): object {
  const eos = bpe.vocab.get(EOS_TOKEN);
  if (eos === undefined) throw new Error(`The vocabulary lacks ${EOS_TOKEN}`);
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: eos, content: EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: Object.fromEntries(bpe.vocab),
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** `tokenizer_config.json` of a GPT-2-style tokenizer with `<|endoftext|>` as BOS, EOS and UNK. */
export function bpeTokenizerConfig(modelMaxLength: number): object {
  return {
    add_bos_token: false, add_prefix_space: false, bos_token: EOS_TOKEN, clean_up_tokenization_spaces: false,
    eos_token: EOS_TOKEN, errors: 'replace', model_max_length: modelMaxLength, pad_token: null,
    tokenizer_class: 'GPT2Tokenizer', unk_token: EOS_TOKEN,
  };
}

/** GPT-2's `merges.txt` (header line, one merge per line). */
export function mergesTxt(bpe: Bpe): string {
  return `#version: 0.2\n${bpe.merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`;
}

/**
 * Encodes one text with a trained BPE the way a BPE reader does: pre-tokenize, then in each word
 * apply the lowest-ranked merge present until none applies. For the build's own checks (name
 * pieces); the parity test compares it with the core and HF readers.
 */
export class BpeEncoder {
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly bpe: Bpe) {
    bpe.merges.forEach(([a, b], r) => this.ranks.set(`${a} ${b}`, r));
  }

  /** Token strings of one pre-token. */
  pieces(word: string): string[] {
    let s = [...word];
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < s.length; i++) {
        const r = this.ranks.get(`${s[i]} ${s[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) return s;
      const [a, b] = [s[best], s[best + 1]];
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(a + b); i++; } else out.push(s[i]);
      }
      s = out;
    }
  }

  /** Ids of a text without special tokens. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const w of preTokenize(text)) {
      let hit = this.cache.get(w);
      if (!hit) {
        hit = this.pieces(w).map((p) => this.bpe.vocab.get(p)!);
        this.cache.set(w, hit);
      }
      ids.push(...hit);
    }
    return ids;
  }
}
