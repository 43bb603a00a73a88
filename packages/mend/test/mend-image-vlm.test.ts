/**
 * The committed MEND editors of the image world's VLM, one per task as MMEdit trains them (on
 * the task's MMEdit train split only, by scripts/imageworld/train-editors.ts): one edit end to
 * end — the model names the unknown flag after the edit, also for a rephrased question and a
 * re-rendered flag, and text-only answers stay — and a sample of each validation task through the MMEdit harness against the committed
 * validation-split report (bench/reports/mmedit). The tests read the validation split, not eval:
 * eval is run once, for the table (bench/RESULTS.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, loadModel, readPng, withImages } from '@medit/core';
import { mmeditRequest, readMmedit, withCaseImages } from '@medit/data';
import { evaluateMmedit, scoreTargets } from '@medit/metrics';

import { MendEditor } from '../src';

const ROOT = path.join(__dirname, '../../..');
const FIX = path.join(ROOT, 'test-fixtures');
const SAMPLE = 20;

let model: CausalLM;
/** MMEdit's MEND is trained per task: one editor for E-VQA, one for E-IC */
const mend: Record<string, MendEditor> = {};
beforeAll(async () => {
  model = await loadModel(path.join(FIX, 'models/image-vlm'));
  for (const task of ['vqa', 'caption']) mend[task] = await MendEditor.load(path.join(FIX, `editors/mend-${task}-image-vlm.safetensors`), model);
});
afterAll(() => {
  for (const m of Object.values(mend)) m.dispose();
  model.dispose();
});

const cases = (task: string) => readMmedit(path.join(FIX, `imageworld/edits/${task}-val.json`)).cases.map((c) => withCaseImages(c, readPng));

/** The committed validation-split report's per-case rows of `method` on `task`. */
function committedRows(task: string, method: string): { metrics: Record<string, number> }[] {
  const report = JSON.parse(fs.readFileSync(path.join(ROOT, `bench/reports/mmedit/image-vlm-${task}-val.json`), 'utf8')) as { methods: { name: string; rows: { metrics: Record<string, number> }[] }[] };
  return report.methods.find((m) => m.name === method)!.rows;
}

test('one E-VQA edit: the new answer for the image, its rephrase and a re-rendered image; text-only answers unchanged', async () => {
  // the first record the committed report counts as edited on all three inputs
  const i = committedRows('vqa', 'MEND').findIndex((r) => r.metrics.reliability === 1 && r.metrics.tGenerality === 1 && r.metrics.mGenerality === 1);
  expect(i).toBeGreaterThanOrEqual(0);
  const c = cases('vqa')[i];
  const exact = () =>
    scoreTargets(model, [
      { image: c.image, prompt: c.src, target: c.alt },
      { image: c.image, prompt: c.rephrase, target: c.alt },
      { image: c.imageRephrase, prompt: c.src, target: c.alt },
      { image: null, prompt: c.loc, target: c.locAns },
    ]).map((s) => s.predicted.join() === s.targetIds.join());
  const before = exact();
  expect(before.slice(0, 3)).toEqual([false, false, false]);
  const delta = await mend.vqa.edit(withImages(model, [c.image]), [mmeditRequest(c)]);
  delta.apply(model);
  try {
    expect(exact()).toEqual([true, true, true, before[3]]);
  } finally {
    delta.revert(model);
    delta.dispose();
  }
});

/** The committed validation-split report's mean of each metric over the first `n` cases of `method`. */
function committedMeans(task: string, method: string, n: number): Record<string, number> {
  const rows = committedRows(task, method).slice(0, n);
  return Object.fromEntries(Object.keys(rows[0].metrics).map((k) => [k, rows.reduce((s, r) => s + r.metrics[k], 0) / n]));
}

// the sample reproduces the committed validation report (the bars are judged on eval, bench/RESULTS.md)
test.each(['vqa', 'caption'])('%s validation sample: the committed report (bench/reports/mmedit) within one case, edits where the unedited model has none, T-Locality ≥ 0.90', async (task) => {
  const report = await evaluateMmedit({ editor: mend[task], model, cases: cases(task).slice(0, SAMPLE) });
  const m = Object.fromEntries(Object.entries(report.methods[1].aggregates).map(([k, a]) => [k, a.mean!]));
  const committed = committedMeans(task, 'MEND', SAMPLE);
  for (const k of ['reliability', 'tGenerality', 'mGenerality', 'tLocality', 'mLocality']) expect(Math.abs(m[k] - committed[k])).toBeLessThanOrEqual(1 / SAMPLE + 1e-9);
  expect(report.methods[0].aggregates.reliability.mean).toBe(0);
  expect(m.reliability).toBeGreaterThan(0);
  expect(m.tLocality).toBeGreaterThanOrEqual(0.9);
});
