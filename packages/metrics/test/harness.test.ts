/**
 * The evaluation harness on the HF parity model gpt2-trained-wordlevel (2 layers, word-level
 * vocabulary, trained on a small fact corpus: it completes "Danielle Darrieux speaks" with
 * " French."). Prediction extraction is checked against log-softmax computed by hand from the
 * model's logits; the protocols with ROME and with a cheap deterministic editor.
 */
import * as path from 'node:path';

import {
  CancelledError,
  type CausalLM,
  EditDelta,
  type EditRequest,
  type Editor,
  loadModel,
  memory,
  modelFingerprint,
  noGrad,
  tensor,
  tidy,
} from '@medit/core';
import type { EditCase } from '@medit/data';
import {
  AttributeSnippets,
  evaluate,
  referenceScore,
  mergeEvalReports,
  concatEvalReports,
  generateTexts,
  generationEntropy,
  scoreTargets,
  targetNll,
  targetNlls,
  teacherForcedPredictions,
  UNEDITED,
  validateEvalReport,
} from '@medit/metrics';
import { RomeEditor } from '@medit/rome';

import { asksEditedFact, type LocalityLinks, localityLinks, namesExactly } from '../src/harness/edited-facts';
import { spreadLoad } from '../src/harness/load';

const FIX = path.resolve(__dirname, '../../../test-fixtures/parity/gpt2-trained-wordlevel');

let model: CausalLM;
beforeAll(async () => {
  model = await loadModel(FIX);
});
afterAll(() => model.dispose());

/** A CounterFact-style case over facts the parity model knows. */
function cfCase(id: string, template: string, subject: string, targetNew: string, targetTrue: string, rephrase: string[], neighbours: [string, string][]): EditCase {
  return {
    id,
    request: { prompt: template, subject, targetNew, targetTrue },
    rephrasePrompts: rephrase,
    localityPrompts: neighbours.map(([prompt, answer]) => ({ prompt, answer, kind: 'neighborhood' })),
    portabilityPrompts: [],
    generationPrompts: [],
    source: { format: 'counterfact', file: 'parity-facts.json', index: Number(id.slice(1)) },
  };
}

const CASES: EditCase[] = [
  cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', ['The mother tongue of Danielle Darrieux is'], [
    ['The Big Ben is located in', 'London'],
    ['Frida Kahlo is a citizen of', 'Mexico'],
  ]),
  cfCase('c1', '{} is a citizen of', 'Frida Kahlo', 'Japan', 'Mexico', [], [
    ['Danielle Darrieux speaks', 'French'],
    ['The Colosseum is located in', 'Rome'],
  ]),
  cfCase('c2', 'The {} is located in', 'Eiffel Tower', 'Tokyo', 'Paris', ['Tourists visit the Eiffel Tower in', 'The Eiffel Tower is a landmark in'], [
    ['The Big Ben is located in', 'London'],
  ]),
];

/** log-softmax of one row of logits in f64. */
function logSoftmaxRow(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - max);
  const lse = max + Math.log(s);
  return Array.from(row, (x) => x - lse);
}

/** The full [T, V] logits of one unpadded sequence. */
function logitsOf(ids: number[]): { T: number; V: number; data: Float32Array } {
  return noGrad(() =>
    tidy(() => {
      const { logits } = model.forward([ids]);
      return { T: logits.shape[1], V: logits.shape[2], data: (logits.data() as Float32Array).slice() };
    }),
  );
}

describe('prediction extraction', () => {
  test('targetNll equals the hand-computed mean −log softmax over the target tokens', () => {
    const tok = model.tokenizer!;
    const prompt = 'Danielle Darrieux speaks';
    const p = tok.encode(prompt);
    // " French." is two tokens: " French" (209) and "." (2).
    const t = tok.encode(' French.', { addSpecialTokens: false });
    expect(t).toEqual([209, 2]);
    const { V, data } = logitsOf([...p, ...t]);
    // Token j of the target is predicted at position |p| + j − 1.
    const lp = t.map((id, j) => logSoftmaxRow(data.subarray((p.length + j - 1) * V, (p.length + j) * V))[id]);
    const expected = -(lp[0] + lp[1]) / 2;
    const [got] = targetNll(model, [prompt], 'French.');
    expect(Math.abs(got - expected)).toBeLessThan(1e-5);
    // The model knows the fact: P(" French." | prompt) is high, so the NLL is small but positive.
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(1);
    // The argmax at each predicting position is the target token (teacher forcing).
    const [pred] = teacherForcedPredictions(model, [prompt], 'French.');
    expect(pred).toEqual({ predicted: [209, 2], target: [209, 2] });
  });

  test('a ragged, right-padded batch gives the same numbers as one sequence at a time', () => {
    const prompts = ['Danielle Darrieux speaks', 'The Eiffel Tower is a landmark in', 'Apple makes', 'Tourists visit the Eiffel Tower in'];
    const batched = targetNlls(model, prompts, 'Tokyo', 'Paris', { batchSize: 4 });
    prompts.forEach((pr, i) => {
      const [one] = targetNlls(model, [pr], 'Tokyo', 'Paris', { batchSize: 1 });
      expect(Math.abs(batched[i].nllNew - one.nllNew)).toBeLessThan(1e-4);
      expect(Math.abs(batched[i].nllTrue - one.nllTrue)).toBeLessThan(1e-4);
    });
    // Known facts: the true object is more likely than the counterfactual one.
    expect(batched[1].nllTrue).toBeLessThan(batched[1].nllNew);
    const scored = scoreTargets(model, prompts.map((prompt) => ({ prompt, target: 'Paris' })), { batchSize: 3 });
    const single = scoreTargets(model, prompts.map((prompt) => ({ prompt, target: 'Paris' })), { batchSize: 1 });
    expect(scored.map((s) => s.predicted)).toEqual(single.map((s) => s.predicted));
  });

  test('rejects a model without tokenizer and a sequence longer than the context', () => {
    const tok = model.tokenizer;
    model.tokenizer = undefined;
    try {
      expect(() => targetNll(model, ['a'], 'b')).toThrow(/no tokenizer/);
    } finally {
      model.tokenizer = tok;
    }
    const long = Array(70).fill('Paris').join(' ');
    expect(() => targetNll(model, [long], 'Tokyo')).toThrow(/queries\[0\].*longer than the model's context \(64\)/);
  });
});

describe('evaluate: unedited baseline', () => {
  test('counterfactual targets lose on every prompt, and locality is exactly 1', async () => {
    const before = memory().numTensors;
    const fp = modelFingerprint(model);
    const report = await evaluate({ model, cases: CASES, mode: 'single' });
    expect(validateEvalReport(JSON.parse(JSON.stringify(report)))).toBeTruthy();
    expect(report.methods.map((m) => m.name)).toEqual([UNEDITED]);
    const [base] = report.methods;
    expect(base.rows!.map((r) => r.id)).toEqual(['c0', 'c1', 'c2']);
    expect(base.aggregates.efficacyScore).toMatchObject({ mean: 0, n: 3 });
    expect(base.aggregates.efficacyMagnitude.mean!).toBeLessThan(-0.3);
    expect(base.aggregates.rewriteAcc.mean).toBe(0);
    // Post-edit == pre-edit: EasyEdit locality is exactly 1 for every case.
    for (const r of base.rows!) expect(r.metrics.locality).toBe(1);
    expect(base.aggregates.locality).toMatchObject({ mean: 1, n: 3 });
    // Case c1 has no rephrase prompts: the metric is undefined there, not 0.
    expect(base.rows![1].metrics.paraphraseScore).toBeNull();
    expect(base.aggregates.paraphraseScore.n).toBe(2);
    expect(report.dataset).toMatchObject({ name: 'parity-facts', cases: 3, formats: ['counterfact'] });
    expect(modelFingerprint(model)).toBe(fp);
    expect(memory().numTensors).toBe(before);
  });
});

describe('evaluate: suites and generation', () => {
  test('zsRE cases get zsRE token accuracy (specificity against the locality answers) and its score', async () => {
    const zs: EditCase = {
      id: 'z0',
      request: { prompt: '{} speaks', subject: 'Danielle Darrieux', targetNew: 'English', targetTrue: 'French' },
      rephrasePrompts: ['The mother tongue of Danielle Darrieux is'],
      localityPrompts: [
        { prompt: 'Frida Kahlo is a citizen of', answer: 'Mexico', kind: 'nq' },
        { prompt: 'The Big Ben is located in', answer: 'Tokyo', kind: 'nq' },
      ],
      portabilityPrompts: [],
      generationPrompts: [],
      source: { format: 'zsre', file: 'z.json', index: 0 },
    };
    const [base] = (await evaluate({ model, cases: [zs] })).methods;
    const row = base.rows![0].metrics;
    // Default suites for a zsRE case: EasyEdit + zsRE, no CounterFact comparison.
    expect(row.efficacyScore).toBeUndefined();
    expect(row.efficacy).toBe(0);
    expect(row.paraphrase).toBe(0);
    // The model knows Kahlo → Mexico, and Big Ben is not in Tokyo: 1/2.
    expect(row.specificity).toBe(0.5);
    expect(row['locality/nq']).toBe(1);
    expect(base.aggregates.score).toMatchObject({ mean: 0, n: 1 });
  });

  test('generation: texts are prompt + continuation and feed generation entropy and fluency', async () => {
    const c: EditCase = { ...CASES[0], generationPrompts: ['Danielle Darrieux speaks', 'The Big Ben is located in'] };
    expect(generateTexts(model, ['Danielle Darrieux speaks'], { greedy: true, maxLength: 10 })).toEqual(['Danielle Darrieux speaks French.']);
    const gen = { greedy: true, maxLength: 10 };
    const [base] = (await evaluate({ model, cases: [c], generation: gen })).methods;
    const row = base.rows![0].metrics;
    expect(row.generationEntropy).toBeCloseTo(generationEntropy(generateTexts(model, c.generationPrompts, gen))!, 12);
    expect(row.fluency).toBeCloseTo(generationEntropy(generateTexts(model, ['Danielle Darrieux speaks'], gen))!, 12);
    expect(row.generationEntropy!).toBeGreaterThan(0);
  });

  test('generation with snippets: the Reference Score against the snippets of (relation, target_new)', async () => {
    const c: EditCase = {
      ...CASES[0],
      request: { ...CASES[0].request, relationId: 'P103', targetNewId: 'Q1860' },
      generationPrompts: ['Danielle Darrieux speaks', 'The Big Ben is located in'],
    };
    const snippets = new AttributeSnippets([
      { relation_id: 'P103', target_id: 'Q1860', samples: [{ name: 'Big Ben', text: 'The Big Ben is in London, where people speak English.' }] },
      { relation_id: 'P103', target_id: 'Q150', samples: [{ name: 'Darrieux', text: 'Danielle Darrieux speaks French.' }] },
    ]);
    const gen = { greedy: true, maxLength: 10 };
    const run = async (x: EditCase) => (await evaluate({ model, cases: [x], generation: gen, snippets })).methods[0].rows![0].metrics;
    const texts = generateTexts(model, c.generationPrompts, gen);
    const expected = referenceScore(texts, ['The Big Ben is in London, where people speak English.'], snippets.tfidf)!;
    expect(expected).toBeGreaterThan(0);
    expect((await run(c)).referenceScore).toBeCloseTo(expected, 12);
    // no snippet of that (relation, target): undefined, not 0
    expect((await run({ ...c, request: { ...c.request, targetNewId: 'Q0' } })).referenceScore).toBeNull();
    // without generation, neither entropy nor the Reference Score
    expect((await evaluate({ model, cases: [c], snippets })).methods[0].rows![0].metrics.referenceScore).toBeUndefined();
  });
});

describe('evaluate with ROME', () => {
  const hp = { mom2_adjustment: false, v_num_grad_steps: 10 };

  test('single mode: edits help, rows carry case ids, weights are bit-identical afterwards', async () => {
    const fp = modelFingerprint(model);
    const stages = new Set<string>();
    const cases = CASES.slice(0, 2);
    const report = await evaluate({ editor: new RomeEditor(hp), model, cases, mode: 'single', onProgress: (p) => stages.add(p.stage) });
    expect(modelFingerprint(model)).toBe(fp);
    expect([...stages]).toEqual(expect.arrayContaining(['baseline', 'edit', 'measure']));
    const [base, rome] = report.methods;
    expect(rome.name).toBe('ROME');
    expect(rome.hparams).toMatchObject({ ...hp, protocol: { mode: 'single' } });
    expect(rome.rows!.map((r) => r.id)).toEqual(['c0', 'c1']);
    // Both edits flip the comparison at 10 steps: efficacy goes from 0 (baseline) to 1.
    expect(base.aggregates.efficacyScore.mean).toBe(0);
    expect(rome.rows![0].metrics.efficacyScore).toBe(1);
    expect(rome.rows![1].metrics.efficacyScore).toBe(1);
    expect(rome.aggregates.efficacyMagnitude.mean!).toBeGreaterThan(base.aggregates.efficacyMagnitude.mean!);
    expect(rome.aggregates.efficacyMagnitude.ci95).not.toBeNull();
    expect(rome.efficiency).toMatchObject({ batches: 2, edits: 2 });
    expect(rome.efficiency!.peakNativeBytes!).toBeGreaterThan(0);
    expect(rome.efficiency!.editsPerSecond!).toBeGreaterThan(0);
  });

  test('sequential mode, batchSize 1: a 3-point curve and T-Patcher rates; everything reverted', async () => {
    const fp = modelFingerprint(model);
    const report = await evaluate({ editor: new RomeEditor(hp), model, cases: CASES, mode: 'sequential', batchSize: 1 });
    expect(modelFingerprint(model)).toBe(fp);
    const rome = report.methods[1];
    expect(rome.sequentialCurve!.map((p) => p.step)).toEqual([1, 2, 3]);
    for (const p of rome.sequentialCurve!) {
      expect(p.SR).toBeGreaterThanOrEqual(0);
      expect(p.ER).not.toBeNull();
    }
    // Step 1 retention = success of edit 1 right after it.
    expect(rome.sequentialCurve![0].ER).toBe(rome.sequentialCurve![0].SR);
    for (const k of ['SR', 'GR', 'ER', 'TestR']) expect(rome.aggregates[k]).toBeDefined();
    expect(rome.aggregates.SR.n).toBe(3);
    // c0 and c2 have 1 + 2 rephrases; c1 none.
    expect(rome.aggregates.GR.n).toBe(3);
    expect(rome.rows!.map((r) => r.id)).toEqual(['c0', 'c1', 'c2']);
    // c0's neighbour "Frida Kahlo is a citizen of" is c1's edit, made after c0 is measured (kept in
    // c0's row); c1's "Danielle Darrieux speaks" is c0's, already made (left out); TestR on the
    // final model leaves out both
    expect(rome.hparams.protocol).toEqual({ mode: 'sequential', batchSize: 1, evalAfter: 'each', localityInScope: 1, localityInScopeFinal: 2 });
  });
});

/**
 * A cheap deterministic editor: adds 6·ê(targetNew) to the final layer-norm bias, where ê is the
 * unit embedding of targetNew's first token (tied head), so every prediction moves toward the
 * target. Records the batch sizes it was called with; can fail on a chosen call.
 */
class BiasEditor implements Editor {
  readonly name = 'BIAS';
  readonly hparams = { scale: 6 };
  calls: number[] = [];
  /** the subjects of each call's requests, in order */
  subjects: string[][] = [];
  /** the memory hooks (AlphaEdit's), in call order: edits per delta committed or discarded */
  committed: number[] = [];
  discarded: number[] = [];
  constructor(private readonly failOnCall = -1) {}
  commit(d: EditDelta): void {
    if (!d.applied) throw new Error('commit of a delta that is not applied');
    this.committed.push(d.info.requests?.length ?? -1);
  }
  discard(d: EditDelta): void {
    if (d.applied) throw new Error('discard of a delta still applied');
    this.discarded.push(d.info.requests?.length ?? -1);
  }
  async edit(m: CausalLM, requests: EditRequest[]): Promise<EditDelta> {
    this.calls.push(requests.length);
    this.subjects.push(requests.map((r) => r.subject));
    if (this.calls.length - 1 === this.failOnCall) throw new Error('editor failed on purpose');
    const tok = m.tokenizer!;
    const wte = m.param('transformer.wte.weight');
    const [, C] = wte.shape;
    const emb = wte.data() as Float32Array;
    const d = new Float32Array(C);
    for (const r of requests) {
      const id = tok.encode(` ${r.targetNew}`, { addSpecialTokens: false })[0];
      const row = emb.subarray(id * C, (id + 1) * C);
      const norm = Math.hypot(...row);
      for (let c = 0; c < C; c++) d[c] += (6 * row[c]) / norm;
    }
    return new EditDelta([{ name: 'transformer.ln_f.bias', delta: tensor(d, [C]) }], { method: 'BIAS', requests });
  }
}

describe('evaluate: protocols and failures (deterministic editor)', () => {
  test('batch mode edits batchSize cases per call, measures against pre-edit predictions, reverts', async () => {
    const before = memory().numTensors;
    const fp = modelFingerprint(model);
    const editor = new BiasEditor();
    const report = await evaluate({ editor, model, cases: CASES, mode: 'batch', batchSize: 2 });
    expect(editor.calls).toEqual([2, 1]);
    // reverted deltas are discarded, never committed
    expect(editor.discarded).toEqual([2, 1]);
    expect(editor.committed).toEqual([]);
    expect(modelFingerprint(model)).toBe(fp);
    expect(memory().numTensors).toBe(before);
    const m = report.methods[1];
    expect(m.efficiency).toMatchObject({ batches: 2, edits: 3 });
    expect(m.hparams).toEqual({ scale: 6, protocol: { mode: 'batch', batchSize: 2, localityInScope: 2 } });
    // The bias shift drags unrelated prompts too: locality (post vs pre argmax) drops below 1.
    expect(m.aggregates.locality.mean!).toBeLessThan(1);
    expect(m.aggregates.rewriteAcc.mean!).toBeGreaterThan(0);
  });

  test('a locality prompt that asks a fact edited in the same batch is left out of locality and TestR', async () => {
    // c0's only neighbour is c1's rewrite prompt; c1's "Danielle Darrieux speaks" is c0's.
    const cases = [cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', [], [['Frida Kahlo is a citizen of', 'Mexico']]), CASES[1]];
    const run = async (keepEditedFacts: boolean, mode: 'batch' | 'sequential') =>
      (await evaluate({ editor: new BiasEditor(), model, cases, mode, batchSize: 2, keepEditedFacts })).methods[1];
    const c0 = (m: Awaited<ReturnType<typeof run>>) => m.rows!.find((r) => r.id === 'c0')!.metrics;
    const scoped = await run(false, 'batch');
    const kept = await run(true, 'batch');
    expect(scoped.hparams.protocol).toEqual({ mode: 'batch', batchSize: 2, localityInScope: 2 });
    expect(kept.hparams.protocol).toEqual({ mode: 'batch', batchSize: 2, localityInScope: 0 });
    expect(c0(kept).neighborhoodScore).toEqual(expect.any(Number));
    expect(c0(kept).locality).toEqual(expect.any(Number));
    expect(c0(scoped).neighborhoodScore ?? null).toBeNull();
    expect(c0(scoped).locality ?? null).toBeNull();
    // sequential: TestR's retain set is c1's Colosseum prompt alone, of 3 locality prompts
    expect((await run(false, 'sequential')).aggregates.TestR.n).toBe(1);
    expect((await run(true, 'sequential')).aggregates.TestR.n).toBe(3);
  });

  test('sequential: a locality prompt is left out only once its fact has been edited (rows right after each edit, TestR at the end)', async () => {
    // c0's only neighbour asks c1's fact, edited after c0 is measured; c1's first neighbour asks c0's, edited before
    const cases = [cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', [], [['Frida Kahlo is a citizen of', 'Mexico']]), CASES[1]];
    const run = async (evalAfter: 'each' | 'all') => (await evaluate({ editor: new BiasEditor(), model, cases, mode: 'sequential', batchSize: 1, evalAfter })).methods;
    const [base, each] = await run('each');
    const row = (m: typeof each, id: string) => m.rows!.find((r) => r.id === id)!.metrics;
    expect(row(each, 'c0').neighborhoodScore).toEqual(expect.any(Number));
    expect(row(each, 'c0').locality).toEqual(expect.any(Number));
    expect(each.hparams.protocol).toEqual({ mode: 'sequential', batchSize: 1, evalAfter: 'each', localityInScope: 1, localityInScopeFinal: 2 });
    // c1 keeps the Colosseum alone (a mean over one prompt), and so does its baseline row
    expect([0, 1]).toContain(row(each, 'c1').neighborhoodScore);
    expect([0, 1]).toContain(row(base, 'c1').neighborhoodScore);
    expect(row(base, 'c0').neighborhoodScore).toEqual(expect.any(Number));
    expect(each.aggregates.TestR.n).toBe(1);
    // measured at the end, every edit is in place: c0 has no locality prompt left
    const [, all] = await run('all');
    expect(row(all, 'c0').neighborhoodScore ?? null).toBeNull();
    expect(all.hparams.protocol).toMatchObject({ localityInScope: 2, localityInScopeFinal: 2 });
  });

  test('namesExactly: whole names, not a part of a longer name', () => {
    expect(namesExactly('Lamke Arc is made by', 'Lamke Arc')).toBe(true);
    expect(namesExactly('Lamke Arc 6 is made by', 'Lamke Arc')).toBe(false);
    expect(namesExactly('Lamke Arc 6 is made by', 'Lamke Arc 6')).toBe(true);
    expect(namesExactly('Zodra Luzun Fefi plays the', 'Zodra Luzun')).toBe(false);
    expect(namesExactly('The rain stopped by noon. Zodra Luzun plays the', 'Zodra Luzun')).toBe(true);
    expect(namesExactly('In Lamke Arc, the capital is', 'Lamke Arc')).toBe(true);
    expect(namesExactly('Which company employs Zodra Luzun?', 'Zodra Luzun')).toBe(true);
    expect(namesExactly('The maker of Ana Lamke Arc is', 'Lamke Arc')).toBe(false);
    expect(namesExactly('The maker of Lamke Arcs is', 'Lamke Arc')).toBe(false);
    // a later occurrence can be exact when an earlier one is not
    expect(namesExactly('Lamke Arc 6 and Lamke Arc are', 'Lamke Arc')).toBe(true);
  });

  test('asksEditedFact: the edit\'s own prompts, or its relation and subject named exactly', () => {
    const edit = { ...CASES[1], request: { ...CASES[1].request, relationId: 'P27' } };
    const owner = { ...CASES[0], request: { ...CASES[0].request, relationId: 'P27' } };
    const nb = (prompt: string) => ({ prompt, answer: 'Mexico', kind: 'neighborhood' });
    expect(asksEditedFact(nb('Frida Kahlo is a citizen of'), owner, edit)).toBe(true);
    expect(asksEditedFact(nb('The country of citizenship of Frida Kahlo is'), owner, edit)).toBe(true);
    expect(asksEditedFact(nb('The country of citizenship of Frida Kahlos is'), owner, edit)).toBe(false);
    const otherRelation = { ...owner, request: { ...owner.request, relationId: 'P103' } };
    expect(asksEditedFact(nb('The country of citizenship of Frida Kahlo is'), otherRelation, edit)).toBe(false);
    expect(asksEditedFact(nb('Frida Kahlo is a citizen of'), otherRelation, edit)).toBe(true);
    const longer = { ...edit, request: { ...edit.request, subject: 'Frida' } };
    expect(asksEditedFact(nb('The country of citizenship of Frida Kahlo is'), owner, longer)).toBe(false);
    // [case][prompt] → the cases of the group whose fact the prompt asks
    expect(localityLinks(CASES, [[0, 1, 2]]).map((c) => c!.map((l) => l.askedBy))).toEqual([[[], [1]], [[0], []], [[]]]);
    // no other edit beside any case: no links at all
    expect(localityLinks(CASES, [[0], [1], [2]])).toEqual([undefined, undefined, undefined]);
  });

  test('localityLinks: a neighbourhood prompt naming another edit\'s subject on another relation is subjectEditedBy, not askedBy', () => {
    const withRelation = (c: EditCase, relationId: string): EditCase => ({ ...c, request: { ...c.request, relationId } });
    const cases = [
      withRelation(cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', [], [
        ['Frida Kahlo speaks', 'Spanish'], // c1's subject, another relation
        ['Frida Kahlo is a citizen of', 'Mexico'], // c1's rewrite prompt: c1's fact
        ['The Big Ben is located in', 'London'],
      ]), 'P103'),
      withRelation(CASES[1], 'P27'),
    ];
    const links = localityLinks(cases, [[0, 1]]) as LocalityLinks[][];
    expect(links[0]).toEqual([
      { askedBy: [], subjectEditedBy: [1] },
      { askedBy: [1], subjectEditedBy: [] },
      { askedBy: [], subjectEditedBy: [] },
    ]);
    // c1's "Danielle Darrieux speaks" is c0's rewrite prompt: asked, so not in subjectEditedBy
    expect(links[1][0]).toEqual({ askedBy: [0], subjectEditedBy: [] });
    // keepEditedFacts leaves nothing out: a prompt asking c1's fact names c1's subject
    expect(localityLinks(cases, [[0, 1]], true)[0]!.map((l) => l.subjectEditedBy)).toEqual([[1], [1], []]);
  });

  test('neighbourhood locality split by edited subject: batch, single and sequential; the pooled locality is unchanged', async () => {
    const withRelation = (c: EditCase, relationId: string): EditCase => ({ ...c, request: { ...c.request, relationId } });
    // c0 asks about c1's subject (Frida Kahlo) on another relation, and about the Big Ben (no edit);
    // c1's neighbours name no edited subject
    const cases = [
      withRelation(cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', [], [
        ['Frida Kahlo speaks', 'Spanish'],
        ['The Big Ben is located in', 'London'],
      ]), 'P103'),
      withRelation(cfCase('c1', '{} is a citizen of', 'Frida Kahlo', 'Japan', 'Mexico', [], [['The Colosseum is located in', 'Rome']]), 'P27'),
    ];
    const EDITED = 'locality/neighborhood-subject-edited';
    const UNEDITED_SUBJECT = 'locality/neighborhood-subject-unedited';
    const run = async (mode: 'single' | 'batch' | 'sequential', evalAfter: 'each' | 'all' = 'each') =>
      (await evaluate({ editor: new BiasEditor(), model, cases, mode, batchSize: mode === 'batch' ? 2 : 1, evalAfter })).methods;
    const row = (m: Awaited<ReturnType<typeof run>>[number], id: string) => m.rows!.find((r) => r.id === id)!.metrics;
    // each side alone: one prompt per side for c0, so its agreement on the Frida Kahlo prompt and the Big Ben prompt
    const agreement = (prompt: string, answer: string, edit: EditRequest[]) => async () => {
      const before = teacherForcedPredictions(model, [prompt], answer)[0].predicted;
      const d = await new BiasEditor().edit(model, edit);
      d.apply(model);
      const after = teacherForcedPredictions(model, [prompt], answer)[0].predicted;
      d.revert(model);
      d.dispose();
      return after.filter((t, k) => t === before[k]).length / after.length;
    };
    const both = cases.map((c) => c.request);

    const [base, batch] = await run('batch');
    const c0 = row(batch, 'c0');
    expect(c0[EDITED]).toBeCloseTo(await agreement('Frida Kahlo speaks', 'Spanish', both)(), 12);
    expect(c0[UNEDITED_SUBJECT]).toBeCloseTo(await agreement('The Big Ben is located in', 'London', both)(), 12);
    // the two sides differ here, so a prompt filed on the wrong side would show
    expect(c0[EDITED]).not.toBe(c0[UNEDITED_SUBJECT]);
    // the pooled locality and its neighbourhood kind still cover both prompts
    expect(c0.locality).toBeCloseTo((c0[EDITED]! + c0[UNEDITED_SUBJECT]!) / 2, 12);
    expect(c0['locality/neighborhood']).toBe(c0.locality);
    // c1 names no edited subject: all of its neighbourhood locality is on the unedited side
    expect(row(batch, 'c1')[EDITED]).toBeNull();
    expect(row(batch, 'c1')[UNEDITED_SUBJECT]).toBe(row(batch, 'c1').locality);
    expect(batch.aggregates[EDITED].n).toBe(1);
    expect(batch.aggregates[UNEDITED_SUBJECT].n).toBe(2);
    // the baseline row has the same keys, 1 by construction
    expect(row(base, 'c0')).toMatchObject({ [EDITED]: 1, [UNEDITED_SUBJECT]: 1 });

    // single edits: no other edit is in place, no breakdown
    const [, single] = await run('single');
    expect(row(single, 'c0')).not.toHaveProperty(EDITED);
    expect(single.aggregates).not.toHaveProperty(EDITED);
    expect(row(single, 'c0').locality).toEqual(expect.any(Number));

    // a stream measured right after each edit: c1 (Frida Kahlo) is edited after c0 is measured,
    // so the prompt is on the unedited side; measured at the end, c1's edit is in place
    const [, each] = await run('sequential');
    expect(row(each, 'c0')[EDITED]).toBeNull();
    expect(row(each, 'c0')[UNEDITED_SUBJECT]).toBe(row(each, 'c0').locality);
    const [, all] = await run('sequential', 'all');
    expect(row(all, 'c0')[EDITED]).toBeCloseTo(await agreement('Frida Kahlo speaks', 'Spanish', both)(), 12);
  });

  test('sequential evalAfter "all" measures rows on the final model; SR/ER agree with sequentialMetrics', async () => {
    const fp = modelFingerprint(model);
    const editor = new BiasEditor();
    const report = await evaluate({ editor, model, cases: CASES, mode: 'sequential', batchSize: 2, evalAfter: 'all' });
    expect(modelFingerprint(model)).toBe(fp);
    // each batch stays applied, so an editor with a memory of past edits is told of each
    expect(editor.committed).toEqual([2, 1]);
    const m = report.methods[1];
    // Batches end at steps 2 and 3.
    expect(m.sequentialCurve!.map((p) => p.step)).toEqual([2, 3]);
    const last = m.sequentialCurve![1];
    expect(last.SR).toBeCloseTo(m.aggregates.SR.mean!, 12);
    // ER on the final model equals the final-model rewrite exact match, which with single-token
    // targets is the rows' rewriteAcc (rows are measured on the final model here).
    expect(m.aggregates.ER.mean).toBeCloseTo(m.aggregates.rewriteAcc.mean!, 12);
    // CounterFact cases: the curve's scores at the last step are those of the final-model rows.
    for (const k of ['efficacyScore', 'paraphraseScore', 'neighborhoodScore']) expect(last[k]).toBeCloseTo(m.aggregates[k].mean!, 12);
    expect(m.sequentialCurve![0].efficacyScore).toEqual(expect.any(Number));
  });

  test('sequential TrainR: final / initial exact match on the retain set, as scored by hand on the edited model', async () => {
    const retain = [
      { prompt: 'Danielle Darrieux speaks', target: 'French' },
      { prompt: 'The Colosseum is located in', target: 'Rome' },
      { prompt: 'Frida Kahlo is a citizen of', target: 'Mexico' },
      { prompt: 'The Big Ben is located in', target: 'London' },
    ];
    const matched = () => scoreTargets(model, retain).map((s) => s.predicted.every((t, i) => t === s.targetIds[i]));
    const initial = matched();
    // the same edits applied by hand: BiasEditor is deterministic, batches of 2 then 1
    const by = new BiasEditor();
    const deltas = [await by.edit(model, CASES.slice(0, 2).map((c) => c.request)), await by.edit(model, [CASES[2].request])];
    deltas.forEach((d) => d.apply(model));
    const final = matched();
    deltas.reverse().forEach((d) => (d.revert(model), d.dispose()));
    const count = (xs: boolean[]) => xs.filter(Boolean).length;
    expect(count(initial)).toBeGreaterThan(0);
    // the bias toward English/Japan/Tokyo must cost some retain answers, or the test shows nothing
    expect(count(final)).toBeLessThan(count(initial));
    const report = await evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'sequential', batchSize: 2, trainRetain: retain });
    const m = report.methods[1];
    expect(m.aggregates.TrainR.mean).toBeCloseTo(count(final) / count(initial), 12);
    expect(m.aggregates.TrainR.n).toBe(retain.length);
    await expect(evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'single', trainRetain: retain })).rejects.toThrow(/mode 'sequential'/);
    await expect(evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'sequential', trainRetain: [] })).rejects.toThrow(/non-empty array of \{prompt, target\} for trainRetain/);
  });

  test('an editor error rejects the promise and leaves the weights as they were', async () => {
    const fp = modelFingerprint(model);
    const before = memory().numTensors;
    await expect(evaluate({ editor: new BiasEditor(1), model, cases: CASES, mode: 'sequential' })).rejects.toThrow('editor failed on purpose');
    expect(modelFingerprint(model)).toBe(fp);
    expect(memory().numTensors).toBe(before);
  });

  test('abort stops the run with CancelledError and reverts', async () => {
    const fp = modelFingerprint(model);
    const ac = new AbortController();
    const editor = new BiasEditor();
    const run = evaluate({
      editor,
      model,
      cases: CASES,
      mode: 'sequential',
      signal: ac.signal,
      onProgress: (p) => {
        if (p.stage === 'measure') ac.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(editor.calls).toEqual([1]);
    expect(modelFingerprint(model)).toBe(fp);
  });

  test('mergeEvalReports keeps one baseline and the methods of every run; duplicate names are refused', async () => {
    const cases = CASES.slice(0, 1);
    const a = await evaluate({ editor: new BiasEditor(), model, cases, mode: 'single' });
    const b = await evaluate({ editor: new BiasEditor(), model, cases, mode: 'sequential', methodName: 'BIAS seq' });
    const merged = mergeEvalReports([a, b]);
    expect(merged.methods.map((m) => m.name)).toEqual([UNEDITED, 'BIAS', 'BIAS seq']);
    // The two baselines are equal (pre-edit predictions are deterministic).
    expect(b.methods[0].rows).toEqual(a.methods[0].rows);
    expect(() => mergeEvalReports([a, a])).toThrow(/method "BIAS" appears in two reports/);
    await expect(evaluate({ editor: new BiasEditor(), model, cases, methodName: UNEDITED })).rejects.toThrow(/other than "unedited" .*methodName/);
  });

  test('concatEvalReports of shards equals one run over all the cases', async () => {
    expect(CASES.length).toBeGreaterThanOrEqual(3);
    const whole = await evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'single' });
    const shards = [
      await evaluate({ editor: new BiasEditor(), model, cases: CASES.slice(0, 1), mode: 'single' }),
      await evaluate({ editor: new BiasEditor(), model, cases: CASES.slice(1), mode: 'single' }),
    ];
    const joined = concatEvalReports(shards);
    expect(joined.methods.map((m) => m.name)).toEqual(whole.methods.map((m) => m.name));
    // Equal up to float rounding: a shard batches its prompts differently (other padding).
    // Shards score their prompts in other batch compositions (other padding), so f32 logits
    // and everything derived from them agree to ~1e-6, not bit-exactly.
    const near = (x: unknown): unknown =>
      typeof x === 'number' ? expect.closeTo(x, 5) : Array.isArray(x) ? x.map(near) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, near(v)])) : x;
    for (const [k, m] of joined.methods.entries()) {
      expect(m.rows).toEqual(near(whole.methods[k].rows));
      expect(m.aggregates).toEqual(near(whole.methods[k].aggregates));
    }
    // Efficiency pools: edits add up; the per-edit mean is the mean over all edits.
    const eff = joined.methods[1].efficiency!;
    expect(eff.edits).toBe(CASES.length);
    const perEdit = shards.map((r) => r.methods[1].efficiency!.msPerEdit);
    expect(eff.msPerEdit.mean).toBeCloseTo((perEdit[0].mean! * perEdit[0].n + perEdit[1].mean! * perEdit[1].n) / CASES.length, 9);
    expect(() => concatEvalReports([shards[0], shards[0]])).toThrow(/case .* is also in an earlier shard/);
    const seq = await evaluate({ editor: new BiasEditor(), model, cases: CASES.slice(1), mode: 'sequential' });
    expect(() => concatEvalReports([shards[0], seq])).toThrow(/sequential run/);
    expect(() => concatEvalReports([])).toThrow(/at least one shard/);
  });

  test('invalid options are named', async () => {
    await expect(evaluate({ model, cases: [], mode: 'single' })).rejects.toThrow(/non-empty array of EditCase for cases/);
    await expect(evaluate({ model, cases: CASES, mode: 'parallel' as never })).rejects.toThrow(/for mode but received "parallel"/);
    await expect(evaluate({ model, cases: CASES, mode: 'batch', batchSize: 0 })).rejects.toThrow(/positive integer for batchSize/);
    await expect(evaluate({ model, cases: CASES, mode: 'single', suites: ['rouge' as never] })).rejects.toThrow(/for suites but received "rouge"/);
  });
});

describe('evaluate: load edits (edited beside the cases, never measured)', () => {
  const withRelation = (c: EditCase, relationId: string): EditCase => ({ ...c, request: { ...c.request, relationId } });
  /** a load case on the Colosseum (no case's prompt asks it) */
  const colosseum = cfCase('l0', 'The {} is located in', 'Colosseum', 'Tokyo', 'Rome', [], []);
  /** c1's Frida Kahlo fact as a load case */
  const frida = withRelation({ ...CASES[1], id: 'l1', source: { format: 'counterfact', file: 'parity-train.json', index: 1 } }, 'P27');

  test('spreadLoad: an equal contiguous share (±1) per batch, in order, interleaved evenly among the batch\'s cases', () => {
    // 5 load edits (5…9) over 3 batches: shares [0,1), [1,3), [3,5)
    expect(spreadLoad([[0, 1], [2, 3], [4]], 5, 5)).toEqual([[0, 5, 1], [2, 6, 3, 7], [8, 4, 9]]);
    // one batch of every case: all the load edits go into it
    expect(spreadLoad([[0, 1, 2]], 3, 2)).toEqual([[0, 3, 1, 4, 2]]);
    // more batches than load edits: some batches get none
    expect(spreadLoad([[0], [1], [2]], 3, 2)).toEqual([[0], [1, 3], [2, 4]]);
    expect(spreadLoad([[0, 1], [2]], 3, 0)).toEqual([[0, 1], [2]]);
  });

  test('batch: the load requests are in the editor call, change what the model predicts, and are never rows or aggregates', async () => {
    const cases = [CASES[0], CASES[2]];
    const load = [colosseum, frida];
    const fp = modelFingerprint(model);
    const editor = new BiasEditor();
    const report = await evaluate({ editor, model, cases, mode: 'batch', batchSize: 2, load });
    expect(modelFingerprint(model)).toBe(fp);
    // one call: the two cases with the two load edits interleaved
    expect(editor.subjects).toEqual([['Danielle Darrieux', 'Colosseum', 'Eiffel Tower', 'Frida Kahlo']]);
    const [base, m] = report.methods;
    for (const method of [base, m]) expect(method.rows!.map((r) => r.id)).toEqual(['c0', 'c2']);
    expect(m.aggregates.rewriteAcc.n).toBe(2);
    expect(m.aggregates.efficacyScore.n).toBe(2);
    expect(m.efficiency).toMatchObject({ batches: 1, edits: 4 });
    expect(m.hparams.protocol).toMatchObject({ mode: 'batch', batchSize: 2, loadEdits: 2 });
    expect(report.dataset).toMatchObject({ cases: 2, load: { name: 'parity-facts.json, parity-train.json', cases: 2 } });
    // the load edits are made: the case's rows differ from a run without them (the bias toward Tokyo and Japan)
    const without = (await evaluate({ editor: new BiasEditor(), model, cases, mode: 'batch', batchSize: 2 })).methods[1];
    expect(without.hparams.protocol).not.toHaveProperty('loadEdits');
    expect(m.rows!.map((r) => r.metrics.efficacyMagnitude)).not.toEqual(without.rows!.map((r) => r.metrics.efficacyMagnitude));
    // several batches: each call gets its share
    const split = new BiasEditor();
    await evaluate({ editor: split, model, cases, mode: 'batch', batchSize: 1, load });
    expect(split.subjects).toEqual([['Danielle Darrieux', 'Colosseum'], ['Eiffel Tower', 'Frida Kahlo']]);
  });

  test('a locality prompt asking a load edit\'s fact is left out (kept with keepEditedFacts); a subject a load edit rewrites is an edited subject', async () => {
    // c0 asks Frida Kahlo's citizenship (the load edit's fact), her language (another relation) and the Big Ben
    const c0 = withRelation(cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', [], [
      ['Frida Kahlo is a citizen of', 'Mexico'],
      ['Frida Kahlo speaks', 'Spanish'],
      ['The Big Ben is located in', 'London'],
    ]), 'P103');
    const run = async (load: EditCase[] | undefined, keepEditedFacts = false) =>
      (await evaluate({ editor: new BiasEditor(), model, cases: [c0], mode: 'batch', batchSize: 1, load, keepEditedFacts })).methods[1];
    const EDITED = 'locality/neighborhood-subject-edited';
    const UNEDITED_SUBJECT = 'locality/neighborhood-subject-unedited';
    const loaded = await run([frida]);
    expect(loaded.hparams.protocol).toMatchObject({ localityInScope: 1 });
    const row = loaded.rows![0].metrics;
    // 2 of 3 prompts kept: the language one on the edited side, the Big Ben on the other
    expect(row[EDITED]).toEqual(expect.any(Number));
    expect(row[UNEDITED_SUBJECT]).toEqual(expect.any(Number));
    expect(row.locality).toBeCloseTo((row[EDITED]! + row[UNEDITED_SUBJECT]!) / 2, 12);
    expect(loaded.aggregates[EDITED].n).toBe(1);
    // kept: all 3 prompts, the citizenship one on the edited side too
    const kept = await run([frida], true);
    expect(kept.hparams.protocol).toMatchObject({ localityInScope: 0 });
    expect(kept.rows![0].metrics.locality).not.toBe(row.locality);
    // a load edit on an unrelated subject: nothing left out, every prompt on the unedited side
    const other = await run([colosseum]);
    expect(other.hparams.protocol).toMatchObject({ localityInScope: 0 });
    expect(other.rows![0].metrics[EDITED]).toBeNull();
    // no load: a batch of one has no other edit in place, so no split and nothing left out
    const alone = await run(undefined);
    expect(alone.rows![0].metrics).not.toHaveProperty(EDITED);
    expect(alone.hparams.protocol).toMatchObject({ localityInScope: 0 });
  });

  test('sequential: each batch gets its share; a load edit\'s fact is left out once it is in place (rows right after each batch, TestR at the end)', async () => {
    const c0 = cfCase('c0', '{} speaks', 'Danielle Darrieux', 'English', 'French', [], [['Frida Kahlo is a citizen of', 'Mexico']]);
    const cases = [c0, CASES[2]];
    const load = [colosseum, frida];
    const run = async (evalAfter: 'each' | 'all') => {
      const editor = new BiasEditor();
      const m = (await evaluate({ editor, model, cases, mode: 'sequential', batchSize: 1, evalAfter, load })).methods[1];
      return { m, editor };
    };
    const { m: each, editor } = await run('each');
    // the Frida Kahlo load edit comes with the second batch, after c0 is measured
    expect(editor.subjects).toEqual([['Danielle Darrieux', 'Colosseum'], ['Eiffel Tower', 'Frida Kahlo']]);
    expect(editor.committed).toEqual([2, 2]);
    expect(each.rows!.map((r) => r.id)).toEqual(['c0', 'c2']);
    expect(each.rows![0].metrics.neighborhoodScore).toEqual(expect.any(Number));
    expect(each.hparams.protocol).toEqual({ mode: 'sequential', batchSize: 1, evalAfter: 'each', loadEdits: 2, localityInScope: 0, localityInScopeFinal: 1 });
    // TestR: c2's Big Ben prompt alone; SR / ER over the cases only
    expect(each.aggregates.TestR.n).toBe(1);
    expect(each.aggregates.SR.n).toBe(2);
    expect(each.aggregates.ER.n).toBe(2);
    expect(each.sequentialCurve!.map((p) => p.step)).toEqual([1, 2]);
    const { m: all } = await run('all');
    expect(all.rows![0].metrics.neighborhoodScore ?? null).toBeNull();
  });

  test('refused: load in single mode, a load subject a case edits, two load cases on one fact', async () => {
    await expect(evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'single', load: [colosseum] })).rejects.toThrow(/mode 'batch' or 'sequential' .* for mode with load but received "single"/);
    const darrieux = cfCase('l9', '{} lives in', 'Danielle Darrieux', 'Tokyo', 'Paris', [], []);
    await expect(evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'batch', load: [colosseum, darrieux] })).rejects.toThrow(
      'load: 1 load case edit a subject the measured cases edit (load case "l9" (parity-facts.json) and case "c0" (parity-facts.json) both edit "Danielle Darrieux")',
    );
    const again = { ...colosseum, id: 'l7', request: { ...colosseum.request, targetNew: 'Paris' } };
    await expect(evaluate({ editor: new BiasEditor(), model, cases: CASES, mode: 'sequential', load: [colosseum, again] })).rejects.toThrow(
      /load: 1 load case rewrite a fact another load case rewrites: "l0" \(parity-facts.json\) and "l7" \(parity-facts.json\) \("Colosseum", "The \{\} is located in"\)/,
    );
    // the same subject on another relation is another fact
    const lives = cfCase('l8', '{} lives in', 'Colosseum', 'Tokyo', 'Rome', [], []);
    await expect(evaluate({ model, cases: CASES, mode: 'batch', load: [colosseum, lives] })).resolves.toBeDefined();
  });
});
