/**
 * MMEdit's metrics on hand-computed cases (spec §8.4): exact-match reliability / generality,
 * top-1 text locality, position-wise top-10 image locality.
 */
import { MetricInputError, mmeditCaseMetrics, topKAgreement } from '../src';

describe('topKAgreement', () => {
  test('counts equal ids at equal (position, rank)', () => {
    // position 0: ranks 0 and 2 agree (2 of 3); position 1: all 3 agree → 5 / 6
    expect(topKAgreement({ pre: [[4, 7, 9], [1, 2, 3]], post: [[4, 9, 9], [1, 2, 3]] })).toBeCloseTo(5 / 6, 12);
  });

  test('is position-wise, not set overlap: the same ids in another order disagree', () => {
    expect(topKAgreement({ pre: [[1, 2]], post: [[2, 1]] })).toBe(0);
  });

  test('rejects empty and mismatched lists', () => {
    expect(() => topKAgreement({ pre: [], post: [] })).toThrow(MetricInputError);
    expect(() => topKAgreement({ pre: [[1]], post: [[1], [2]] })).toThrow(/same number of positions/);
    expect(() => topKAgreement({ pre: [[1, 2]], post: [[1]] })).toThrow(/equal length/);
  });
});

describe('mmeditCaseMetrics', () => {
  const preds = {
    reliability: { predicted: [5, 6], target: [5, 6] },
    textGenerality: { predicted: [5, 9], target: [5, 6] },
    imageGenerality: { predicted: [5, 6], target: [5, 6] },
    textLocality: { pre: [3, 4, 8], post: [3, 1, 8] },
    imageLocality: { pre: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], post: [[1, 2, 3, 4, 5, 6, 7, 8, 10, 9]] },
  };

  test('exact match by default (EasyEdit exact_match: True)', () => {
    expect(mmeditCaseMetrics(preds)).toEqual({ reliability: 1, tGenerality: 0, mGenerality: 1, tLocality: 2 / 3, mLocality: 0.8 });
  });

  test('token accuracy when exactMatch is off', () => {
    expect(mmeditCaseMetrics(preds, { exactMatch: false }).tGenerality).toBe(0.5);
  });

  test('the unedited model agrees with itself', () => {
    const same = { ...preds, textLocality: { pre: [3, 4], post: [3, 4] }, imageLocality: { pre: [[1, 2]], post: [[1, 2]] } };
    const m = mmeditCaseMetrics(same);
    expect([m.tLocality, m.mLocality]).toEqual([1, 1]);
  });

  test('names the field of a malformed prediction', () => {
    expect(() => mmeditCaseMetrics({ ...preds, imageGenerality: { predicted: [1], target: [1, 2] } })).toThrow(/imageGenerality/);
  });
});
