/**
 * Tokenization models of tokenizer.json: BPE (Sennrich et al. 2016, "Neural Machine Translation of
 * Rare Words with Subword Units"; GPT-2 byte-level and SentencePiece-style with byte fallback),
 * WordLevel and WordPiece (Wu et al. 2016; BERT). Semantics follow HF tokenizers/src/models/*.
 * @internal
 */
import { JsonNode, JsonReader, join } from './json';
import { TokenizerError, describe } from './errors';
import { utf8Bytes } from './byte-level';

/** One token of a word: its id and the UTF-16 span [start, end) it covers in the word. */
export interface ModelToken {
  readonly id: number;
  readonly start: number;
  readonly end: number;
}

/** @internal A tokenization model: turns one pre-tokenized word into tokens. */
export interface Model {
  readonly type: 'BPE' | 'WordLevel' | 'WordPiece';
  readonly vocab: ReadonlyMap<string, number>;
  /** The model's unknown token, if it has one. */
  readonly unkToken: string | undefined;
  /** Tokens of `word` (callers must not mutate the returned array: it may be cached). */
  tokenize(word: string): readonly ModelToken[];
  idToToken(id: number): string | undefined;
}

export const SUPPORTED_MODELS = ['BPE', 'WordLevel', 'WordPiece'] as const;

function readVocab(r: JsonReader, n: JsonNode): { vocab: Map<string, number>; byId: Map<number, string> } {
  const v = r.child(n, 'vocab');
  const vocab = new Map<string, number>();
  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(v.value)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      r.fail(`Expected a non-negative integer id for "${v.path}[${JSON.stringify(tok)}]" but received ${describe(id)}`);
    }
    vocab.set(tok, id);
    byId.set(id, tok);
  }
  return { vocab, byId };
}

/** Reads the model of a tokenizer.json (`n` is its `model` object). */
export function buildModel(r: JsonReader, n: JsonNode): Model {
  let type = n.value.type;
  if (type === undefined) {
    // Files written before the `type` tag existed: infer it as HF's untagged deserializer does.
    if (Array.isArray(n.value.vocab)) type = 'Unigram';
    else if (n.value.merges !== undefined) type = 'BPE';
    else if (n.value.max_input_chars_per_word !== undefined) type = 'WordPiece';
    else type = 'WordLevel';
    n = { value: { ...n.value, type }, path: n.path };
  }
  switch (type) {
    case 'BPE':
      return new BpeModel(r, n);
    case 'WordLevel':
      return new WordLevelModel(r, n);
    case 'WordPiece':
      return new WordPieceModel(r, n);
    default:
      return r.unsupported('model', n, SUPPORTED_MODELS);
  }
}

// ---------------------------------------------------------------------------------------------
// BPE

/** Cached words longer than this are not stored (HF bpe/model.rs MAX_LENGTH). */
const CACHE_MAX_WORD = 256;
const CACHE_CAPACITY = 100_000;
/** Heap keys pack (rank, position) as rank * 2^26 + position. */
const POS_RADIX = 2 ** 26;

/**
 * Byte-pair encoding. Merges are applied by rank with a min-heap over (rank, position), as HF's
 * `Word::merge_all` does, so a word of n symbols costs O(n log n); results are cached per word.
 */
export class BpeModel implements Model {
  readonly type = 'BPE' as const;
  readonly vocab: Map<string, number>;
  private readonly byId: Map<number, string>;
  /** pair key (a * pairRadix + b) → merge rank. */
  private readonly mergeRank = new Map<number, number>();
  /** rank → id of the merged token. */
  private readonly mergeNew: number[] = [];
  private readonly pairRadix: number;
  readonly unkToken: string | undefined;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly fuseUnk: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, readonly ModelToken[]>();
  private readonly source: string;

  constructor(r: JsonReader, n: JsonNode) {
    this.source = r.source;
    ({ vocab: this.vocab, byId: this.byId } = readVocab(r, n));
    const dropout = r.optNum(n, 'dropout');
    if (dropout !== undefined && dropout !== 0) {
      r.fail(`BPE dropout ${dropout} at "${join(n.path, 'dropout')}" is not supported (it makes encoding random); set it to null for inference`);
    }
    this.unkToken = r.optStr(n, 'unk_token');
    this.prefix = r.optStr(n, 'continuing_subword_prefix') ?? '';
    this.suffix = r.optStr(n, 'end_of_word_suffix') ?? '';
    this.fuseUnk = r.bool(n, 'fuse_unk', false);
    this.byteFallback = r.bool(n, 'byte_fallback', false);
    this.ignoreMerges = r.bool(n, 'ignore_merges', false);
    let maxId = 0;
    for (const id of this.byId.keys()) maxId = Math.max(maxId, id);
    this.pairRadix = maxId + 1;

    const merges = r.arr(n, 'merges');
    const mpath = join(n.path, 'merges');
    merges.forEach((m, rank) => {
      let a: unknown;
      let b: unknown;
      if (typeof m === 'string') {
        const parts = m.split(' ');
        if (parts.length !== 2) r.fail(`Expected "<left> <right>" for "${mpath}[${rank}]" but received ${JSON.stringify(m)}`);
        [a, b] = parts;
      } else if (Array.isArray(m) && m.length === 2) {
        [a, b] = m;
      }
      if (typeof a !== 'string' || typeof b !== 'string') {
        r.fail(`Expected a merge ("a b" or ["a", "b"]) for "${mpath}[${rank}]" but received ${describe(m)}`);
      }
      const merged = a + b.slice(this.prefix.length);
      const ia = this.vocab.get(a);
      const ib = this.vocab.get(b);
      const inew = this.vocab.get(merged);
      const missing = ia === undefined ? a : ib === undefined ? b : inew === undefined ? merged : undefined;
      if (missing !== undefined) r.fail(`Merge ${mpath}[${rank}] (${JSON.stringify(a)} ${JSON.stringify(b)}) uses ${JSON.stringify(missing)}, which is not in "${join(n.path, 'vocab')}"`);
      // A pair listed twice keeps its last rank, as HF's HashMap collect does.
      this.mergeRank.set(ia! * this.pairRadix + ib!, rank);
      this.mergeNew[rank] = inew!;
    });
    if (merges.length >= 2 ** 27) r.fail(`Too many merges (${merges.length}) in "${mpath}"`);
  }

  idToToken(id: number): string | undefined {
    return this.byId.get(id);
  }

  tokenize(word: string): readonly ModelToken[] {
    if (word.length === 0) return [];
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) return [{ id, start: 0, end: word.length }];
    }
    const hit = this.cache.get(word);
    if (hit !== undefined) return hit;
    const out = this.mergeWord(word);
    if (word.length < CACHE_MAX_WORD) {
      if (this.cache.size >= CACHE_CAPACITY) this.cache.clear();
      this.cache.set(word, out);
    }
    return out;
  }

  /** Splits `word` into initial symbols (characters, byte fallback, unknown) then merges them. */
  private mergeWord(word: string): ModelToken[] {
    const ids: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    let unk: { id: number; start: number; end: number } | undefined;
    const flushUnk = () => {
      if (unk) {
        ids.push(unk.id);
        starts.push(unk.start);
        ends.push(unk.end);
        unk = undefined;
      }
    };
    const bytes: number[] = [];
    for (let i = 0; i < word.length; ) {
      const cp = word.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      let s = word.slice(i, i + w);
      if (i > 0 && this.prefix) s = this.prefix + s;
      if (i + w === word.length && this.suffix) s += this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        flushUnk();
        ids.push(id);
        starts.push(i);
        ends.push(i + w);
        i += w;
        continue;
      }
      if (this.byteFallback) {
        bytes.length = 0;
        for (const ch of s) utf8Bytes(ch.codePointAt(0)!, bytes);
        const byteIds = bytes.map((b) => this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
        if (byteIds.every((x) => x !== undefined)) {
          flushUnk();
          for (const b of byteIds) {
            ids.push(b!);
            starts.push(i);
            ends.push(i + w);
          }
          i += w;
          continue;
        }
      }
      if (this.unkToken !== undefined) {
        const unkId = this.vocab.get(this.unkToken);
        if (unkId === undefined) {
          throw new TokenizerError(`BPE unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary, so ${JSON.stringify(s)} cannot be encoded`, this.source);
        }
        if (unk && this.fuseUnk) unk.end = i + w;
        else {
          flushUnk();
          unk = { id: unkId, start: i, end: i + w };
        }
      }
      // Without an unk_token HF drops a character that is not in the vocabulary; so do we.
      i += w;
    }
    flushUnk();
    return this.mergeAll(ids, starts, ends);
  }

  private mergeAll(c: number[], starts: number[], ends: number[]): ModelToken[] {
    const n = c.length;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1 < n ? k + 1 : -1;
    }
    const heap = new MinHeap();
    const R = this.pairRadix;
    for (let k = 0; k + 1 < n; k++) {
      const rank = this.mergeRank.get(c[k] * R + c[k + 1]);
      if (rank !== undefined) heap.push(rank * POS_RADIX + k);
    }
    while (heap.size > 0) {
      const top = heap.pop();
      const rank = Math.floor(top / POS_RADIX);
      const pos = top - rank * POS_RADIX;
      if (!alive[pos] || next[pos] === -1) continue;
      const right = next[pos];
      const newId = this.mergeNew[rank];
      // Skip entries made stale by an earlier merge (same test as HF word.rs).
      const cur = this.mergeRank.get(c[pos] * R + c[right]);
      if (cur === undefined || this.mergeNew[cur] !== newId) continue;
      c[pos] = newId;
      ends[pos] = ends[right];
      alive[right] = 0;
      next[pos] = next[right];
      if (next[pos] !== -1) prev[next[pos]] = pos;
      if (prev[pos] >= 0) {
        const rk = this.mergeRank.get(c[prev[pos]] * R + c[pos]);
        if (rk !== undefined) heap.push(rk * POS_RADIX + prev[pos]);
      }
      if (next[pos] !== -1) {
        const rk = this.mergeRank.get(c[pos] * R + c[next[pos]]);
        if (rk !== undefined) heap.push(rk * POS_RADIX + pos);
      }
    }
    const out: ModelToken[] = [];
    for (let k = 0; k < n; k++) if (alive[k]) out.push({ id: c[k], start: starts[k], end: ends[k] });
    return out;
  }
}

/** Binary min-heap of numbers. @internal */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= x) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const m = l + 1 < n && a[l + 1] < a[l] ? l + 1 : l;
        if (a[m] >= last) break;
        a[i] = a[m];
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

// ---------------------------------------------------------------------------------------------
// WordLevel

/** Whole-word vocabulary lookup; unknown words map to the unk token (HF models/wordlevel). */
export class WordLevelModel implements Model {
  readonly type = 'WordLevel' as const;
  readonly vocab: Map<string, number>;
  private readonly byId: Map<number, string>;
  readonly unkToken: string;
  private readonly source: string;

  constructor(r: JsonReader, n: JsonNode) {
    this.source = r.source;
    ({ vocab: this.vocab, byId: this.byId } = readVocab(r, n));
    this.unkToken = r.optStr(n, 'unk_token') ?? '<unk>';
  }

  idToToken(id: number): string | undefined {
    return this.byId.get(id);
  }

  tokenize(word: string): readonly ModelToken[] {
    let id = this.vocab.get(word);
    if (id === undefined) {
      id = this.vocab.get(this.unkToken);
      if (id === undefined) {
        throw new TokenizerError(`WordLevel unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary, so the unknown word ${JSON.stringify(word)} cannot be encoded`, this.source);
      }
    }
    return [{ id, start: 0, end: word.length }];
  }
}

// ---------------------------------------------------------------------------------------------
// WordPiece

/** Greedy longest-match-first subwords with a continuation prefix (HF models/wordpiece). */
export class WordPieceModel implements Model {
  readonly type = 'WordPiece' as const;
  readonly vocab: Map<string, number>;
  private readonly byId: Map<number, string>;
  readonly unkToken: string;
  readonly prefix: string;
  private readonly maxChars: number;
  private readonly source: string;

  constructor(r: JsonReader, n: JsonNode) {
    this.source = r.source;
    ({ vocab: this.vocab, byId: this.byId } = readVocab(r, n));
    this.unkToken = r.optStr(n, 'unk_token') ?? '[UNK]';
    this.prefix = r.optStr(n, 'continuing_subword_prefix') ?? '##';
    this.maxChars = r.int(n, 'max_input_chars_per_word', 100);
  }

  idToToken(id: number): string | undefined {
    return this.byId.get(id);
  }

  private unk(word: string): ModelToken[] {
    const id = this.vocab.get(this.unkToken);
    if (id === undefined) {
      throw new TokenizerError(`WordPiece unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary, so ${JSON.stringify(word)} cannot be encoded`, this.source);
    }
    return [{ id, start: 0, end: word.length }];
  }

  tokenize(word: string): readonly ModelToken[] {
    // Code point boundaries, so that a surrogate pair is never cut.
    const bounds: number[] = [0];
    for (let i = 0; i < word.length; ) {
      i += word.codePointAt(i)! > 0xffff ? 2 : 1;
      bounds.push(i);
    }
    const nChars = bounds.length - 1;
    if (nChars > this.maxChars) return this.unk(word);
    const out: ModelToken[] = [];
    let s = 0;
    while (s < nChars) {
      let e = nChars;
      let found: number | undefined;
      while (s < e) {
        let sub = word.slice(bounds[s], bounds[e]);
        if (s > 0) sub = this.prefix + sub;
        found = this.vocab.get(sub);
        if (found !== undefined) break;
        e--;
      }
      if (found === undefined) return this.unk(word);
      out.push({ id: found, start: bounds[s], end: bounds[e] });
      s = e;
    }
    return out;
  }
}
