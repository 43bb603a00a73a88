/**
 * Added tokens (special tokens such as `<|endoftext|>`, `[CLS]`, `<s>`, and user-added words),
 * matched in the text before pre-tokenization with leftmost-longest semantics (HF
 * tokenizers/src/tokenizer/added_vocabulary.rs). Tokens with `normalized: false` are matched in the
 * raw text, the others in the normalized text.
 * @internal
 */
import { JsonReader, join } from './json';
import { NormalizedString, WHITE_SPACE_CLASS } from './normalized-string';
import type { Normalizer } from './normalizers';
import type { Model } from './models';

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly singleWord: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

interface TrieNode {
  next: Map<number, TrieNode>;
  token?: AddedToken;
}

/** A piece of text after added-token extraction: either an added token or text to tokenize. */
export interface AddedSplit {
  ns: NormalizedString;
  token?: AddedToken;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const ENDS_WITH_WORD = new RegExp(`${WORD_CHAR.source}$`, 'u');
const STARTS_WITH_WORD = new RegExp(`^${WORD_CHAR.source}`, 'u');
const TRAILING_SPACE = new RegExp(`[${WHITE_SPACE_CLASS}]*$`, 'u');
const LEADING_SPACE = new RegExp(`^[${WHITE_SPACE_CLASS}]*`, 'u');

/** @internal */
export class AddedVocabulary {
  readonly byId = new Map<number, AddedToken>();
  readonly byContent = new Map<string, AddedToken>();
  /** Normalized form of `normalized: true` tokens whose form differs from their content. */
  private readonly normalizedForm = new Map<number, string>();
  private readonly specials = new Set<string>();
  private readonly rawTrie: TrieNode = { next: new Map() };
  private readonly normTrie: TrieNode = { next: new Map() };
  private hasRaw = false;
  private hasNorm = false;

  constructor(r: JsonReader, list: unknown, model: Model, normalizer: Normalizer | undefined) {
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) r.fail(`Expected an array for "added_tokens" but received ${typeof list}`);
    list.forEach((item, i) => {
      const n = r.node(item, join('added_tokens', i));
      const content = r.str(n, 'content');
      if (content.length === 0) return; // HF ignores empty added tokens
      const declared = r.int(n, 'id');
      // As HF does, a token already in the model's vocabulary keeps the model's id.
      const id = model.vocab.get(content) ?? declared;
      const tok: AddedToken = {
        id,
        content,
        singleWord: r.bool(n, 'single_word', false),
        lstrip: r.bool(n, 'lstrip', false),
        rstrip: r.bool(n, 'rstrip', false),
        normalized: r.bool(n, 'normalized', true),
        special: r.bool(n, 'special', false),
      };
      this.byId.set(id, tok);
      this.byContent.set(content, tok);
      if (tok.special) this.specials.add(content);
    });
    for (const tok of this.byId.values()) {
      let pattern = tok.content;
      if (tok.normalized && normalizer) {
        pattern = normalizer(NormalizedString.fromOriginal(tok.content)).text;
        if (pattern !== tok.content) this.normalizedForm.set(tok.id, pattern);
      }
      if (pattern.length === 0) continue;
      let node = tok.normalized ? this.normTrie : this.rawTrie;
      if (tok.normalized) this.hasNorm = true;
      else this.hasRaw = true;
      for (let k = 0; k < pattern.length; k++) {
        const c = pattern.charCodeAt(k);
        let nx = node.next.get(c);
        if (!nx) node.next.set(c, (nx = { next: new Map() }));
        node = nx;
      }
      node.token = tok;
    }
  }

  get size(): number {
    return this.byId.size;
  }

  isSpecial(content: string): boolean {
    return this.specials.has(content);
  }

  /** The string an added token decodes to (its normalized form when it is matched normalized, as HF does). */
  decodeForm(id: number): string | undefined {
    const t = this.byId.get(id);
    return t === undefined ? undefined : (this.normalizedForm.get(id) ?? t.content);
  }

  /** Splits `ns` on the raw (`normalized: false`) or normalized added tokens; empty text pieces are dropped. */
  split(ns: NormalizedString, which: 'raw' | 'normalized'): AddedSplit[] {
    const trie = which === 'raw' ? this.rawTrie : this.normTrie;
    if (!(which === 'raw' ? this.hasRaw : this.hasNorm) || ns.length === 0) return ns.length === 0 ? [] : [{ ns }];
    const t = ns.text;
    const out: AddedSplit[] = [];
    let startOffset = 0;
    let i = 0;
    while (i < t.length) {
      // Longest token starting at i.
      let node: TrieNode | undefined = trie;
      let best: AddedToken | undefined;
      let bestEnd = i;
      for (let k = i; k < t.length; k++) {
        node = node.next.get(t.charCodeAt(k));
        if (!node) break;
        if (node.token) {
          best = node.token;
          bestEnd = k + 1;
        }
      }
      if (!best) {
        i++;
        continue;
      }
      let start = i;
      let stop = bestEnd;
      i = bestEnd;
      if (start < startOffset) continue; // inside whitespace swallowed by a previous rstrip
      if (best.singleWord) {
        const startOk = start === 0 || !ENDS_WITH_WORD.test(t.slice(0, start));
        const stopOk = stop === t.length || !STARTS_WITH_WORD.test(t.slice(stop));
        if (!startOk || !stopOk) continue;
      }
      if (best.lstrip) {
        const before = t.slice(0, start);
        const m = TRAILING_SPACE.exec(before);
        start = Math.max(m ? m.index : start, startOffset);
      }
      if (best.rstrip) stop += LEADING_SPACE.exec(t.slice(stop))![0].length;
      if (startOffset < start) out.push({ ns: ns.slice(startOffset, start) });
      out.push({ ns: ns.slice(start, stop), token: best });
      startOffset = stop;
      i = Math.max(i, stop);
    }
    if (startOffset < t.length) out.push({ ns: ns.slice(startOffset, t.length) });
    return out;
  }
}
