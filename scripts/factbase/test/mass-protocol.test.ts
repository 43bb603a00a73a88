/** The mass editors' protocol at the bars' size: load edits fill a small split up to the batch. */
import { massProtocol } from '../mass-protocol';

const loadFile = 'edits/counterfact-train.json';

test('399 validation records: one batch of 1,000 with 601 load edits; 50 calls of 8 records and their share of the load', () => {
  const p = massProtocol({ n: 1000, seqBatch: 20, cases: 399, loadFile });
  expect(p.load).toBe(601);
  expect(p.batch).toEqual(['--mode', 'batch', '--batch-size', '1000', '--load', loadFile, '--load-limit', '601']);
  expect(p.sequential).toEqual(['--mode', 'sequential', '--batch-size', '8', '--load', loadFile, '--load-limit', '601']);
  // the stream keeps the bars' number of calls: ⌈399 / 8⌉ = 50, each ~8 + ~12 edits
  expect(Math.ceil(399 / 8)).toBe(1000 / 20);
});

test('a split with at least n records runs without load, in calls of seqBatch', () => {
  for (const cases of [1000, 1200]) {
    const p = massProtocol({ n: 1000, seqBatch: 20, cases, loadFile });
    expect(p.load).toBe(0);
    expect(p.batch).toEqual(['--mode', 'batch', '--batch-size', '1000']);
    expect(p.sequential).toEqual(['--mode', 'sequential', '--batch-size', '20']);
  }
});

test('the stream never has more calls than the bars\' stream', () => {
  for (const cases of [1, 7, 50, 51, 99, 399, 999]) {
    const p = massProtocol({ n: 1000, seqBatch: 20, cases, loadFile });
    const perCall = Number(p.sequential[3]);
    expect(Math.ceil(cases / perCall)).toBeLessThanOrEqual(50);
    expect(p.load).toBe(1000 - cases);
  }
});
