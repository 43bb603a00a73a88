/**
 * TF-IDF vectors and cosine similarity, matching scikit-learn's `TfidfVectorizer` defaults as ROME
 * uses them for the CounterFact reference score (`kmeng01/rome` `dsets/tfidf_stats.py`,
 * `experiments/py/eval_utils_counterfact.py::tfidf_similarity`):
 *
 * - analyzer: lowercase, tokens = maximal runs of ≥ 2 word characters (sklearn's
 *   `(?u)\b\w\w+\b`; word characters = Unicode letters, digits, underscore);
 * - term frequency: raw counts; no sublinear tf;
 * - idf (smooth_idf=True): `idf(t) = ln((1 + N) / (1 + df(t))) + 1`, N = number of documents;
 * - each vector is L2-normalised; terms outside the fitted vocabulary are ignored.
 */
import { expected } from './errors';

const TOKEN = /[\p{L}\p{N}_]{2,}/gu;

/** Tokens as the default sklearn analyzer produces them (lowercased). */
export function tfidfTokens(text: string): string[] {
  return text.toLowerCase().match(TOKEN) ?? [];
}

/** A fitted TF-IDF model: vocabulary → column, and one idf weight per column. */
export class TfIdfModel {
  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly idf: Float64Array,
  ) {}

  /**
   * Fit vocabulary and idf on a corpus (ROME: all attribute-snippet texts).
   * @throws {MetricInputError} for an empty corpus.
   * @example
   * ```ts
   * const m = TfIdfModel.fit(['paris is in france', 'berlin is in germany']);
   * m.cosine('paris france', 'france'); // > 0
   * ```
   */
  static fit(corpus: readonly string[]): TfIdfModel {
    if (corpus.length === 0) throw expected('at least one document', 'corpus', corpus);
    const df = new Map<string, number>();
    for (const doc of corpus) {
      for (const t of new Set(tfidfTokens(doc))) df.set(t, (df.get(t) ?? 0) + 1);
    }
    // sklearn orders columns by sorted term; order does not change cosines but keeps vectors comparable.
    const terms = [...df.keys()].sort();
    const vocab = new Map<string, number>();
    const idf = new Float64Array(terms.length);
    const n = corpus.length;
    terms.forEach((t, i) => {
      vocab.set(t, i);
      idf[i] = Math.log((1 + n) / (1 + (df.get(t) as number))) + 1;
    });
    return new TfIdfModel(vocab, idf);
  }

  /**
   * Use a precomputed vocabulary and idf vector (ROME ships `tfidf_vocab.json` and `idf.npy`).
   * @throws {MetricInputError} when a vocabulary index is out of range or an idf value is not finite.
   */
  static fromIdf(vocab: Readonly<Record<string, number>>, idf: ArrayLike<number>): TfIdfModel {
    const map = new Map<string, number>();
    for (const [t, i] of Object.entries(vocab)) {
      if (!Number.isInteger(i) || i < 0 || i >= idf.length) throw expected(`an index in [0, ${idf.length})`, `vocab["${t}"]`, i);
      map.set(t, i);
    }
    const w = Float64Array.from(idf);
    w.forEach((v, i) => {
      if (!Number.isFinite(v)) throw expected('finite idf values', `idf[${i}]`, v);
    });
    return new TfIdfModel(map, w);
  }

  /** Number of vocabulary terms. */
  get size(): number {
    return this.vocab.size;
  }

  /** idf weight of a (lowercased) term, or undefined when it is not in the vocabulary. */
  idfOf(term: string): number | undefined {
    const i = this.vocab.get(term.toLowerCase());
    return i === undefined ? undefined : this.idf[i];
  }

  /** Sparse L2-normalised tf-idf vector (column → weight); empty when no term is in the vocabulary. */
  transform(text: string): Map<number, number> {
    const v = new Map<number, number>();
    for (const t of tfidfTokens(text)) {
      const i = this.vocab.get(t);
      if (i !== undefined) v.set(i, (v.get(i) ?? 0) + 1);
    }
    let norm = 0;
    for (const [i, c] of v) {
      const w = c * this.idf[i];
      v.set(i, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (const [i, w] of v) v.set(i, w / norm);
    return v;
  }

  /** Cosine similarity of two texts' tf-idf vectors; null when either vector is zero. */
  cosine(a: string, b: string): number | null {
    const va = this.transform(a);
    const vb = this.transform(b);
    if (va.size === 0 || vb.size === 0) return null;
    let dot = 0;
    for (const [i, w] of va) {
      const u = vb.get(i);
      if (u !== undefined) dot += w * u;
    }
    return dot;
  }
}
