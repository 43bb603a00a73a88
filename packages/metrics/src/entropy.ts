/**
 * N-gram entropy of generated text: ROME's "generation entropy" (GE, CounterFact fluency) and
 * EasyEdit's `fluency` use the same routine (`kmeng01/rome` `experiments/py/eval_utils_counterfact.py`
 * `compute_n_gram_entropy`; EasyEdit `evaluate_utils.py::n_gram_entropy`).
 */
import { expected } from './errors';

const TRAILING = new Set(['.', ',', ';', ':', '!', '?', '"', '\u201d', '\u2019', ')', ']', '}', '>', '\u2026']);
const LEADING = new Set(['"', '\u201c', '\u2018', '(', '[', '{', '<']);
const CLITIC = /^(.+?)(n't|n\u2019t|'s|'re|'ve|'ll|'d|'m|\u2019s|\u2019re|\u2019ve|\u2019ll|\u2019d|\u2019m)$/i;

/**
 * Word tokenizer approximating NLTK's `word_tokenize` (Treebank rules) closely enough for n-gram
 * statistics: splits on whitespace, peels leading quotes/brackets and trailing punctuation into
 * their own tokens, and separates clitics (`don't` → `do n't`, `John's` → `John 's`). A trailing
 * period stays attached when the word holds another period (`U.S.`, `e.g.`). Differences from NLTK
 * are limited to abbreviation handling (NLTK uses Punkt sentence splitting).
 */
export function wordTokenize(text: string): string[] {
  const out: string[] = [];
  for (const chunk of text.split(/\s+/u)) {
    if (chunk === '') continue;
    let s = chunk;
    while (s.length > 0 && LEADING.has(s[0])) {
      out.push(s[0]);
      s = s.slice(1);
    }
    const tail: string[] = [];
    while (s.length > 0 && TRAILING.has(s[s.length - 1])) {
      const c = s[s.length - 1];
      if (c === '.' && s.slice(0, -1).includes('.')) break;
      tail.unshift(c);
      s = s.slice(0, -1);
    }
    if (s.length > 0) {
      const m = CLITIC.exec(s);
      if (m) out.push(m[1], m[2]);
      else out.push(s);
    }
    out.push(...tail);
  }
  return out;
}

/**
 * Shannon entropy (bits) of the n-gram frequency distribution of one token sequence:
 * `Hₙ = −Σ_g f(g) log₂ f(g)`, f = relative frequency of each distinct n-gram. 0 when the sequence
 * has fewer than n tokens (numpy on an empty distribution sums to 0 in the reference).
 */
export function nGramEntropy(tokens: readonly string[], n: number): number {
  if (!Number.isInteger(n) || n < 1) throw expected('a positive integer', 'n', n);
  const counts = new Map<string, number>();
  let total = 0;
  for (let i = 0; i + n <= tokens.length; i++) {
    // \u0000 cannot occur inside a word token, so joined keys are unambiguous.
    const key = tokens.slice(i, i + n).join('\u0000');
    counts.set(key, (counts.get(key) ?? 0) + 1);
    total++;
  }
  let h = 0;
  for (const c of counts.values()) {
    const f = c / total;
    h -= f * Math.log2(f);
  }
  return h;
}

/**
 * Weighted 2-/3-gram entropy of one text: `mean([2/3·H₂, 4/3·H₃]) = (H₂ + 2·H₃)/3`.
 * Source: ROME `compute_n_gram_entropy` (ns = [2, 3], weights = [2/3, 4/3], mean of the weighted
 * list); locate-then-edit spec §9.
 *
 * @param text - a string (tokenized with {@link wordTokenize}) or an already tokenized sequence.
 */
export function textNGramEntropy(text: string | readonly string[]): number {
  const toks = typeof text === 'string' ? wordTokenize(text) : text;
  return ((2 / 3) * nGramEntropy(toks, 2) + (4 / 3) * nGramEntropy(toks, 3)) / 2;
}

/**
 * Generation entropy / fluency: arithmetic mean over texts of {@link textNGramEntropy}
 * (ROME `agg="arith"`). Returns null for an empty list of texts.
 *
 * @example generationEntropy(['a b a b a']) // (H₂ + 2H₃)/3 with H₂ = 1, H₃ = 0.918… → 0.945…
 */
export function generationEntropy(texts: readonly (string | readonly string[])[]): number | null {
  if (texts.length === 0) return null;
  let s = 0;
  for (const t of texts) s += textNGramEntropy(t);
  return s / texts.length;
}
