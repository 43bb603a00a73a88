/**
 * Load edits with a real mass editor: MEMIT on fact-small, one batch of 4 validation cases filled
 * with 6 load edits from the train split. The load requests reach MEMIT's call and are made — right
 * after the call, the model answers each load record's rewrite prompt with its new target, which it
 * did not before — while the report holds the 4 cases alone.
 * Statistics: the fact world's training corpus, its first 500 documents (a quick C; efficacy does
 * not hinge on it).
 */
import * as path from 'node:path';

import { type CausalLM, type EditDelta, type Editor, type EditOptions, type EditRequest, type LayerStats, computeLayerStats, fillTemplate, loadModel, modelFingerprint, readCorpus } from '@medit/core';
import { type EditCase, readDataset } from '@medit/data';
import { evaluate, scoreTargets } from '@medit/metrics';
import { MemitEditor, type MemitHyperParams } from '@medit/memit';

import { targetMatched } from '../src/harness/plan';

const FIX = path.resolve(__dirname, '../../../test-fixtures');

/** fact-small's MEMIT settings of packages/memit/test/bars.test.ts (less the AlphaEdit fields). */
const HP: Partial<MemitHyperParams> = {
  layers: [0],
  fact_token: 'subject_first',
  clamp_norm_factor: 8,
  v_lr: 1,
  v_num_grad_steps: 40,
  mom2_update_weight: 3,
  context_template_length_params: [[10, 3]],
};

/** MEMIT, and right after each call: whether each load record's new target is what the model answers. */
class ProbedMemit implements Editor {
  readonly name = 'MEMIT';
  readonly inner: MemitEditor;
  subjects: string[][] = [];
  loadAnswered: boolean[][] = [];
  constructor(stats: Map<number, LayerStats>, private readonly load: readonly EditCase[]) {
    this.inner = new MemitEditor(HP, { stats });
  }
  get hparams() {
    return this.inner.hparams;
  }
  async edit(model: CausalLM, requests: EditRequest[], opts?: EditOptions): Promise<EditDelta> {
    this.subjects.push(requests.map((r) => r.subject));
    const delta = await this.inner.edit(model, requests, opts);
    delta.apply(model);
    this.loadAnswered.push(answered(model, this.load));
    delta.revert(model);
    return delta;
  }
}

/** Whether the model's teacher-forced answer to each case's rewrite prompt is its new target. */
function answered(model: CausalLM, cases: readonly EditCase[]): boolean[] {
  return scoreTargets(model, cases.map((c) => ({ prompt: fillTemplate(c.request.prompt, c.request.subject), target: c.request.targetNew }))).map(targetMatched);
}

let model: CausalLM;
let stats: Map<number, LayerStats>;
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/fact-small'));
  stats = await computeLayerStats(model, { layers: HP.layers!, corpus: readCorpus(path.join(FIX, 'factworld/corpus/train-full.txt')), maxDocs: 500 });
}, 300_000);
afterAll(() => {
  for (const s of stats?.values() ?? []) s.mom2Sum.dispose();
  model?.dispose();
});

/** The first `k` cases of a split, one per subject, on none of `avoid`'s subjects. */
function firstSubjects(file: string, k: number, avoid: readonly EditCase[] = []): EditCase[] {
  const seen = new Set(avoid.map((c) => c.request.subject));
  return readDataset(path.join(FIX, 'factworld/edits', file)).cases.filter((c) => !seen.has(c.request.subject) && seen.add(c.request.subject)).slice(0, k);
}

test('MEMIT, one batch of 4 cases + 6 load edits on fact-small: the load edits are made, the report holds the cases alone', async () => {
  const cases = firstSubjects('counterfact-validation.json', 4);
  const load = firstSubjects('counterfact-train.json', 6, cases);
  expect(load).toHaveLength(6);
  // the model answers the true objects before any edit
  expect(answered(model, load)).toEqual(load.map(() => false));
  const fp = modelFingerprint(model);
  const editor = new ProbedMemit(stats, load);
  const report = await evaluate({ editor, model, cases, mode: 'batch', batchSize: cases.length, load, suites: ['counterfact'] });
  expect(modelFingerprint(model)).toBe(fp);
  expect(editor.subjects).toHaveLength(1);
  expect([...editor.subjects[0]].sort()).toEqual([...cases, ...load].map((c) => c.request.subject).sort());
  // after the call, the load records' new targets are the answers
  expect(editor.loadAnswered[0]).toEqual(load.map(() => true));
  const m = report.methods[1];
  expect(m.rows!.map((r) => r.id)).toEqual(cases.map((c) => c.id));
  expect(m.aggregates.efficacyScore.n).toBe(4);
  expect(m.aggregates.efficacyScore.mean).toBe(1);
  expect(m.efficiency).toMatchObject({ batches: 1, edits: 10 });
  expect(report.dataset.load).toEqual({ name: 'counterfact-train.json', cases: 6 });
  editor.inner.dispose();
}, 300_000);
