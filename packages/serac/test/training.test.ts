/**
 * SERAC training on fact-tiny's training edits (few steps, tiny encoder): the pair sets hold what
 * the recipe says (rephrases in scope; neighbours, namesakes and the subject's other relations
 * out of scope), both classifier variants and the counterfactual model learn (their losses fall),
 * and a trained classifier saves as a directory that loads on the engine.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { fillTemplate, loadModel, noGrad, targetIds, tidy, crossEntropy } from '@medit/core';
import { readDataset } from '@medit/data';

import {
  buildScopeTrainingSet,
  calibrateThreshold,
  classifierTokenizer,
  contextPrefixes,
  counterfactualContext,
  editStatement,
  embedTexts,
  encodeSingle,
  EngineEncoder,
  loadTextEncoder,
  readScopeConfig,
  saveScopeClassifier,
  Serac,
  ScopeClassifier,
  splitBySubject,
  THRESHOLD_GRID,
  type ThresholdRow,
  trainCounterfactual,
  trainScopeClassifier,
  trainSerac,
} from '../src';

const ROOT = path.resolve(__dirname, '../../..');
const TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const CASES = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-train.json')).cases;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('training pairs: rephrases in scope; neighbours, namesakes and the subject under other relations out of scope', () => {
  const edits = buildScopeTrainingSet(CASES, 0);
  expect(edits).toHaveLength(CASES.length);
  for (const [i, e] of edits.entries()) {
    const c = CASES[i];
    expect(e.inScope).toContain(fillTemplate(c.request.prompt, c.request.subject));
    for (const p of c.rephrasePrompts) expect(e.inScope).toContain(p);
    for (const q of e.outOfScope) expect(e.inScope).not.toContain(q.query);
    for (const q of e.outOfScope.filter((x) => x.kind === 'same-subject')) expect(q.query).toContain(c.request.subject);
    for (const q of e.outOfScope.filter((x) => x.kind === 'other-subject')) expect(q.query).not.toContain(c.request.subject);
  }
  expect(contextPrefixes(CASES).every((p) => p.endsWith('.'))).toBe(true);
  expect(editStatement({ prompt: '{} works as a', subject: 'Leda Vagam', targetNew: 'lawyer' })).toBe('Leda Vagam works as a lawyer');
});

test.each(['embedding', 'cross'] as const)('the %s scope classifier learns (balanced BCE falls) and saves as a loadable directory', async (kind) => {
  const model = await loadModel(TINY);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serac-scope-'));
  try {
    const edits = buildScopeTrainingSet(CASES, 0);
    const opts = { kind, hiddenSize: 32, layers: 1, heads: 2, intermediateSize: 64, steps: 60, batchEdits: 3, lr: 3e-3 };
    // the LM's own tokenizer has no [CLS]: training would pool another position than routing reads
    expect(() => trainScopeClassifier(model.tokenizer!, edits, contextPrefixes(CASES), opts)).toThrow(/declares no \[CLS\] token/);
    const specials = { cls: '<|endoftext|>', sep: '<|endoftext|>' };
    const tok = classifierTokenizer(TINY, specials);
    const trained = trainScopeClassifier(tok, edits, contextPrefixes(CASES), opts);
    const losses = trained.history.map((h) => h.loss);
    // chance level of the balanced BCE is 2·ln 2 for the cross-encoder; the embedding variant starts far above it
    expect(mean(losses.slice(-15))).toBeLessThan(mean(losses.slice(0, 15)) - 0.05);
    await saveScopeClassifier(trained, path.join(dir, 'cls'), TINY, specials);
    const config = readScopeConfig(path.join(dir, 'cls', 'scope.json'));
    expect(config.kind).toBe(kind);
    const enc = await loadTextEncoder(path.join(dir, 'cls'), { pooling: config.pooling });
    try {
      // the saved directory encodes and pools texts exactly as training did
      const texts = [CASES[0].rephrasePrompts[0], editStatement(CASES[1].request)];
      expect(texts.map((t) => encodeSingle(enc, t))).toEqual(texts.map((t) => encodeSingle(new EngineEncoder(trained.bert, config.pooling, tok), t)));
      expect(encodeSingle(enc, texts[0])[0]).toBe(tok.clsTokenId);
      const trainedVectors = embedTexts(new EngineEncoder(trained.bert, config.pooling, tok), texts);
      embedTexts(enc, texts).forEach((v, i) => v.forEach((x, c) => expect(x).toBeCloseTo(trainedVectors[i][c], 5)));
      trained.bert.dispose();
      const cls = new ScopeClassifier(enc, config);
      const st = [editStatement(CASES[0].request)];
      const [d] = cls.decide(st, cls.contextVectors(st), [CASES[0].rephrasePrompts[0]]);
      expect(d.index).toBe(0);
      expect(d.score).toBeGreaterThan(0);
      expect(d.score).toBeLessThanOrEqual(1);
    } finally {
      enc.dispose();
    }
  } finally {
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('counterfactual training lowers the NLL of the new object given the edit statement', async () => {
  const model = await loadModel(TINY);
  try {
    const tok = model.tokenizer!;
    const edits = buildScopeTrainingSet(CASES, 0).slice(0, 12);
    const nll = () =>
      mean(
        edits.map((e) =>
          noGrad(() =>
            tidy(() => {
              const ctx = counterfactualContext(tok, editStatement(e.request));
              const q = tok.encode(e.inScope[0]);
              const t = targetIds(tok, e.request.targetNew);
              const ids = [...ctx, ...q, ...t];
              const labels = ids.map((_, i) => (i + 1 >= ctx.length + q.length && i + 1 < ids.length ? ids[i + 1] : -100));
              return crossEntropy(model.forward([ids]).logits, labels).item();
            }),
          ),
        ),
      );
    const before = nll();
    trainCounterfactual(model, edits, { steps: 25, batchSize: 8, lr: 1e-3, augment: 0 });
    expect(nll()).toBeLessThan(0.5 * before);
  } finally {
    model.dispose();
  }
});

test('validationShare: held-out subjects choose the routing threshold (best balanced accuracy), which Serac.load uses', async () => {
  const { train, validation } = splitBySubject(CASES, 0.2, 0);
  const held = new Set(validation.map((c) => c.request.subject));
  expect(train.some((c) => held.has(c.request.subject))).toBe(false);
  expect(validation.length).toBeGreaterThan(0);
  expect(() => splitBySubject(CASES, 1)).toThrow(/share must be in \(0, 1\)/);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serac-val-'));
  try {
    await trainSerac({ baseModel: TINY, cases: CASES, out: dir, components: ['scope-embedding'], validationShare: 0.2, scope: { steps: 40, hiddenSize: 32, layers: 1, heads: 2, intermediateSize: 64, lr: 3e-3 } });
    const log = JSON.parse(fs.readFileSync(path.join(dir, 'scope-embedding', 'training.json'), 'utf8'));
    const config = readScopeConfig(path.join(dir, 'scope-embedding', 'scope.json'));
    expect(config.threshold).toBe(log.validation.threshold);
    expect(log.cases).toBe(train.length);
    // the chosen row maximises recall − false routing over the grid
    const j = (r: ThresholdRow) => r.inScopeRouted - r.outOfScopeRouted;
    const rows = log.validation.table as ThresholdRow[];
    expect(rows.map((r) => r.threshold)).toEqual([...THRESHOLD_GRID]);
    expect(j(rows.find((r) => r.threshold === config.threshold)!)).toBe(Math.max(...rows.map(j)));
    // the table is what the saved classifier scores on the held-out cases
    const enc = await loadTextEncoder(path.join(dir, 'scope-embedding'), { pooling: config.pooling });
    try {
      expect(calibrateThreshold(new ScopeClassifier(enc, config), validation).table.map((r) => r.inScopeRouted)).toEqual(rows.map((r) => expect.closeTo(r.inScopeRouted, 1)));
    } finally {
      enc.dispose();
    }
    // serac.json names no threshold, so the classifier's calibrated one routes; an explicit one wins
    fs.symlinkSync(TINY, path.join(dir, 'counterfactual'));
    const serac = await Serac.load(dir);
    expect(serac.threshold).toBe(config.threshold);
    serac.dispose();
    const fixed = await Serac.load(dir, { threshold: 0.5 });
    expect(fixed.threshold).toBe(0.5);
    fixed.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
