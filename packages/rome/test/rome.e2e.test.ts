/**
 * ROME on the fact world (issue 5's bars on a sample; issue 8's on the Llama-family model):
 * CounterFact-style edits from the validation split (the eval split is for reported runs only;
 * fact-llama's tiny validation split has 13), each from the clean model, with covariance
 * statistics over the world's training corpus (its analog of the Wikipedia text ROME's
 * statistics come from). Efficacy ≥ 0.95, Paraphrase ≥ 0.75, Neighbourhood ≥ 0.80.
 * The full runs (200 edits on fact-small, 81 on fact-llama, and C = I) are in bench/RESULTS.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadModel, memory, modelFingerprint, noGrad, readCorpus, softmax, targetIds, tidy, type CausalLM } from '@medit/core';
import { readDataset } from '@medit/data';
import { evaluate } from '@medit/metrics';

import { RomeEditor, defaultRomeHparams, type RomeEditStats } from '../src';

const FIX = path.resolve(__dirname, '../../../test-fixtures');
const N = 16;

let cacheDir: string;
beforeAll(() => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medit-rome-'));
});
afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

describe.each([
  // [model, edit set, statistics corpus (the model's own training text)]
  ['fact-small', 'factworld/edits/counterfact-validation.json', 'factworld/corpus/train-full.txt'],
  ['fact-llama', 'factworld/edits-tiny/counterfact-validation.json', 'factworld/corpus/train-tiny.txt'],
])('%s', (name, dataset, corpusFile) => {
  let model: CausalLM;
  beforeAll(async () => {
    model = await loadModel(path.join(FIX, 'models', name));
  });
  afterAll(() => model.dispose());

  test(`ROME on up to ${N} CounterFact validation edits meets the efficacy, paraphrase and neighbourhood bars`, async () => {
    const cases = (await readDataset(path.join(FIX, dataset))).cases.slice(0, N);
    const editor = new RomeEditor({}, { corpus: readCorpus(path.join(FIX, corpusFile)), statsCacheDir: cacheDir });
    const fingerprint = modelFingerprint(model);
    const before = memory();
    const report = await evaluate({ editor, model, cases, mode: 'single', suites: ['counterfact'], includeRows: false });
    const rome = report.methods.find((m) => m.name === 'ROME')!;
    const base = report.methods.find((m) => m.name !== 'ROME')!;
    const mean = (m: typeof rome, k: string) => m.aggregates[k]!.mean!;
    expect(mean(base, 'efficacyScore')).toBeLessThan(0.1); // counterfactual targets start unlikely
    expect(mean(rome, 'efficacyScore')).toBeGreaterThanOrEqual(0.95);
    expect(mean(rome, 'paraphraseScore')).toBeGreaterThanOrEqual(0.75);
    expect(mean(rome, 'neighborhoodScore')).toBeGreaterThanOrEqual(0.8);
    expect(modelFingerprint(model)).toBe(fingerprint); // every edit reverted bit-exactly
    editor.dispose();
    expect(memory().numTensors).toBe(before.numTensors);
    expect(editor.resolve(model)).toMatchObject({ layers: defaultRomeHparams(4).layers, fact_token: 'subject_search' });
  }, 1_200_000); // 16 edits with their metric passes: ~2 min alone, far longer on a shared machine
});

test("subject_search edits a fact the subject's last token cannot reach, at its first token", async () => {
  const model = await loadModel(path.join(FIX, 'models/fact-small'));
  // Eval case 45: "Grafefa Kruvlai is known for playing the" drum kit → clarinet. "Kruvlai" is
  // three people's surname; the model reads this fact from the first name, and v* at the
  // last token stalls far below the target (P ≈ 3e-4).
  const request = { prompt: '{} is known for playing the', subject: 'Grafefa Kruvlai', targetNew: 'clarinet', targetTrue: 'drum kit' };
  const corpus = readCorpus(path.join(FIX, 'factworld/corpus/train-full.txt'));
  const tok = model.tokenizer!;
  const [newId] = targetIds(tok, request.targetNew);
  const [trueId] = targetIds(tok, request.targetTrue);
  const nextProbs = () => noGrad(() => tidy(() => softmax(model.forward([tok.encode('Grafefa Kruvlai is known for playing the')]).logits).data() as Float32Array));
  const fingerprint = modelFingerprint(model);
  const editor = new RomeEditor({ fact_token: 'subject_search' }, { corpus, statsCacheDir: cacheDir });
  const delta = await editor.edit(model, [request]);
  const [stats] = (delta.info.stats as { edits: RomeEditStats[] }).edits;
  expect(stats.subjectToken).toBe(0);
  expect(stats.trace[stats.trace.length - 1].targetProb).toBeGreaterThan(0.5);
  const V = model.config.vocabSize;
  const before = nextProbs().slice(-V);
  delta.apply(model);
  const after = nextProbs().slice(-V);
  delta.revert(model);
  expect(before[newId]).toBeLessThan(before[trueId]);
  expect(after[newId]).toBeGreaterThan(after[trueId]);
  expect(modelFingerprint(model)).toBe(fingerprint);
  delta.dispose();
  editor.dispose();
  model.dispose();
}, 600_000);
