/**
 * Word-level noise on training queries, after EDA (Wei & Zou, "EDA: Easy Data Augmentation
 * Techniques for Boosting Performance on Text Classification Tasks", EMNLP-IJCNLP 2019): random
 * replacement, insertion, swap and deletion of words. EDA replaces words by thesaurus synonyms;
 * with no thesaurus here a replacement or inserted word is drawn from a vocabulary of the
 * training texts. A classifier (or counterfactual model) that only ever saw a handful of
 * phrasings learns their filler words as cues; noised copies make the filler unreliable, so it
 * keys on the words that carry the question's content and copes with phrasings it never saw.
 */
import { ArgumentError } from '@medit/core';

import type { Rng } from './examples';

/** How {@link perturbWords} noises a text. */
export interface WordNoise {
  /** probability that a training query is noised at all (0 leaves every query as it is) */
  share: number;
  /** EDA's α: the share of a text's words changed (at least one) */
  rate: number;
  /** words to replace with and insert (e.g. {@link textVocabulary} of the training texts) */
  vocabulary: readonly string[];
}

const OPERATIONS = ['replace', 'insert', 'swap', 'delete'] as const;

/** Splits "here?" into the word "here" and its trailing punctuation "?". */
function splitPunctuation(token: string): [string, string] {
  const m = /^(.*?)([^\p{L}\p{N}]*)$/u.exec(token)!;
  return [m[1], m[2]];
}

/**
 * `text` with round(rate · words) (at least one) EDA operations of one kind drawn uniformly:
 * replace a word by a vocabulary word, insert a vocabulary word before a random word, swap two words,
 * or delete a word (never a text's only word). Punctuation stays at the end of the word position it
 * followed ("What shape is it?" → "What colour is it?"). Deterministic for `rng`.
 * @throws ArgumentError for a rate outside [0, 1] or an empty vocabulary
 * @example perturbWords('Whose flag is shown here?', { rate: 0.2, vocabulary: ['picture'] }, makeRng(0)) // e.g. 'Whose flag is picture here?'
 */
export function perturbWords(text: string, noise: Pick<WordNoise, 'rate' | 'vocabulary'>, rng: Rng): string {
  if (!(noise.rate >= 0 && noise.rate <= 1)) throw new ArgumentError(`perturbWords: rate must be in [0, 1], not ${noise.rate}`);
  if (noise.vocabulary.length === 0) throw new ArgumentError('perturbWords: the vocabulary is empty');
  const tokens = text.split(' ').filter((t) => t !== '');
  if (tokens.length === 0) return text;
  const pairs = tokens.map(splitPunctuation);
  const words = pairs.map((p) => p[0]);
  const punctuation = pairs.map((p) => p[1]);
  const n = Math.max(1, Math.round(noise.rate * words.length));
  const op = OPERATIONS[rng.int(OPERATIONS.length)];
  for (let k = 0; k < n; k++) {
    if (op === 'replace') words[rng.int(words.length)] = rng.pick(noise.vocabulary);
    else if (op === 'insert') {
      // before a word, so that a final "?" stays last
      const at = rng.int(words.length);
      words.splice(at, 0, rng.pick(noise.vocabulary));
      punctuation.splice(at, 0, '');
    } else if (op === 'swap' && words.length > 1) {
      const i = rng.int(words.length);
      const j = rng.int(words.length);
      [words[i], words[j]] = [words[j], words[i]];
    } else if (op === 'delete' && words.length > 1) {
      const i = rng.int(words.length);
      words.splice(i, 1);
      // the deleted word's punctuation moves to its predecessor (keeps a final "?")
      const [p] = punctuation.splice(i, 1);
      if (p) punctuation[Math.max(0, i - 1)] += p;
    }
  }
  return words.map((w, i) => w + punctuation[i]).join(' ');
}

/**
 * The lower-case words of `texts` (names, which start with a capital, left out), sorted: a
 * vocabulary for {@link perturbWords} that holds only words the texts already use.
 */
export function textVocabulary(texts: readonly string[]): string[] {
  const words = new Set<string>();
  for (const t of texts) for (const token of t.split(/\s+/)) {
    const [w] = splitPunctuation(token);
    if (/^[\p{Ll}\p{N}][\p{L}\p{N}'-]*$/u.test(w)) words.add(w);
  }
  return [...words].sort();
}

/** `text` noised with probability `noise.share` (no random draw at all when the share is 0 or noise is absent). */
export function maybePerturbWords(text: string, noise: WordNoise | undefined, rng: Rng): string {
  if (!noise || noise.share <= 0) return text;
  return rng.next() < noise.share ? perturbWords(text, noise, rng) : text;
}
