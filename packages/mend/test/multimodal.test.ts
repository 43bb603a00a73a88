/**
 * MEND and KE on a tiny vision-language model: MMEdit's training terms (image rephrase edit loss,
 * image locality KL) appear in the trainer's log with MMEdit's weights; the vision variant edits
 * the Q-Former's feed-forward output projection; edits through `withImages` depend on the image.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { type RgbImage, modelFingerprint, noGrad, tidy, withImages } from '@medit/core';
import { type MmeditCase, mmeditRequest } from '@medit/data';

import { KeEditor, MendEditor, examplesFromMmedit, trainEditor, type TrainLogRow } from '../src';
import { imageWorldTinyVlm } from '../../core/test-utils/tiny-vlm';

function image(seed: number): RgbImage {
  return { width: 12, height: 12, data: new Uint8Array(12 * 12 * 3).map((_, i) => (i * 29 + seed * 131) % 256) };
}

const CASES: MmeditCase<RgbImage>[] = ['blue', 'green', 'red', 'white'].map((alt, i) => ({
  id: String(i),
  src: 'Which nation does this flag belong to?',
  pred: 'yellow',
  alt,
  rephrase: 'Whose flag is shown here?',
  image: image(i),
  imageRephrase: image(i + 10),
  loc: 'What is the capital of the flag?',
  locAns: 'left',
  mLoc: image(i + 20),
  mLocQ: 'How many shapes are there?',
  mLocA: 'three',
  cond: '',
  source: { file: 'train.json', index: i },
}));

test('MEND trains with MMEdit terms: L = c_edit·L_e + c_loc·(L_loc + L_loc^image) + i_edit·L_e^image', async () => {
  const model = imageWorldTinyVlm(6, { qformer: 2, text: 3 });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mend-mm-'));
  try {
    const mend = MendEditor.create(model, { max_iters: 4, val_interval: 2, val_steps: 1, rank: 4, accumulate_bs: 1, val_fraction: 0.25, cedit: 0.1, iedit: 0.1, cloc: 1 });
    const examples = examplesFromMmedit(CASES);
    expect(examples[0].imageLocality?.[0].prompt).toBe('Question: How many shapes are there? Short answer:');
    const fingerprint = modelFingerprint(model);
    // a validation split of its own: nothing is held out of the (single) training example
    await expect(trainEditor(mend, { model, examples: examples.slice(0, 1), validation: [], outDir: out })).rejects.toThrow(/validation split is empty/);
    await trainEditor(mend, { model, examples: examples.slice(0, 1), validation: examples.slice(1), outDir: out, logEvery: 1 });
    const rows = fs.readFileSync(path.join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TrainLogRow);
    expect(rows.filter((r) => r.kind === 'val')).toHaveLength(2);
    for (const r of rows) {
      expect(typeof r.imageEditLoss).toBe('number');
      expect(r.imageLocLoss).toBeGreaterThanOrEqual(0);
      // the reported loss uses MMEdit's weights; locLoss already holds both KL terms
      expect(r.loss).toBeCloseTo(0.1 * r.editLoss + r.locLoss + 0.1 * r.imageEditLoss!, 5);
    }
    expect(modelFingerprint(model)).toBe(fingerprint);
    mend.dispose();
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    model.dispose();
  }
});

test('MEND vision variant edits the Q-Former output projection; the update depends on the image', async () => {
  const model = imageWorldTinyVlm(6, { qformer: 2, text: 3 });
  const inner = ['qformer.encoder.layer.0.output_query.dense.weight', 'qformer.encoder.layer.1.output_query.dense.weight'];
  const mend = MendEditor.create(model, { inner_params: inner, rank: 4, max_iters: 2, val_interval: 2, val_steps: 1, val_fraction: 0.25 });
  expect(mend.linears.map((l) => l.weightName)).toEqual(inner);
  // two training steps give the networks their normalisation statistics
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mend-vision-'));
  await trainEditor(mend, { model, examples: examplesFromMmedit(CASES), outDir: out });
  fs.rmSync(out, { recursive: true, force: true });
  expect(() => MendEditor.create(model, { inner_params: ['qformer.encoder.layer.0.intermediate_query.dense.weight'] })).toThrow(/not an MLP weight/);
  const request = mmeditRequest(CASES[0]);
  const norms = [];
  for (const img of [CASES[0].image, CASES[1].image]) {
    const delta = await mend.edit(withImages(model, [img]), [request]);
    expect(delta.updates.map((u) => u.name)).toEqual(inner);
    norms.push(delta.norms()[inner[1]]);
    const before = noGrad(() => tidy(() => model.forward([[3, 4, 5]], { images: [img] }).logits.data() as Float32Array));
    delta.apply(model);
    const after = noGrad(() => tidy(() => model.forward([[3, 4, 5]], { images: [img] }).logits.data() as Float32Array));
    const text = noGrad(() => tidy(() => model.forward([[3, 4, 5]]).logits.data() as Float32Array));
    delta.revert(model);
    const textBefore = noGrad(() => tidy(() => model.forward([[3, 4, 5]]).logits.data() as Float32Array));
    expect(Math.max(...after.map((x, i) => Math.abs(x - before[i])))).toBeGreaterThan(0);
    // a vision-side edit cannot touch text-only inputs
    expect(Buffer.from(text.buffer).equals(Buffer.from(textBefore.buffer))).toBe(true);
    delta.dispose();
  }
  expect(norms[0]).not.toBeCloseTo(norms[1], 6);
  mend.dispose();
  model.dispose();
});

test('KE edits the LM FFNs from an image-conditioned gradient and its condition text', async () => {
  const model = imageWorldTinyVlm(6, { qformer: 2, text: 3 });
  const ke = KeEditor.create(model, { hidden_dim: 8, condition_dim: 8, param_hidden: 4 });
  const delta = await ke.edit(withImages(model, [CASES[0].image]), [mmeditRequest(CASES[0])]);
  expect(delta.updates.map((u) => u.name)).toEqual(ke.linears.map((l) => l.weightName));
  expect(delta.updates[0].name).toMatch(/^language_model\.transformer\.h\.\d\.mlp\.c_fc\.weight$/);
  delta.dispose();
  ke.dispose();
  model.dispose();
});
