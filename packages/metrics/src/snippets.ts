/**
 * ROME's attribute snippets (`kmeng01/rome` `dsets/attr_snippets.py`, `attribute_snippets.json`):
 * texts about subjects that truly have an object, keyed by relation and object id. They are the
 * references of the CounterFact Reference Score (consistency): the texts generated after an edit
 * are compared with the snippets of `(relation_id, target_new.id)`, under a TF-IDF model fitted on
 * every snippet (`dsets/tfidf_stats.py`).
 */
import { expected } from './errors';
import { TfIdfModel } from './tfidf';

/** One record of ROME's `attribute_snippets.json`. */
export interface AttributeSnippetRecord {
  relation_id: string;
  target_id: string;
  samples: { name: string; text: string }[];
}

/** Snippets by relation and object, with the TF-IDF model fitted on all of them. */
export class AttributeSnippets {
  private readonly byKey = new Map<string, string[]>();
  /** TF-IDF fitted on every snippet text (ROME: `tfidf_vocab.json` / `idf.npy` from the snippets). */
  readonly tfidf: TfIdfModel;

  /**
   * @param records ROME's `attribute_snippets.json` layout
   * @throws {MetricInputError} when a record lacks `relation_id`, `target_id` or `samples[].text`, or there is no text at all
   * @example
   * const s = new AttributeSnippets(JSON.parse(fs.readFileSync('attribute_snippets.json', 'utf8')));
   * s.texts('P27', 'Q100003'); // texts about subjects who are citizens of Q100003
   */
  constructor(records: readonly AttributeSnippetRecord[]) {
    if (!Array.isArray(records)) throw expected('an array of {relation_id, target_id, samples}', 'attribute snippets', records);
    const all: string[] = [];
    records.forEach((r, i) => {
      if (typeof r?.relation_id !== 'string' || typeof r.target_id !== 'string' || !Array.isArray(r.samples)) {
        throw expected('{relation_id: string, target_id: string, samples: array}', `attribute snippets[${i}]`, r);
      }
      const texts = r.samples.map((s: { text?: unknown }, k: number) => {
        const text = s?.text;
        if (typeof text !== 'string') throw expected('a string', `attribute snippets[${i}].samples[${k}].text`, text);
        return text;
      });
      const key = `${r.relation_id}\u0000${r.target_id}`;
      this.byKey.set(key, [...(this.byKey.get(key) ?? []), ...texts]);
      all.push(...texts);
    });
    this.tfidf = TfIdfModel.fit(all);
  }

  /** The snippets of subjects whose `relation` object is `targetId` (empty when there are none). */
  texts(relation: string | undefined, targetId: string | undefined): readonly string[] {
    if (relation === undefined || targetId === undefined) return [];
    return this.byKey.get(`${relation}\u0000${targetId}`) ?? [];
  }
}
