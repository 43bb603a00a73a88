/**
 * Subject-name words for fact-base: each a head syllable plus a tail syllable ("Ra" + "kem" →
 * "Rakem"), every word used once in the world.
 *
 * Why two syllables from small inventories: a byte-level BPE trained on the corpus merges what is
 * frequent. Heads and tails recur across many names, so they become tokens early and cheaply;
 * each name word then needs a single merge (head + tail) to become one token, and since every
 * subject's name words are its own, that token is unique to the subject. Random syllable strings
 * (fact-world's WordMaker) need several merges per word, so a vocabulary of the same size leaves
 * many names split into shared pieces (measured: 42 % of 3,200 subjects shared a first or last
 * token at 10,000 tokens, against the ≤ 5 % issue 26 asks for).
 */
import type { Rng } from '../factworld/prng';

const ONSETS = ['b', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'dr', 'gr', 'kr', 'tr', 'st', 'sh', 'j'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ei', 'au'];
const CODAS = ['', 'n', 'r', 'l', 's', 'm', 'nd', 'rk', 'st', 'lt'];

/** `n` distinct syllables (onset + vowel + coda) drawn without replacement. */
function syllables(rng: Rng, n: number, exclude: ReadonlySet<string>): string[] {
  const all: string[] = [];
  for (const o of ONSETS) for (const v of VOWELS) for (const c of CODAS) if (!exclude.has(o + v + c)) all.push(o + v + c);
  if (n > all.length) throw new RangeError(`Cannot draw ${n} syllables from ${all.length}`);
  return rng.sample(all, n);
}

/**
 * Draws `count` distinct name words (capitalised head + lower-case tail), none in `reserved`
 * (lower-case words that must not occur: template words, other entity names).
 * @param heads size of the head inventory
 * @param tails size of the tail inventory (heads × tails must exceed `count`)
 * @throws RangeError when the inventories cannot give `count` words
 */
export function nameWords(rng: Rng, count: number, heads: number, tails: number, reserved: ReadonlySet<string>): string[] {
  const h = syllables(rng, heads, new Set());
  const t = syllables(rng, tails, new Set(h));
  const words: string[] = [];
  for (const a of h) {
    for (const b of t) {
      const w = a + b;
      // No doubled letter across the join ("Rannor") and no more than 8 letters.
      if (a[a.length - 1] === b[0] || w.length > 8 || reserved.has(w)) continue;
      words.push(w[0].toUpperCase() + w.slice(1));
    }
  }
  if (words.length < count) throw new RangeError(`Expected ${heads} heads x ${tails} tails to give ${count} name words but they give ${words.length}`);
  return rng.sample(words, count);
}
