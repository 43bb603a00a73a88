/**
 * Packing tokenised documents into fixed-length training rows (GPT-2 style): documents are
 * shuffled, joined with EOS, never split across rows (a document longer than a row is cut to
 * `row - 1` tokens), rows padded with EOS; padding is no loss target (-100).
 */

/** Rows of token ids and their next-token targets (-100 where there is none). */
export interface PackedRows {
  ids: number[][];
  targets: number[][];
}

/**
 * Packs `docs` into rows of `row` tokens in a random order drawn from `rng` (one Fisher-Yates
 * shuffle: the generator advances by `docs.length - 1` draws).
 */
export function packRows(docs: number[][], eos: number, rng: () => number, row: number): PackedRows {
  const order = docs.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const ids: number[][] = [];
  const targets: number[][] = [];
  let current: number[] = [];
  const flush = () => {
    if (current.length === 0) return;
    const n = current.length;
    const padded = [...current, ...Array(row - n).fill(eos)];
    ids.push(padded);
    targets.push(padded.map((_, t) => (t + 1 < n ? padded[t + 1] : -100)));
    current = [];
  };
  for (const k of order) {
    const doc = docs[k].slice(0, row - 1);
    const need = current.length === 0 ? doc.length : doc.length + 1;
    if (current.length + need > row) flush();
    if (current.length > 0) current.push(eos);
    current.push(...doc);
  }
  flush();
  return { ids, targets };
}
