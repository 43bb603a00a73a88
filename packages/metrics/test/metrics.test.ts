import {
  aggregate,
  aggregateOptionsFor,
  AttributeSnippets,
  aggregateSequentialRuns,
  isProportionMetric,
  wilsonInterval,
  counterFactCaseMetrics,
  counterFactScore,
  createRng,
  easyEditCaseMetrics,
  efficacyMagnitude,
  essencePerplexity,
  fluency,
  generationEntropy,
  harmonicMean,
  localityAcc,
  meanNll,
  meanTokenAccuracy,
  MetricInputError,
  nGramEntropy,
  neighborhoodScore,
  referenceScore,
  rephraseAcc,
  retainRate,
  rewriteAcc,
  sequentialCurve,
  SequentialEditRun,
  sequentialMetrics,
  summarizeEfficiency,
  textNGramEntropy,
  TfIdfModel,
  tfidfTokens,
  tokenAccuracy,
  tokenAgreement,
  tokenExactMatch,
  wordTokenize,
  zsreCaseMetrics,
  zsreScore,
} from '@medit/metrics';

const H3_ABA = -((2 / 3) * Math.log2(2 / 3) + (1 / 3) * Math.log2(1 / 3)); // 0.9182958...

describe('aggregation', () => {
  it('normal-approximation CI: mean ± 1.96·s/√n', () => {
    const a = aggregate([1, 0, 1, 1]);
    expect(a.mean).toBe(0.75);
    expect(a.std).toBeCloseTo(0.5, 12);
    expect(a.n).toBe(4);
    expect(a.ci95![0]).toBeCloseTo(0.75 - (1.959963984540054 * 0.5) / 2, 12);
    expect(a.ci95![1]).toBeCloseTo(0.75 + (1.959963984540054 * 0.5) / 2, 12);
  });
  it('Wilson score interval of a proportion: hand-computed, always inside [0, 1]', () => {
    // (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n), z = 1.959964
    const a = aggregate([1, 0, 1, 1], { method: 'wilson' });
    expect(a.mean).toBe(0.75);
    expect(a.ci95![0]).toBeCloseTo(0.30064184258240184, 12);
    expect(a.ci95![1]).toBeCloseTo(0.9544127391902995, 12);
    expect(wilsonInterval(1, 10)[0]).toBeCloseTo(0.7224672001371107, 12);
    expect(wilsonInterval(1, 10)[1]).toBeCloseTo(1, 12);
    expect(wilsonInterval(0, 10)).toEqual([0, expect.closeTo(0.2775327998628892, 12)]);
    // n = 1 and p = 0.5: the normal interval would be undefined (no spread) or [-0.48, 1.48]
    const one = aggregate([0.5], { method: 'wilson' });
    expect(one.ci95![0]).toBeCloseTo(0.05462075552885198, 12);
    expect(one.ci95![1]).toBeCloseTo(0.945379244471148, 12);
    for (const xs of [[1, 1], [0, 0, 0], [1, 0], [0.2, 0.9, 1]]) {
      const [lo, hi] = aggregate(xs, { method: 'wilson' }).ci95!;
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    expect(aggregate([], { method: 'wilson' })).toEqual({ mean: null, ci95: null, n: 0, std: null });
    expect(() => aggregate([1.5], { method: 'wilson' })).toThrow(/values in \[0, 1\]/);
    expect(() => wilsonInterval(0.5, 0)).toThrow(/positive integer/);
  });
  it('proportions get Wilson intervals in reports, other metrics normal ones', () => {
    expect(['efficacyScore', 'neighborhoodScore', 'rewriteAcc', 'locality', 'locality/neighborhood', 'portability/one_hop', 'specificity', 'ER'].every(isProportionMetric)).toBe(true);
    expect(['efficacyMagnitude', 'generationEntropy', 'referenceScore', 'fluency', 'score', 'TestR'].some(isProportionMetric)).toBe(false);
    expect(aggregateOptionsFor('efficacyScore')).toEqual({ method: 'wilson' });
    expect(aggregateOptionsFor('efficacyMagnitude')).toEqual({ method: 'normal' });
    expect(aggregateOptionsFor('efficacyScore', { method: 'bootstrap', seed: 1 })).toEqual({ method: 'bootstrap', seed: 1 });
  });
  it('null/NaN are excluded; n < 2 has no interval; empty gives null mean', () => {
    expect(aggregate([null, NaN, 2])).toEqual({ mean: 2, ci95: null, n: 1, std: null });
    expect(aggregate([])).toEqual({ mean: null, ci95: null, n: 0, std: null });
    expect(() => aggregate([1, Infinity])).toThrow(MetricInputError);
  });
  it('seeded bootstrap is reproducible and close to the normal interval for n = 200', () => {
    const xs = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const b1 = aggregate(xs, { method: 'bootstrap', seed: 7 });
    const b2 = aggregate(xs, { method: 'bootstrap', seed: 7 });
    const b3 = aggregate(xs, { method: 'bootstrap', seed: 8 });
    const nrm = aggregate(xs);
    expect(b1).toEqual(b2);
    expect(b1.ci95).not.toEqual(b3.ci95);
    expect(b1.ci95![0]).toBeCloseTo(nrm.ci95![0], 1);
    expect(b1.ci95![1]).toBeCloseTo(nrm.ci95![1], 1);
    expect(b1.ci95![0]).toBeLessThan(0.5);
    expect(b1.ci95![1]).toBeGreaterThan(0.5);
    expect(aggregate([3, 3, 3], { method: 'bootstrap' }).ci95).toEqual([3, 3]);
  });
  it('harmonic mean', () => {
    expect(harmonicMean([1, 0.5])).toBeCloseTo(2 / 3, 12);
    expect(harmonicMean([0.9, 0.5, 0])).toBe(0);
    expect(harmonicMean([])).toBeNull();
    expect(() => harmonicMean([-1, 1])).toThrow(/Expected finite non-negative numbers/);
  });
  it('rng is deterministic and in [0,1)', () => {
    const r = createRng(42);
    const xs = Array.from({ length: 1000 }, () => r());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(createRng(42)()).toBe(xs[0]);
    expect(Math.abs(xs.reduce((a, b) => a + b, 0) / 1000 - 0.5)).toBeLessThan(0.05);
  });
});

describe('token metrics', () => {
  it('multi-token accuracy and exact match', () => {
    expect(tokenAccuracy({ predicted: [5, 9, 7], target: [5, 7, 7] })).toBeCloseTo(2 / 3, 12);
    expect(tokenExactMatch({ predicted: [5, 9, 7], target: [5, 7, 7] })).toBe(false);
    expect(tokenExactMatch({ predicted: [4], target: [4] })).toBe(true);
  });
  it('rejects length mismatch and empty targets with a clear message', () => {
    expect(() => tokenAccuracy({ predicted: [1], target: [1, 2] }, 'rewrite')).toThrow(
      'Expected rewrite.predicted and rewrite.target to have the same length but received 1 and 2',
    );
    expect(() => tokenAccuracy({ predicted: [], target: [] })).toThrow(/at least one token/);
    expect(() => tokenAgreement({ pre: [1, 2], post: [1] })).toThrow(/same length/);
  });
  it('meanTokenAccuracy of nothing is null', () => {
    expect(meanTokenAccuracy([])).toBeNull();
  });
});

describe('EasyEdit metrics', () => {
  it('per-case row with per-kind locality and portability', () => {
    const row = easyEditCaseMetrics({
      rewrite: { predicted: [1, 2, 3], target: [1, 2, 4] },
      rephrase: [
        { predicted: [1, 2], target: [1, 2] },
        { predicted: [1, 9], target: [1, 2] },
      ],
      locality: {
        Relation_Specificity: [
          { pre: [1, 2], post: [1, 3] },
          { pre: [4], post: [4] },
        ],
        Forgetfulness: [{ pre: [7, 7, 7], post: [7, 7, 7] }],
      },
      portability: { Reasoning: [{ predicted: [3, 3], target: [3, 4] }] },
    });
    expect(row.rewriteAcc).toBeCloseTo(2 / 3, 12);
    expect(row.rephraseAcc).toBeCloseTo(0.75, 12);
    expect(row['locality/Relation_Specificity']).toBeCloseTo(0.75, 12);
    expect(row['locality/Forgetfulness']).toBe(1);
    expect(row.locality).toBeCloseTo((0.5 + 1 + 1) / 3, 12);
    expect(row['portability/Reasoning']).toBe(0.5);
    expect(row.portability).toBe(0.5);
    expect(row.fluency).toBeUndefined();
  });
  it('empty locality / rephrase / portability sets are null, not a crash', () => {
    expect(localityAcc([])).toBeNull();
    expect(rephraseAcc([])).toBeNull();
    const row = easyEditCaseMetrics({ rewrite: { predicted: [1], target: [1] }, generations: [] });
    expect(row).toEqual({ rewriteAcc: 1, rephraseAcc: null, locality: null, portability: null, fluency: null });
  });
  it('locality compares with pre-edit predictions, not the ground truth', () => {
    // Both wrong w.r.t. any answer but unchanged by the edit: locality is perfect.
    expect(localityAcc([{ pre: [8, 8], post: [8, 8] }])).toBe(1);
  });
  it('rewriteAcc names its argument in errors', () => {
    expect(() => rewriteAcc({ predicted: [1, 2], target: [1] })).toThrow(/rewrite\.predicted/);
  });
});

describe('n-gram entropy (ROME/EasyEdit fluency)', () => {
  it('hand-computed H2, H3 and the (2/3, 4/3) weighting', () => {
    const toks = ['a', 'b', 'a', 'b', 'a'];
    expect(nGramEntropy(toks, 2)).toBeCloseTo(1, 12);
    expect(nGramEntropy(toks, 3)).toBeCloseTo(H3_ABA, 12);
    expect(textNGramEntropy('a b a b a')).toBeCloseTo((1 + 2 * H3_ABA) / 3, 12);
    expect(generationEntropy(['a b a b a', 'x y z w'])).toBeCloseTo(((1 + 2 * H3_ABA) / 3 + (Math.log2(3) + 2 * 1) / 3) / 2, 12);
  });
  it('degenerate texts', () => {
    expect(textNGramEntropy('hello')).toBe(0);
    expect(textNGramEntropy('')).toBe(0);
    expect(generationEntropy([])).toBeNull();
    expect(fluency(['the the the the'])).toBe(0);
  });
  it('word tokenizer splits punctuation and clitics like NLTK', () => {
    expect(wordTokenize("Don't stop, John's (friend) said.")).toEqual(['Do', "n't", 'stop', ',', 'John', "'s", '(', 'friend', ')', 'said', '.']);
    expect(wordTokenize('He moved to the U.S. in 1990!')).toEqual(['He', 'moved', 'to', 'the', 'U.S.', 'in', '1990', '!']);
  });
});

describe('CounterFact (ROME)', () => {
  const e = Math.exp;
  const m = counterFactCaseMetrics({
    rewrite: [{ nllNew: 0.5, nllTrue: 2.0 }],
    paraphrase: [
      { nllNew: 0.1, nllTrue: 1.0 },
      { nllNew: 3.0, nllTrue: 1.0 },
    ],
    neighborhood: [
      { nllNew: 2.0, nllTrue: 1.0 },
      { nllNew: 1.0, nllTrue: 1.0 },
    ],
  });
  it('scores and magnitudes by hand', () => {
    expect(m.efficacyScore).toBe(1);
    expect(m.efficacyMagnitude).toBeCloseTo(e(-0.5) - e(-2), 12);
    expect(m.paraphraseScore).toBe(0.5);
    expect(m.paraphraseMagnitude).toBeCloseTo((e(-0.1) - e(-1) + (e(-3) - e(-1))) / 2, 12);
    expect(m.neighborhoodScore).toBe(0.5); // the tie counts as a failure
    expect(m.neighborhoodMagnitude).toBeCloseTo((e(-1) - e(-2)) / 2, 12);
    expect(counterFactScore(m.efficacyScore, m.paraphraseScore, m.neighborhoodScore)).toBeCloseTo(0.6, 12);
  });
  it('target equal to the true object: equal NLLs give ES = NS = 0 and zero magnitude', () => {
    const same = counterFactCaseMetrics({ rewrite: [{ nllNew: 1.3, nllTrue: 1.3 }], paraphrase: [], neighborhood: [{ nllNew: 0.7, nllTrue: 0.7 }] });
    expect(same.efficacyScore).toBe(0);
    expect(same.efficacyMagnitude).toBe(0);
    expect(same.neighborhoodScore).toBe(0);
    expect(same.paraphraseScore).toBeNull();
    expect(counterFactScore(same.efficacyScore, 1, 1)).toBe(0);
  });
  it('empty neighbourhood is null and propagates to the score', () => {
    expect(neighborhoodScore([])).toBeNull();
    expect(counterFactScore(1, 0.5, null)).toBeNull();
  });
  it('infinite NLL (probability 0) is legal; NaN and negative are not', () => {
    expect(efficacyMagnitude([{ nllNew: 0, nllTrue: Infinity }])).toBe(1);
    expect(() => neighborhoodScore([{ nllNew: NaN, nllTrue: 1 }])).toThrow('Expected a non-negative NLL for neighborhood[0].nllNew but received NaN');
    expect(() => efficacyMagnitude([{ nllNew: 1, nllTrue: -0.1 }])).toThrow(/rewrite\[0\]\.nllTrue/);
  });
  it('meanNll and essence perplexity', () => {
    expect(meanNll([-1, -3])).toBe(2);
    expect(() => meanNll([0.2])).toThrow(MetricInputError);
    // N = 3 tokens, 2 conditional log-probs, divisor N.
    expect(essencePerplexity([-1, -2])).toBeCloseTo(Math.exp(3 / 3), 12);
  });
  it('generation entropy and reference score are filled when given', () => {
    const tfidf = TfIdfModel.fit(['paris is the capital of france', 'berlin is in germany']);
    const r = counterFactCaseMetrics(
      { rewrite: [{ nllNew: 1, nllTrue: 2 }], paraphrase: [], neighborhood: [], generations: ['a b a b a'] },
      { referenceTexts: ['paris france'], tfidf },
    );
    expect(r.generationEntropy).toBeCloseTo((1 + 2 * H3_ABA) / 3, 12);
    expect(r.referenceScore).toBeNull(); // "a b a b a" has no vocabulary term
  });
});

describe('TF-IDF (sklearn TfidfVectorizer defaults)', () => {
  const corpus = ['the cat sat', 'the dog sat', 'a cat ran'];
  const model = TfIdfModel.fit(corpus);
  const idfThe = Math.log(4 / 3) + 1;
  const idfDog = Math.log(4 / 2) + 1;
  it('smooth idf', () => {
    expect(model.size).toBe(5); // "a" is a 1-character token and dropped
    expect(model.idfOf('the')).toBeCloseTo(idfThe, 12);
    expect(model.idfOf('DOG')).toBeCloseTo(idfDog, 12);
    expect(model.idfOf('a')).toBeUndefined();
  });
  it('cosine of l2-normalised vectors', () => {
    expect(model.cosine('the cat', 'the dog')).toBeCloseTo(idfThe / (Math.SQRT2 * Math.hypot(idfThe, idfDog)), 12);
    expect(model.cosine('cat cat the', 'the cat cat')).toBeCloseTo(1, 12);
    expect(model.cosine('dog', 'cat')).toBe(0);
    expect(model.cosine('zebra', 'cat')).toBeNull();
  });
  it('reference score joins the texts', () => {
    expect(referenceScore(['the', 'cat'], ['the cat'], model)).toBeCloseTo(1, 12);
    expect(referenceScore([], ['cat'], model)).toBeNull();
  });
  it('unicode tokens and precomputed idf', () => {
    expect(tfidfTokens('Café au lait, ça va? x_y 1')).toEqual(['café', 'au', 'lait', 'ça', 'va', 'x_y']);
    const m2 = TfIdfModel.fromIdf({ cat: 0, dog: 1 }, [1, 2]);
    expect(m2.cosine('cat dog', 'dog')).toBeCloseTo(2 / Math.sqrt(5), 12);
    expect(() => TfIdfModel.fromIdf({ cat: 3 }, [1])).toThrow(/vocab\["cat"\]/);
    expect(() => TfIdfModel.fit([])).toThrow(/at least one document/);
  });
});

describe('attribute snippets (ROME consistency references)', () => {
  it('groups texts by relation and object id and fits TF-IDF on all of them', () => {
    const s = new AttributeSnippets([
      { relation_id: 'P27', target_id: 'Q1', samples: [{ name: 'a', text: 'alpha lives in varsa' }, { name: 'b', text: 'beta lives in varsa' }] },
      { relation_id: 'P27', target_id: 'Q2', samples: [{ name: 'c', text: 'gamma lives in drisk' }] },
    ]);
    expect(s.texts('P27', 'Q1')).toEqual(['alpha lives in varsa', 'beta lives in varsa']);
    expect(s.texts('P27', 'Q3')).toEqual([]);
    expect(s.texts(undefined, 'Q1')).toEqual([]);
    // idf over the 3 snippets: "varsa" in 2 → ln(4/3) + 1; "lives" in 3 → ln(4/4) + 1
    expect(s.tfidf.idfOf('varsa')).toBeCloseTo(Math.log(4 / 3) + 1, 12);
    expect(s.tfidf.idfOf('lives')).toBeCloseTo(1, 12);
    expect(() => new AttributeSnippets([{ relation_id: 'P27', target_id: 'Q1', samples: [{ name: 'a' } as never] }])).toThrow(/samples\[0\]\.text/);
  });
});

describe('zsRE', () => {
  it('token-level accuracies and score', () => {
    const m = zsreCaseMetrics({
      rewrite: { predicted: [1, 2], target: [1, 2] },
      paraphrase: [{ predicted: [1, 3], target: [1, 2] }],
      neighborhood: [],
    });
    expect(m).toEqual({ efficacy: 1, paraphrase: 0.5, specificity: null });
    expect(zsreScore(1, 0.5, 1)).toBeCloseTo(0.75, 12);
    expect(zsreScore(m.efficacy, m.paraphrase, m.specificity)).toBeNull();
  });
});

describe('sequential editing (T-Patcher)', () => {
  const run: SequentialEditRun = {
    steps: [
      { editCorrect: true, rephraseCorrect: [true, false], pastEditsCorrect: [true] },
      { editCorrect: true, rephraseCorrect: [true], pastEditsCorrect: [true, true] },
      { editCorrect: false, rephraseCorrect: [], pastEditsCorrect: [true, false, false] },
      { editCorrect: true, rephraseCorrect: [false, false], pastEditsCorrect: [true, true, false, true] },
    ],
    finalEditsCorrect: [true, true, false, true],
    train: { initialCorrect: [true, true, true, false], finalCorrect: [true, true, false, true] },
    test: { initialCorrect: [true, false], finalCorrect: [true, true] },
  };
  it('SR, GR (pooled), ER, TrainR, TestR (ratio, may exceed 1)', () => {
    expect(sequentialMetrics(run)).toEqual({ SR: 0.75, GR: 0.4, ER: 0.75, TrainR: 1, TestR: 2 });
  });
  it('curve every 2 edits', () => {
    const c = sequentialCurve(run, 2);
    expect(c.map((p) => p.step)).toEqual([2, 4]);
    expect(c[0].SR).toBe(1);
    expect(c[0].GR).toBeCloseTo(2 / 3, 12);
    expect(c[0].ER).toBe(1);
    expect(c[1]).toEqual({ step: 4, SR: 0.75, GR: 0.4, ER: 0.75 });
    expect(sequentialCurve(run, 3).map((p) => p.step)).toEqual([3, 4]);
  });
  it('empty runs and undefined ratios are null', () => {
    expect(sequentialMetrics({ steps: [], finalEditsCorrect: [] })).toEqual({ SR: null, GR: null, ER: null, TrainR: null, TestR: null });
    expect(retainRate({ initialCorrect: [false, false], finalCorrect: [true, false] })).toBeNull();
  });
  it('input shape errors', () => {
    expect(() => sequentialMetrics({ ...run, finalEditsCorrect: [true] })).toThrow(/one entry per edit \(4\) but received 1/);
    expect(() => retainRate({ initialCorrect: [true], finalCorrect: [] }, 'train')).toThrow(/train\.initialCorrect/);
    const bad = { ...run, steps: [{ editCorrect: true, rephraseCorrect: [], pastEditsCorrect: [true, true] }], finalEditsCorrect: [true] };
    expect(() => sequentialCurve(bad)).toThrow(/steps\[0\]\.pastEditsCorrect/);
  });
  it('averages over folds', () => {
    const other: SequentialEditRun = { steps: [{ editCorrect: false, rephraseCorrect: [true] }], finalEditsCorrect: [false] };
    const a = aggregateSequentialRuns([run, other]);
    expect(a.SR.mean).toBeCloseTo((0.75 + 0) / 2, 12);
    expect(a.GR.mean).toBeCloseTo((0.4 + 1) / 2, 12);
    expect(a.TrainR).toEqual({ mean: 1, ci95: null, n: 1, std: null });
  });
});

describe('efficiency', () => {
  it('summarises timing records', () => {
    const s = summarizeEfficiency([
      { edits: 1, wallMs: 500, peakNativeBytes: 100 },
      { edits: 1, wallMs: 700 },
      { edits: 2, wallMs: 1000, peakNativeBytes: 300 },
    ]);
    expect(s.batches).toBe(3);
    expect(s.edits).toBe(4);
    expect(s.totalMs).toBe(2200);
    expect(s.msPerEdit.mean).toBeCloseTo((500 + 700 + 500) / 3, 10);
    expect(s.msPerBatch.mean).toBeCloseTo(2200 / 3, 10);
    expect(s.editsPerSecond).toBeCloseTo(4 / 2.2, 12);
    expect(s.peakNativeBytes).toBe(300);
  });
  it('empty and invalid inputs', () => {
    const s = summarizeEfficiency([]);
    expect(s).toMatchObject({ batches: 0, edits: 0, totalMs: 0, editsPerSecond: null, peakNativeBytes: null });
    expect(s.msPerEdit.mean).toBeNull();
    expect(() => summarizeEfficiency([{ edits: 0, wallMs: 1 }])).toThrow('Expected a positive integer for records[0].edits but received 0');
    expect(() => summarizeEfficiency([{ edits: 1, wallMs: -5 }])).toThrow(/records\[0\]\.wallMs/);
  });
});
