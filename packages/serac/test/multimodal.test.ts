/**
 * SERAC's multimodal pieces on tiny vision-language models: routed forward passes keep each row's
 * image on the model that answers it; the scope set's question kinds; the counterfactual model
 * trains only its projection and language model, with name and word re-statements and locality
 * questions as edits; a scope classifier from the base LM, calibrated and loaded; IKE's pool from
 * MMEdit records.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, type RgbImage, noGrad, readConfig, saveModel, tidy } from '@medit/core';
import { type MmeditCase, mmeditRequest } from '@medit/data';

import {
  counterfactualContext,
  counterfactualTrainedNames,
  editStatement,
  LmEncoder,
  localityEdit,
  makeRng,
  mmeditCalibrationCase,
  mmeditIkePool,
  multimodalScopeSet,
  readScopeConfig,
  routedForward,
  Serac,
  THRESHOLD_GRID,
  trainingNames,
  trainingWords,
  trainMultimodalCounterfactual,
  trainMultimodalSerac,
  withRecombinedWord,
} from '../src';
import { imageWorldTinyVlm } from '../../core/test-utils/tiny-vlm';

function image(seed: number): RgbImage {
  return { width: 12, height: 12, data: new Uint8Array(12 * 12 * 3).map((_, i) => (i * 53 + seed * 97) % 256) };
}

const logits = (m: CausalLM, ids: number[][], images?: (RgbImage | null)[]) => noGrad(() => tidy(() => m.forward(ids, { images }).logits.data() as Float32Array));

test('routed forward: each row keeps its image, on the base or the other model', () => {
  const base = imageWorldTinyVlm(1);
  const other = imageWorldTinyVlm(2);
  const ctx = [5, 6, 7];
  const ids = [
    [10, 11, 12],
    [13, 14, 15],
    [16, 17, 18],
  ];
  const images = [image(1), null, image(3)];
  // row 0 is routed with a context; rows 1 and 2 stay on the base model
  const fwd = routedForward((i, o) => base.forward(i, o), (i, o) => other.forward(i, o), (rows) => rows.map((_, b) => (b === 0 ? { context: ctx } : null)), 64, 0);
  const out = noGrad(() => tidy(() => fwd(ids, { images }).logits.data() as Float32Array));
  const V = base.config.vocabSize;
  const row = (b: number) => out.subarray(b * 3 * V, (b + 1) * 3 * V);
  const routed = logits(other, [[...ctx, ...ids[0]]], [images[0]]).subarray(3 * V);
  expect(Math.max(...row(0).map((x, i) => Math.abs(x - routed[i])))).toBeLessThan(1e-5);
  const kept = logits(base, [ids[1], ids[2]], [null, images[2]]);
  expect(Math.max(...row(1).map((x, i) => Math.abs(x - kept[i])))).toBeLessThan(1e-5);
  expect(Math.max(...row(2).map((x, i) => Math.abs(x - kept[3 * V + i])))).toBeLessThan(1e-5);
  base.dispose();
  other.dispose();
});

function mm(i: number, src: string, rephrase: string, alt: string): MmeditCase<RgbImage> {
  return {
    id: String(i),
    src,
    pred: 'red',
    alt,
    rephrase,
    image: image(i),
    imageRephrase: image(i + 50),
    loc: 'What is the capital of Kesmira?',
    locAns: 'left',
    mLoc: image(i + 90),
    mLocQ: i % 2 ? 'Which nation does this flag belong to?' : 'How many shapes are there?',
    mLocA: 'three',
    cond: '',
    source: { file: 'train.json', index: i },
  };
}

const CASES = [
  mm(0, 'Which nation does this flag belong to?', 'Whose flag is shown here?', 'blue'),
  mm(1, 'Whose flag is shown here?', 'What country flies this flag?', 'green'),
  mm(2, 'What colour are the shapes?', 'What is the colour of the shapes?', 'red'),
  mm(3, 'a photo of', 'an image of', 'one large red circle in the center'),
];

test('scope set: a question kind is in scope, other kinds and locality questions are not', () => {
  const edits = multimodalScopeSet(CASES, { seed: 1 });
  expect(edits[0].request).toEqual({ prompt: '{}', subject: CASES[0].src, targetNew: 'blue', targetTrue: 'red' });
  // the flag questions of records 0 and 1 form one kind
  expect(new Set(edits[0].inScope)).toEqual(new Set(['Which nation does this flag belong to?', 'Whose flag is shown here?', 'What country flies this flag?']));
  const out = edits[0].outOfScope.map((q) => q.query);
  expect(out).toContain('What is the capital of Kesmira?');
  expect(out).toContain('Question: How many shapes are there? Short answer:');
  // a locality question of the edit's own kind is not declared out of scope
  expect(out).not.toContain('Question: Which nation does this flag belong to? Short answer:');
  expect(out.some((q) => edits[0].inScope.includes(q))).toBe(false);
  expect(edits[3].tails).toContain('one large red circle in the center');
});

test('scope set with locality edits: kinds join by shared answers, locality questions become edits', () => {
  const shape = (i: number, src: string, rephrase: string, pred: string, alt: string, mLocQ: string, mLocA: string) => ({ ...mm(i, src, rephrase, alt), pred, mLocQ, mLocA });
  const cases = [
    shape(0, 'What shape are the objects?', 'Which shape do the objects have?', 'circle', 'square', 'What colour are the shapes?', 'red'),
    shape(1, 'What kind of shape is shown?', 'What shape do you see here?', 'square', 'cross', 'Which colour do the objects have?', 'red'),
    shape(2, 'Which nation does this flag belong to?', 'Whose flag is shown here?', 'Kesmira', 'Dorvan', 'How many shapes are there?', 'three'),
  ];
  const shapes = ['What shape are the objects?', 'Which shape do the objects have?', 'What kind of shape is shown?', 'What shape do you see here?'];
  // by (src, rephrase) links alone, records 0 and 1 are two kinds
  const plain = multimodalScopeSet(cases, { seed: 1 });
  expect(plain).toHaveLength(3);
  expect(new Set(plain[0].inScope)).toEqual(new Set(shapes.slice(0, 2)));
  const edits = multimodalScopeSet(cases, { seed: 1, localityEdits: true });
  expect(edits).toHaveLength(6);
  // both records answer "square": one kind of four phrasings
  expect(new Set(edits[0].inScope)).toEqual(new Set(shapes));
  expect(edits[0].rephrases).toEqual(['Which shape do the objects have?']);
  // record 0's locality question is an edit whose kind holds the other colour question (both answered "red")
  expect(edits[3].request).toEqual({ prompt: '{}', subject: 'What colour are the shapes?', targetNew: 'red', targetTrue: 'red' });
  expect(edits[3].rephrases).toEqual(['Which colour do the objects have?']);
  for (const e of edits) expect(e.outOfScope.some((q) => e.inScope.includes(q.query))).toBe(false);
  expect(edits[0].outOfScope.map((q) => q.query)).not.toContain('What kind of shape is shown?');
});

test('the counterfactual model trains its projection and language model only', () => {
  const model = imageWorldTinyVlm(3);
  const frozen = ['vision_model.encoder.layers.0.mlp.fc1.weight', 'qformer.encoder.layer.0.output_query.dense.weight', 'query_tokens'];
  const before = frozen.map((n) => model.param(n).data() as Float32Array);
  const proj = model.param('language_projection.weight').data() as Float32Array;
  const history = trainMultimodalCounterfactual(model, CASES, { steps: 3, batchSize: 4, seed: 2 });
  expect(history).toHaveLength(3);
  frozen.forEach((n, i) => expect(Buffer.from((model.param(n).data() as Float32Array).buffer).equals(Buffer.from(before[i].buffer))).toBe(true));
  expect(Buffer.from((model.param('language_projection.weight').data() as Float32Array).buffer).equals(Buffer.from(proj.buffer))).toBe(false);
  expect(counterfactualTrainedNames(model).every((n) => n.startsWith('language_model.') || n.startsWith('language_projection.'))).toBe(true);
  expect(counterfactualTrainedNames(model).filter((n) => !counterfactualTrainedNames(model, { frozenTokenEmbeddings: true }).includes(n))).toEqual(['language_model.transformer.wte.weight']);
  expect(counterfactualContext(model.tokenizer!, 'a b').at(-1)).toBe(0);
  model.dispose();
});

test('name augmentation draws from the names in the training records only', () => {
  const named = [{ ...CASES[0], alt: 'Dorvan', pred: 'Kesmira' }, CASES[2]];
  expect(trainingNames(named)).toEqual(['Dorvan', 'Kesmira']);
  const model = imageWorldTinyVlm(4);
  expect(trainMultimodalCounterfactual(model, named, { steps: 2, batchSize: 4, augmentNames: 1 })).toHaveLength(2);
  model.dispose();
});

test('the name pool "words" fills the name slot from every word of the training records; another pool is refused', () => {
  const named = [{ ...CASES[0], alt: 'Dorvan', pred: 'Kesmira' }];
  const words = trainingWords(named);
  expect(words).toEqual(expect.arrayContaining(['Dorvan', 'Kesmira', ...named[0].src.match(/[A-Za-z]+/g)!]));
  expect(words.every((w) => /^[A-Za-z]+$/.test(w))).toBe(true);
  expect(new Set(words).size).toBe(words.length);
  const model = imageWorldTinyVlm(4);
  expect(trainMultimodalCounterfactual(model, named, { steps: 1, batchSize: 2, augmentNames: 1, augmentNamePool: 'words' })).toHaveLength(1);
  expect(() => trainMultimodalCounterfactual(model, named, { steps: 1, augmentNames: 1, augmentNamePool: 'all' as 'words' })).toThrow(/augmentNamePool must be "names" or "words", not "all"/);
  model.dispose();
});

test('word recombination: one word before the last from the same place of an answer as long, so unseen combinations are re-stated', () => {
  const pool = ['the blue and yellow arch of Dorvan', 'one small red circle', 'the green and white dome of Kesmira'];
  const rng = makeRng(5);
  const seen = new Set<string>();
  for (let k = 0; k < 200; k++) {
    const out = withRecombinedWord('the red and orange tower of Naba', pool, rng).split(' ');
    const changed = out.map((w, i) => (w === 'the red and orange tower of Naba'.split(' ')[i] ? -1 : i)).filter((i) => i >= 0);
    expect(changed.length).toBeLessThanOrEqual(1);
    if (changed.length === 1) {
      expect(changed[0]).toBeLessThan(6);
      expect([pool[0], pool[2]].map((a) => a.split(' ')[changed[0]])).toContain(out[changed[0]]);
      seen.add(out.join(' '));
    }
  }
  expect(seen).toContain('the red and yellow tower of Naba');
  expect(seen).toContain('the red and white tower of Naba');
  expect(withRecombinedWord('left', pool, rng)).toBe('left');
  expect(withRecombinedWord('a b c', pool, rng)).toBe('a b c');
  const model = imageWorldTinyVlm(6);
  expect(trainMultimodalCounterfactual(model, CASES, { steps: 2, batchSize: 4, augmentWords: 1 })).toHaveLength(2);
  model.dispose();
});

test("locality edits: a record's multimodal-locality question about its image, answered with its answer", () => {
  const templated = { ...CASES[2], mLocQ: 'Question: How many shapes are there? Short answer:' };
  for (const c of [CASES[2], templated]) {
    const e = localityEdit(c);
    expect(e).toMatchObject({ src: 'How many shapes are there?', rephrase: 'How many shapes are there?', alt: 'three', pred: 'three' });
    expect(e.image).toBe(c.mLoc);
    expect(e.imageRephrase).toBe(c.mLoc);
  }
  const model = imageWorldTinyVlm(7);
  const before = model.param('language_projection.weight').data() as Float32Array;
  expect(trainMultimodalCounterfactual(model, CASES, { steps: 2, batchSize: 4, localityEdits: 1 })).toHaveLength(2);
  expect(Buffer.from((model.param('language_projection.weight').data() as Float32Array).buffer).equals(Buffer.from(before.buffer))).toBe(false);
  model.dispose();
});

test("trainMultimodalSerac's scopeEncoder: base-lm fine-tunes the VLM's language model, calibrated and loaded by Serac.load; bad values are named", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serac-mm-lm-'));
  try {
    const out = path.join(dir, 'serac');
    const train = (o: Partial<Parameters<typeof trainMultimodalSerac>[0]>) => trainMultimodalSerac({ baseModel: path.join(dir, 'base'), cases: CASES, out, components: ['scope-embedding'], ...o });
    await expect(train({ scopeEncoder: 'roberta' as 'bert' })).rejects.toThrow('trainMultimodalSerac: scopeEncoder must be "bert" or "base-lm", not "roberta"');
    await expect(train({ scopeEncoder: 'base-lm', scopeEmbeddingsFromBase: true })).rejects.toThrow(/scopeEmbeddingsFromBase applies to scopeEncoder "bert"/);
    await expect(train({ scopeEncoder: 'base-lm', scope: { hiddenSize: 64 } })).rejects.toThrow(/scope\.hiddenSize applies to scopeEncoder "bert"/);
    expect(fs.existsSync(out)).toBe(false);

    const vlm = imageWorldTinyVlm(8);
    await saveModel(vlm, path.join(dir, 'base'), { sideFilesFrom: path.join(__dirname, '../../../test-fixtures/imageworld/tokenizer') });
    vlm.dispose();
    await train({ scopeEncoder: 'base-lm', scope: { steps: 4, batchEdits: 2 }, validation: CASES });
    const cls = path.join(out, 'scope-embedding');
    const config = readScopeConfig(path.join(cls, 'scope.json'));
    expect(config).toMatchObject({ kind: 'embedding', encoder: 'lm', pooling: 'last' });
    expect(THRESHOLD_GRID).toContain(config.threshold);
    expect(readConfig(cls).model_type).toBe('gpt2');
    expect(JSON.parse(fs.readFileSync(path.join(cls, 'training.json'), 'utf8')).encoder).toBe('base-lm');
    fs.symlinkSync(path.join(dir, 'base'), path.join(out, 'counterfactual'));
    const serac = await Serac.load(out);
    try {
      expect(serac.classifier.encoder).toBeInstanceOf(LmEncoder);
      expect(serac.threshold).toBe(config.threshold);
      const statements = [editStatement(mmeditRequest(CASES[0]))];
      const [d] = serac.classifier.decide(statements, serac.classifier.contextVectors(statements), [CASES[0].rephrase]);
      expect(d.index).toBe(0);
      expect(d.score).toBeGreaterThan(0);
      expect(d.score).toBeLessThanOrEqual(1);
    } finally {
      serac.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('IKE pool records: copy, update and retain demonstrations from MMEdit fields', () => {
  const [r] = mmeditIkePool([CASES[0]]);
  expect(r).toEqual({ prompt: CASES[0].src, targetNew: 'blue', targetTrue: 'red', paraphrases: [CASES[0].rephrase], neighbours: [CASES[0].loc], neighbourAnswers: ['left'] });
});

test('calibration reads an MMEdit validation record: its rephrase in scope, both locality questions out', () => {
  expect(mmeditCalibrationCase(CASES[2])).toEqual({
    request: { prompt: '{}', subject: CASES[2].src, targetNew: 'red', targetTrue: 'red' },
    rephrasePrompts: ['What is the colour of the shapes?'],
    localityPrompts: [{ prompt: 'What is the capital of Kesmira?' }, { prompt: 'Question: How many shapes are there? Short answer:' }],
  });
});

test('calibration on rows reads each question followed by its target, as the harness scores it', () => {
  const c = mmeditCalibrationCase(CASES[2], { withTargets: true });
  expect(c.rephrasePrompts).toEqual([`What is the colour of the shapes? ${CASES[2].alt}`]);
  expect(c.localityPrompts).toEqual([{ prompt: `What is the capital of Kesmira? ${CASES[2].locAns}` }, { prompt: `Question: How many shapes are there? Short answer: ${CASES[2].mLocA}` }]);
});
