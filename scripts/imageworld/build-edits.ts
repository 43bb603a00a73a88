/**
 * Builds the MMEdit edit sets of the image world from a trained model's answers (edits.ts):
 *
 *   node scripts/dist/imageworld/build-edits.js --model test-fixtures/models/image-vlm --out test-fixtures/imageworld/edits
 *
 * Writes `{vqa,caption}-{train,val,eval}.json` (MMEdit records; image paths relative to the
 * folder), the PNG images under `images/<split>/`, and `manifest.json`: what every image shows
 * (its content key and split), the record counts and how many train/val records were dropped
 * for naming an eval subject or repeating an eval text. Deterministic for a model and seed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CausalLM, generate, loadModel, noGrad, writeFileAtomic, writePng } from '@medit/core';

import { arg } from '../args';
import { type DraftRecord, type Predict, buildSplit, contentKey, evalSubjects, withoutEvalLeaks } from './edits';
import { render } from './render';
import type { Split, World } from './world';

/** Greedy answers (up to 16 tokens, until end-of-text) for image + prompt examples, batched. */
export function greedyAnswers(model: CausalLM, world: World): Predict {
  const tok = model.tokenizer!;
  return (examples) => {
    const out: string[] = [];
    for (let s = 0; s < examples.length; s += 32) {
      const chunk = examples.slice(s, s + 32);
      const ids = chunk.map((e) => tok.encode(e.prompt));
      const images = chunk.map((e) => (e.content ? render(world, e.content, e.seed) : null));
      const cont = noGrad(() => generate(model, ids, { maxNewTokens: 16, images }));
      out.push(...cont.map((c) => tok.decode(c, { skipSpecialTokens: true }).trim()));
    }
    return out;
  };
}

async function main(): Promise<void> {
  const worldDir = arg('world', 'test-fixtures/imageworld');
  const out = arg('out');
  const seed = Number(arg('seed', '28'));
  const world = JSON.parse(fs.readFileSync(path.join(worldDir, 'world.json'), 'utf8')) as World;
  const model = await loadModel(arg('model'));
  const predict = greedyAnswers(model, world);
  const manifest: { images: Record<string, { content: string; split: Split }>; counts: Record<string, number>; dropped: Record<string, number>; model: string; seed: number } = {
    images: {},
    counts: {},
    dropped: {},
    model: arg('model'),
    seed,
  };
  fs.rmSync(out, { recursive: true, force: true });
  const subjects = evalSubjects(world);
  for (const task of ['vqa', 'caption'] as const) {
    const evalRecords = buildSplit(world, 'eval', task, predict, seed);
    const bySplit: Record<Split, DraftRecord[]> = { eval: evalRecords, train: [], val: [] };
    for (const split of ['train', 'val'] as const) {
      const { kept, dropped } = withoutEvalLeaks(buildSplit(world, split, task, predict, seed), evalRecords, subjects);
      bySplit[split] = kept;
      manifest.dropped[`${task}-${split}`] = dropped;
    }
    for (const split of ['train', 'val', 'eval'] as const) {
      const records = bySplit[split].map((r, i) => {
        const file = (tag: string, img: { content: DraftRecord['image']['content']; seed: number }) => {
          const rel = `images/${split}/${task}-${i}-${tag}.png`;
          writePng(path.join(out, rel), render(world, img.content, img.seed));
          manifest.images[rel] = { content: contentKey(img.content), split };
          return rel;
        };
        return {
          src: r.src,
          pred: r.pred,
          alt: r.alt,
          rephrase: r.rephrase,
          image: file('e', r.image),
          image_rephrase: file('r', r.imageRephrase),
          loc: r.loc,
          loc_ans: r.locAns,
          m_loc: file('m', r.mLoc),
          m_loc_q: r.mLocQ,
          m_loc_a: r.mLocA,
        };
      });
      writeFileAtomic(path.join(out, `${task}-${split}.json`), JSON.stringify(records, null, 2) + '\n');
      manifest.counts[`${task}-${split}`] = records.length;
    }
  }
  writeFileAtomic(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  console.log(JSON.stringify({ counts: manifest.counts, dropped: manifest.dropped }));
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
