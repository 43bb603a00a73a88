/**
 * The MMEdit harness on a tiny vision-language model: the report's shape (unedited baseline then
 * the editor, five metrics per case), the baseline agreeing with itself on locality, the editor
 * seeing the edit's image, and the model's weights bit-identical afterwards.
 */

import { type CausalLM, EditDelta, type EditRequest, type Editor, type RgbImage, memory, modelFingerprint, randn } from '@medit/core';
import type { MmeditCase } from '@medit/data';

import { evaluateMmedit, mmeditGallery, renderHtmlReport } from '../src';
import { imageWorldTinyVlm } from '../../core/test-utils/tiny-vlm';

function image(seed: number): RgbImage {
  const data = new Uint8Array(12 * 12 * 3).map((_, i) => (i * 37 + seed * 101) % 256);
  return { width: 12, height: 12, data };
}

function mmCase(i: number): MmeditCase<RgbImage> {
  return {
    id: String(i),
    src: 'Which nation uses this flag?',
    pred: 'red',
    alt: ['three', 'blue', 'circle'][i],
    rephrase: 'What nation is this flag of?',
    image: image(i),
    imageRephrase: image(i + 10),
    loc: 'What is the capital of the shapes?',
    locAns: 'left',
    mLoc: image(i + 20),
    mLocQ: 'How many shapes are there?',
    mLocA: 'four',
    cond: '',
    source: { file: 'tiny-eval.json', index: i },
  };
}

/** Adds a fixed random update to the last MLP. */
class RandomUpdateEditor implements Editor {
  readonly name = 'test-editor';
  readonly hparams = { std: 0.5 };

  async edit(model: CausalLM, requests: EditRequest[]): Promise<EditDelta> {
    const name = model.rewriteModule(model.config.numLayers - 1).weightName;
    return new EditDelta([{ name, delta: randn(model.param(name).shape, { seed: requests.length, std: 0.5 }) }], { method: this.name });
  }
}

test('evaluateMmedit: baseline then editor, five metrics per case, weights restored', async () => {
  const model = imageWorldTinyVlm(4);
  const fingerprint = modelFingerprint(model);
  const before = memory().numTensors;
  const cases = [0, 1, 2].map(mmCase);
  const editor = new RandomUpdateEditor();
  const report = await evaluateMmedit({ editor, model, cases });
  expect(report.methods.map((m) => m.name)).toEqual(['unedited', 'test-editor']);
  const [base, edited] = report.methods;
  for (const m of report.methods) expect(Object.keys(m.aggregates).sort()).toEqual(['mGenerality', 'mLocality', 'reliability', 'tGenerality', 'tLocality']);
  expect(base.aggregates.tLocality.mean).toBe(1);
  expect(base.aggregates.mLocality.mean).toBe(1);
  expect(edited.rows).toHaveLength(3);
  // a large random update moves some top-10 lists
  expect(edited.aggregates.mLocality.mean!).toBeLessThan(1);
  expect(edited.efficiency?.edits).toBe(3);
  expect(modelFingerprint(model)).toBe(fingerprint);
  expect(memory().numTensors).toBe(before);
  const html = renderHtmlReport(report, { gallery: mmeditGallery(cases, 2) });
  expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(6);
  expect(html).toContain('Which nation uses this flag? → three (was: red)');
  model.dispose();
});

test('the editor runs on image + text: its forward passes carry the edit image', async () => {
  const model = imageWorldTinyVlm(4);
  const images: (readonly (RgbImage | null)[] | undefined)[] = [];
  const forward = model.forward.bind(model);
  model.forward = (ids, opts) => {
    images.push(opts?.images);
    return forward(ids, opts);
  };
  const editor: Editor = {
    name: 'probe',
    hparams: {},
    async edit(m) {
      m.forward([[1, 2, 3]]);
      return new EditDelta([], { method: 'probe' });
    },
  };
  const cases = [mmCase(0)];
  await evaluateMmedit({ editor, model, cases });
  // baseline and post-edit scoring pass images per row; the editor's own pass got the edit image
  expect(images.some((x) => x?.length === 1 && x[0] === cases[0].image)).toBe(true);
  model.dispose();
});

test('bad options are named', async () => {
  const model = imageWorldTinyVlm(4);
  await expect(evaluateMmedit({ model, cases: [] })).rejects.toThrow(/non-empty array of MMEdit cases/);
  model.dispose();
});
