/**
 * The mass editors' runs at the bars' size (one batch of `n` edits; a stream of ⌈n / seqBatch⌉
 * calls of `seqBatch`) on a split with fewer than `n` records: the validation split has 399
 * CounterFact records, the bar's batch 1,000, and how much room the edited layers have left
 * depends on how many edits share them (tuned on 399 alone, MEMIT's layers 0–1 gave ES 0.92 on
 * validation and 0.75 on the 1,000 eval edits). So the batch or stream is filled up to `n` with
 * *load* edits from the train split (`medit eval --load`: edited in the same calls, never
 * scored; distinct subjects), and only the split's records are measured. A split with `n`
 * records or more (eval) runs as before, without load.
 */

/** `medit eval` arguments of the two protocols, and how many load edits they add. */
export interface MassProtocol {
  /** one batch of every measured record plus the load */
  batch: string[];
  /** the stream: as many calls as the bars' stream, each with its share of measured records and load */
  sequential: string[];
  /** load edits (0 when the split has `n` records) */
  load: number;
}

/**
 * @param o.n - the bars' batch size (edits in place at the end)
 * @param o.seqBatch - edits per call of the bars' stream
 * @param o.cases - records of the measured split
 * @param o.loadFile - the train split's CounterFact file
 * @example massProtocol({ n: 1000, seqBatch: 20, cases: 399, loadFile }) // batch of 399 + 601 load; 50 calls of 8 + ~12
 */
export function massProtocol(o: { n: number; seqBatch: number; cases: number; loadFile: string }): MassProtocol {
  const measured = Math.min(o.cases, o.n);
  const load = o.n - measured;
  const loadArgs = load > 0 ? ['--load', o.loadFile, '--load-limit', String(load)] : [];
  // with load, the measured records are spread over the bars' number of calls (load fills each up to ~seqBatch)
  const perCall = load > 0 ? Math.ceil(measured / Math.ceil(o.n / o.seqBatch)) : o.seqBatch;
  return {
    batch: ['--mode', 'batch', '--batch-size', String(o.n), ...loadArgs],
    sequential: ['--mode', 'sequential', '--batch-size', String(perCall), ...loadArgs],
    load,
  };
}
