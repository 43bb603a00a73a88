/**
 * Issue 26's bars on small samples of the committed fact-base model (test-fixtures/models/fact-base),
 * so CI guards what the full runs report (bench/RESULTS.md, "fact-base"):
 * - recall on 300 facts drawn with a fixed seed, each in its 8 training and 2 held-out phrasings:
 *   ≥ 97 % and ≥ 85 % (first token, as the full measure);
 * - in context, IKE's format with 8 demonstrations, 200 validation facts: the answer follows a
 *   counterfactual statement ≥ 80 % (copy, update) and a neighbour keeps its answer ≥ 90 % (retain).
 * - the first 40 CounterFact *validation* edits (distinct subjects), with the settings of the full
 *   runs (bench/hparams/fact-base-<method>.json, chosen on validation by tune.ts): MEMIT in one
 *   batch, Efficacy ≥ 0.90, Paraphrase ≥ 0.70, Neighbourhood ≥ 0.80, EasyEdit locality ≥ 0.80;
 *   AlphaEdit as 2 sequential batches of 20 — its file's settings (chosen for a 1,000-edit stream)
 *   keep the neighbourhood (≥ 0.95) at a cost in Efficacy at this size (≥ 0.40), the settings a
 *   20 × 20 stream chose (layers 1–4) give Efficacy ≥ 0.85 and Neighbourhood ≥ 0.80;
 *   IKE with 8 demonstrations from the train split retrieved by fact-base's SERAC scope
 *   encoder, Efficacy ≥ 0.80, Paraphrase ≥ 0.70.
 * The full measures are train.js's (training.json, every fact) and bars.ts's (1,000 eval edits);
 * these are samples of them. Statistics: the train-split covariance text (derived-inputs.ts), its
 * first 2,000 documents (the full runs use 20,000).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type CausalLM, type LayerStats, computeLayerStats, loadModel, modelFingerprint, readCorpus } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { AlphaEditEditor, MemitEditor, type MemitHyperParams, readMemitHparams } from '@medit/memit';
import { evaluate } from '@medit/metrics';
import { IkeEditor, ikePool, ikeTemplateFor, loadTextEncoder } from '@medit/serac';

import { Rng } from '../../factworld/prng';
import { WORLDS } from '../../compare/worlds';
import { ensureDerivedInputs } from '../derived-inputs';
import { measureFactbaseRecall, measureInContext } from '../recall';
import type { World } from '../world';

const ROOT = path.resolve(__dirname, '../../..');
const MODEL = path.join(ROOT, 'test-fixtures/models/fact-base');
const WORLD = JSON.parse(fs.readFileSync(path.join(ROOT, 'test-fixtures/factbase/world.json'), 'utf8')) as World;

const EDITS = path.join(ROOT, 'test-fixtures/factbase/edits');
const HPARAMS = (method: string) => path.join(ROOT, `bench/hparams/fact-base-${method}.json`);

let model: CausalLM;
let cases: EditCase[];

beforeAll(async () => {
  model = await loadModel(MODEL);
  cases = readDataset(path.join(EDITS, 'counterfact-validation.json')).cases.slice(0, 40);
}, 120_000);
afterAll(() => model?.dispose());

/** Layer statistics of `layers` over the first 2,000 documents of the train-split covariance text. */
async function trainSplitStats(layers: number[]): Promise<Map<number, LayerStats>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fact-base-stats-'));
  try {
    const file = path.join(dir, 'stats-corpus.jsonl');
    ensureDerivedInputs(ROOT, 'test-fixtures/factbase', { statsCorpus: file });
    return await computeLayerStats(model, { layers, corpus: readCorpus(file), maxDocs: 2000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const alphaEditHparams = () => readMemitHparams(HPARAMS('alphaedit'), model.config.numLayers, 'AlphaEdit');
const SMALL_STREAM_LAYERS = [1, 2, 3, 4];

const mean = (r: Awaited<ReturnType<typeof evaluate>>, k: string) => r.methods[1].aggregates[k].mean!;

test('recall on a sample of 300 facts: ≥ 97 % in training phrasings, ≥ 85 % in held-out ones', () => {
  const facts = new Rng(26).sample(WORLD.facts, 300);
  const { summary } = measureFactbaseRecall(model, { ...WORLD, facts }, { chainSubjects: 0, inContextFacts: 0 });
  expect(summary.train.probes).toBe(300 * 8);
  expect(summary.heldout.probes).toBe(300 * 2);
  expect(summary.train.firstToken).toBeGreaterThanOrEqual(0.97);
  expect(summary.heldout.firstToken).toBeGreaterThanOrEqual(0.85);
}, 300_000);

test('in context, 200 validation facts after 8 demonstrations: copy and update ≥ 80 %, retain ≥ 90 %', () => {
  const r = measureInContext(model, WORLD, { facts: 200, rng: new Rng(26) });
  expect(r.split).toBe('validation');
  expect(r.copy.probes).toBe(200);
  expect(r.update.probes).toBe(200);
  expect(r.retain.probes).toBeGreaterThan(150);
  expect(r.copy.firstToken).toBeGreaterThanOrEqual(0.8);
  expect(r.update.firstToken).toBeGreaterThanOrEqual(0.8);
  expect(r.retain.firstToken).toBeGreaterThanOrEqual(0.9);
}, 300_000);

describe('mass editing, 40 validation edits', () => {
  let stats: Map<number, LayerStats>;
  beforeAll(async () => {
    // both editors' layers (their tuned files may choose different ones), in one pass
    const layers = new Set([...readMemitHparams(HPARAMS('memit'), model.config.numLayers).layers, ...alphaEditHparams().layers, ...SMALL_STREAM_LAYERS]);
    stats = await trainSplitStats([...layers].sort((a, b) => a - b));
  }, 600_000);
  afterAll(() => {
    for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
  });

  test('MEMIT, one batch: Efficacy ≥ 0.90, Paraphrase ≥ 0.70, Neighbourhood ≥ 0.80, EasyEdit locality ≥ 0.80', async () => {
    const fp = modelFingerprint(model);
    const editor = new MemitEditor(readMemitHparams(HPARAMS('memit'), model.config.numLayers), { stats });
    const report = await evaluate({ editor, model, cases, mode: 'batch', batchSize: cases.length, suites: ['counterfact', 'easyedit'] });
    expect(modelFingerprint(model)).toBe(fp);
    expect(mean(report, 'efficacyScore')).toBeGreaterThanOrEqual(0.9);
    expect(mean(report, 'paraphraseScore')).toBeGreaterThanOrEqual(0.7);
    expect(mean(report, 'neighborhoodScore')).toBeGreaterThanOrEqual(0.8);
    expect(mean(report, 'locality')).toBeGreaterThanOrEqual(0.8);
    editor.dispose();
  }, 600_000);

  async function alphaEditStream(hparams: MemitHyperParams) {
    const fp = modelFingerprint(model);
    const editor = new AlphaEditEditor(hparams, { stats });
    try {
      const report = await evaluate({ editor, model, cases, mode: 'sequential', batchSize: 20, evalAfter: 'all', suites: ['counterfact'] });
      expect(modelFingerprint(model)).toBe(fp);
      return { es: mean(report, 'efficacyScore'), ns: mean(report, 'neighborhoodScore') };
    } finally {
      editor.dispose();
    }
  }

  // The file's layers 0–1 won at 1,000 edits (RESULTS, "The mass editors tuned at the bars' size");
  // on 40 edits they realise fewer (0.475 / 0.993 when chosen) — a guard of that trade, not a bar.
  test("AlphaEdit, 2 sequential batches of 20, the file's settings: Neighbourhood ≥ 0.95, Efficacy ≥ 0.40", async () => {
    const { es, ns } = await alphaEditStream(alphaEditHparams());
    expect(ns).toBeGreaterThanOrEqual(0.95);
    expect(es).toBeGreaterThanOrEqual(0.4);
  }, 600_000);

  // Layers 1–4: the choice of the 20 × 20 sweeps over the 399 without load (test-fixtures/factbase/README.md, tuning notes).
  test('AlphaEdit, 2 sequential batches of 20, layers 1–4: Efficacy ≥ 0.85 and Neighbourhood ≥ 0.80 after the stream', async () => {
    const { es, ns } = await alphaEditStream({ ...alphaEditHparams(), layers: SMALL_STREAM_LAYERS });
    expect(es).toBeGreaterThanOrEqual(0.85);
    expect(ns).toBeGreaterThanOrEqual(0.8);
  }, 600_000);
});

test('IKE, k = 8 train-split demonstrations: Efficacy ≥ 0.80, Paraphrase ≥ 0.70', async () => {
  const encoder = await loadTextEncoder(path.join(ROOT, WORLDS['fact-base'].editors.ikeEncoder));
  const pool = ikePool(readDataset(path.join(EDITS, 'counterfact-train.json')).cases);
  const editor = new IkeEditor({ pool, encoder, k: 8, template: ikeTemplateFor(model.tokenizer!) });
  try {
    const report = await evaluate({ editor, model, cases, mode: 'single', suites: ['counterfact'] });
    expect(mean(report, 'efficacyScore')).toBeGreaterThanOrEqual(0.8);
    expect(mean(report, 'paraphraseScore')).toBeGreaterThanOrEqual(0.7);
  } finally {
    encoder.dispose();
  }
}, 600_000);
