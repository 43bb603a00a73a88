/**
 * SERAC's scope classifier over a fine-tuned copy of a causal LM (fact-tiny's GPT-2, few steps):
 * a text's vector is what the LM head reads at its last token and padding leaves it alone; the
 * copy learns with the BERT classifier's loss while the source stays as it was; the classifier
 * directory (GPT-2 + scope.json `encoder: "lm"`) loads through `Serac.load` with the same scores;
 * a scope.json naming an unknown encoder is refused.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, IOError, loadModel, noGrad, readConfig, tidy } from '@medit/core';
import { readDataset } from '@medit/data';

import {
  buildScopeTrainingSet,
  contextPrefixes,
  editStatement,
  embedTexts,
  encodeSingle,
  LmEncoder,
  loadTextEncoder,
  readScopeConfig,
  saveLmScopeClassifier,
  ScopeClassifier,
  Serac,
  type TrainedLmScope,
  trainLmScopeClassifier,
} from '../src';

const ROOT = path.resolve(__dirname, '../../..');
const TINY = path.join(ROOT, 'test-fixtures/models/fact-tiny');
const CASES = readDataset(path.join(ROOT, 'test-fixtures/factworld/edits-tiny/counterfact-train.json')).cases;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));
const snapshot = (m: CausalLM) => new Map([...m.params].map(([n, t]) => [n, Buffer.from((t.data() as Float32Array).buffer)]));

test("a text's vector is the final-norm state the LM head reads at its last token; padding changes no row", async () => {
  const enc = new LmEncoder(await loadModel(TINY));
  try {
    const model = enc.model;
    const texts = [CASES[0].rephrasePrompts[0], editStatement(CASES[1].request), 'Leda'];
    // the LM's own encoding: no [CLS]/[SEP], no BOS (GPT-2's tokenizer adds none)
    expect(texts.map((t) => encodeSingle(enc, t))).toEqual(texts.map((t) => model.tokenizer!.encode(t)));
    const [V, C] = model.param('transformer.wte.weight').shape;
    const wte = model.param('transformer.wte.weight').data() as Float32Array;
    const batched = embedTexts(enc, texts);
    for (const [i, text] of texts.entries()) {
      const ids = model.tokenizer!.encode(text);
      const [alone] = embedTexts(enc, [text]);
      // padded to the longest text of the batch: the same vector
      expect(maxDiff(batched[i], alone)).toBeLessThan(1e-5);
      // the tied head's logits at the last token are wte · vector
      const logits = noGrad(() => tidy(() => model.forward([ids]).logits.data() as Float32Array)).subarray((ids.length - 1) * V);
      const head = Array.from({ length: V }, (_, v) => alone.reduce((s, x, c) => s + x * wte[v * C + c], 0));
      expect(maxDiff(head, logits)).toBeLessThan(1e-4);
    }
    // mean pooling: the masked mean of the same states, unchanged by padding too
    const meanEnc = new LmEncoder(model, 'mean');
    const means = embedTexts(meanEnc, texts);
    texts.forEach((t, i) => expect(maxDiff(means[i], embedTexts(meanEnc, [t])[0])).toBeLessThan(1e-5));
    expect(() => new LmEncoder(model, 'cls')).toThrow(/pooling must be "last" or "mean", not "cls"/);
  } finally {
    enc.dispose();
  }
});

describe('an LM scope classifier trained from fact-tiny', () => {
  const edits = buildScopeTrainingSet(CASES, 0);
  let source: CausalLM;
  let before: Map<string, Buffer>;
  let trained: TrainedLmScope;
  let dir: string;
  beforeAll(async () => {
    source = await loadModel(TINY);
    before = snapshot(source);
    trained = trainLmScopeClassifier(source, edits, contextPrefixes(CASES), { steps: 60, batchEdits: 3, lr: 1e-3 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serac-scope-lm-'));
  });
  afterAll(() => {
    trained.lm.dispose();
    source.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the balanced BCE falls; every weight of the copy trains and the source is untouched', () => {
    const losses = trained.history.map((h) => h.loss);
    expect(losses).toHaveLength(60);
    expect(mean(losses.slice(-15))).toBeLessThan(0.5 * mean(losses.slice(0, 15)));
    expect(trained.config).toEqual({ kind: 'embedding', encoder: 'lm', pooling: 'last', scale: 1 });
    const after = snapshot(source);
    for (const [name, bytes] of before) expect(after.get(name)!.equals(bytes)).toBe(true);
    const copy = snapshot(trained.lm);
    expect([...before].filter(([name, bytes]) => copy.get(name)!.equals(bytes)).map(([name]) => name)).toEqual([]);
    expect(() => trainLmScopeClassifier(source, edits, [], { pooling: 'cls', steps: 1 })).toThrow(/pooling must be "last" or "mean"/);
  });

  test('saved and loaded (directly and by Serac.load), it scores as before saving', async () => {
    const serac = path.join(dir, 'serac');
    const cls = path.join(serac, 'scope-embedding');
    await saveLmScopeClassifier(trained, cls, TINY);
    expect(readConfig(cls).model_type).toBe('gpt2');
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(fs.existsSync(path.join(cls, f))).toBe(true);
    const config = readScopeConfig(path.join(cls, 'scope.json'));
    expect(config).toEqual(trained.config);

    const statements = CASES.slice(0, 3).map((c) => editStatement(c.request));
    const queries = [...CASES[0].rephrasePrompts, CASES[0].localityPrompts[0].prompt, CASES[2].rephrasePrompts[0]];
    const scores = (c: ScopeClassifier) => c.scores(statements, c.contextVectors(statements), queries).flat();
    // the trained model borrowed: ScopeClassifier does not dispose its encoder
    const expected = scores(new ScopeClassifier(new LmEncoder(trained.lm, 'last'), trained.config));
    const enc = await loadTextEncoder(cls, { encoder: 'lm', pooling: config.pooling });
    try {
      expect(enc).toBeInstanceOf(LmEncoder);
      expect(maxDiff(scores(new ScopeClassifier(enc, config)), expected)).toBeLessThan(1e-5);
      expect(() => new ScopeClassifier(enc, { ...config, encoder: undefined })).toThrow(/the encoder is an LM but the classifier was trained with encoder bert/);
    } finally {
      enc.dispose();
    }
    fs.symlinkSync(TINY, path.join(serac, 'counterfactual'));
    const loaded = await Serac.load(serac);
    try {
      expect(loaded.classifier.encoder).toBeInstanceOf(LmEncoder);
      expect(maxDiff(scores(loaded.classifier), expected)).toBeLessThan(1e-5);
    } finally {
      loaded.dispose();
    }

    // a scope.json naming an encoder medit does not know is refused, naming the file and the field
    const scopeFile = path.join(cls, 'scope.json');
    fs.writeFileSync(scopeFile, JSON.stringify({ ...config, encoder: 'roberta' }));
    expect(() => readScopeConfig(scopeFile)).toThrow(IOError);
    expect(() => readScopeConfig(scopeFile)).toThrow(`${scopeFile}: encoder must be "bert" or "lm", not "roberta"`);
    await expect(Serac.load(serac)).rejects.toThrow(/scope\.json: encoder must be "bert" or "lm", not "roberta"/);
  });
});
