/**
 * Issue 6's bars on a small sample of fact-small's CounterFact *validation* split (the metrics
 * harness's CounterFact suite): the first 8 subjects with two edits each (16 edits, grouped by
 * subject as the full runs group them).
 * - MEMIT, one batch: Efficacy ≥ 0.90, Paraphrase ≥ 0.70, Neighbourhood ≥ 0.80;
 * - AlphaEdit, a sequential stream: Efficacy ≥ 0.85 and Neighbourhood ≥ 0.80 on every edit
 *   of the stream after the last batch.
 * The sample holds them today (2026-12-05: MEMIT ES / PS / NS 1.00 / 1.00 / 0.91, AlphaEdit
 * 1.00 / 0.97 / 0.88; 26 s with the statistics); the 1,000-edit eval runs do not
 * (bench/RESULTS.md), so this guards the mass editors against regressions on a small batch, not
 * the issue's claim at scale. The earlier sample (8 eval subjects, where AlphaEdit reached
 * Efficacy 0.81) is not used: settings were tuned on it.
 * Statistics: the fact world's training corpus, its first 2,000 documents (the full runs use
 * 20,000). Hyperparameters: FACT_SMALL below, the settings of the full runs.
 */
import * as path from 'node:path';

import { type CausalLM, type LayerStats, computeLayerStats, loadModel, modelFingerprint, readCorpus } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { evaluate } from '@medit/metrics';

import { AlphaEditEditor, MemitEditor, type MemitHyperParams } from '../src';

const FIX = path.resolve(__dirname, '../../../test-fixtures');

/** The fact-small settings of the full runs (bench/RESULTS.md, "MEMIT / AlphaEdit on fact-small"). */
export const FACT_SMALL: Partial<MemitHyperParams> = {
  layers: [0],
  fact_token: 'subject_first',
  clamp_norm_factor: 8,
  v_lr: 1,
  v_num_grad_steps: 40,
  mom2_update_weight: 3,
  nullspace_threshold: 0.2,
  L2: 1,
  context_template_length_params: [[10, 3]],
};

let model: CausalLM;
let stats: Map<number, LayerStats>;
let cases: EditCase[];

beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/fact-small'));
  const corpus = readCorpus(path.join(FIX, 'factworld/corpus/train-full.txt'));
  stats = await computeLayerStats(model, { layers: FACT_SMALL.layers!, corpus, maxDocs: 2000 });
  // the first 8 subjects of the validation split with two edits each (16 edits, grouped by subject)
  const all = readDataset(path.join(FIX, 'factworld/edits/counterfact-validation.json')).cases;
  const count = new Map<string, number>();
  for (const c of all) count.set(c.request.subject, (count.get(c.request.subject) ?? 0) + 1);
  const subjects = [...count].filter(([, k]) => k === 2).slice(0, 8).map(([s]) => s);
  cases = subjects.flatMap((s) => all.filter((c) => c.request.subject === s));
}, 300_000);
afterAll(() => {
  for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
  model?.dispose();
});

const mean = (r: Awaited<ReturnType<typeof evaluate>>, k: string) => r.methods[1].aggregates[k].mean!;

test('MEMIT, one batch of 16 validation edits on fact-small: Efficacy ≥ 0.90, Paraphrase ≥ 0.70, Neighbourhood ≥ 0.80', async () => {
  expect(cases).toHaveLength(16);
  const fp = modelFingerprint(model);
  const editor = new MemitEditor(FACT_SMALL, { stats });
  const report = await evaluate({ editor, model, cases, mode: 'batch', batchSize: cases.length, suites: ['counterfact'] });
  expect(modelFingerprint(model)).toBe(fp);
  expect(mean(report, 'efficacyScore')).toBeGreaterThanOrEqual(0.9);
  expect(mean(report, 'paraphraseScore')).toBeGreaterThanOrEqual(0.7);
  expect(mean(report, 'neighborhoodScore')).toBeGreaterThanOrEqual(0.8);
  editor.dispose();
}, 600_000);

test('AlphaEdit, a sequential stream on fact-small: Efficacy ≥ 0.85 and Neighbourhood ≥ 0.80 on every edit after the stream', async () => {
  const fp = modelFingerprint(model);
  const editor = new AlphaEditEditor(FACT_SMALL, { stats });
  // 4 batches of 2 subjects (a subject's edits share a batch, as in the full run)
  const report = await evaluate({ editor, model, cases, mode: 'sequential', batchSize: 4, evalAfter: 'all', suites: ['counterfact'] });
  expect(modelFingerprint(model)).toBe(fp);
  expect(mean(report, 'efficacyScore')).toBeGreaterThanOrEqual(0.85);
  expect(mean(report, 'neighborhoodScore')).toBeGreaterThanOrEqual(0.8);
  expect(report.methods[1].sequentialCurve!.length).toBeGreaterThan(1);
  editor.dispose();
}, 600_000);
