/**
 * A slice of the reader fuzzing (scripts/fuzz/readers.ts; the 1,000,000-case run is reported in
 * bench/RESULTS.md): mutated safetensors files, tokenizer.json files, dataset records and
 * hyperparameter files are either read or rejected with the reader's typed error naming the file.
 */
import { fuzzReaders } from '../readers';

test('4,000 mutated inputs: every reader accepts or rejects by name, nothing else', async () => {
  const stats = await fuzzReaders({ cases: 4000, seed: 11 });
  for (const [target, s] of Object.entries(stats)) {
    expect([target, s.failures, s.examples]).toEqual([target, 0, []]);
    expect(s.cases).toBe(1000);
    expect(s.rejected).toBeGreaterThan(0); // the mutants do reach the error paths
    expect(s.accepted).toBeGreaterThan(0); // and some stay valid
  }
});
