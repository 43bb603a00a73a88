/**
 * Trains MMEdit's learned editors for the image world's VLM on the train split of both tasks
 * (E-VQA and E-IC records together), with MMEdit's loss weights (c_edit = i_edit = 0.1, c_loc = 1):
 *
 *   flock /work/.heavy.lock node scripts/dist/imageworld/train-editors.js --method mend --out DIR [--resume]
 *
 * Methods (what each edits, spec §8.3):
 * - `mend`: the language model's FFNs (c_fc, c_proj) of the last 3 layers;
 * - `mend-vision`: the Q-Former's feed-forward output projections (`output_query.dense`, both layers);
 * - `ke`: KnowledgeEditor's hypernetwork over the same LM FFNs, conditioned on "{pred} >> {alt} || {src}";
 * - `serac`: text-only embedding scope classifier + counterfactual VLM (own projection and LM).
 * MEND and KE train with `@medit/mend`'s resumable trainer (checkpoints in DIR); SERAC writes its
 * artefact directory to DIR. Settings below are the fact-small editors' scaled to this model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readPng, type VisionLanguageModel, loadModel } from '@medit/core';
import { readMmedit, withCaseImages } from '@medit/data';
import { KeEditor, MendEditor, type TrainableEditor, examplesFromMmedit, trainEditor } from '@medit/mend';
import { trainMultimodalSerac } from '@medit/serac';

import { arg } from '../args';

const TRAIN = { max_iters: 3000, val_interval: 250, val_steps: 100, early_stop_patience: 1500, cedit: 0.1, iedit: 0.1, cloc: 1, batch_size: 1 };

const METHODS = ['mend', 'mend-vision', 'ke', 'serac'] as const;

function trainCases(edits: string) {
  return ['vqa', 'caption'].flatMap((task) => readMmedit(path.join(edits, `${task}-train.json`)).cases.map((c) => withCaseImages(c, readPng)));
}

async function main(): Promise<void> {
  const method = arg('method') as (typeof METHODS)[number];
  if (!METHODS.includes(method)) throw new Error(`--method must be one of ${METHODS.join(', ')}`);
  const modelDir = arg('model', 'test-fixtures/models/image-vlm');
  const edits = arg('edits', 'test-fixtures/imageworld/edits');
  const out = arg('out');
  const maxIters = Number(arg('max-iters', String(TRAIN.max_iters)));
  const cases = trainCases(edits);
  const started = Date.now();
  if (method === 'serac') {
    await trainMultimodalSerac({
      baseModel: modelDir,
      cases,
      out,
      scopeEmbeddingsFromBase: true,
      scope: { steps: Number(arg('scope-steps', '1500')), hiddenSize: 128, layers: 2, heads: 4, rephraseShare: 0.5 },
      counterfactual: { steps: Number(arg('cf-steps', '1000')), batchSize: 16, lr: 3e-4 },
      onProgress: (p) => {
        if (p.done % 100 === 0) console.log(JSON.stringify({ stage: p.stage, done: p.done, total: p.total, ...p.info }));
      },
    });
    console.log(JSON.stringify({ method, out, cases: cases.length, seconds: (Date.now() - started) / 1000 }));
    return;
  }
  const model = (await loadModel(modelDir)) as VisionLanguageModel;
  const resume = process.argv.includes('--resume') && fs.existsSync(path.join(out, 'last.safetensors'));
  const common = { ...TRAIN, max_iters: maxIters };
  let editor: TrainableEditor;
  if (method === 'ke') {
    const hp = { ...common, lr: 1e-3, accumulate_bs: 1, hidden_dim: 64, condition_dim: 128, param_hidden: 32 };
    editor = resume ? await KeEditor.load(path.join(out, 'last.safetensors'), model, hp) : KeEditor.create(model, hp);
  } else {
    // the vision variant: the last vision-side feed-forward output projections (MMEdit: Q-Former layer.{10,11}.output_query.dense)
    const side = model.qformer ? { stack: 'qformer' as const, layers: model.qformer.numLayers } : { stack: 'vision' as const, layers: model.vision.numLayers };
    const vision = method === 'mend-vision' ? { inner_params: Array.from({ length: side.layers }, (_, l) => model.visionMlpLinears(side.stack, l)[1].weightName) } : {};
    const hp = { ...common, ...vision, lr: 1e-4, edit_lr: 1e-4, lr_lr: 1e-3, rank: 64, accumulate_bs: 2 };
    editor = resume ? await MendEditor.load(path.join(out, 'last.safetensors'), model, hp) : MendEditor.create(model, hp);
  }
  const result = await trainEditor(editor, {
    model,
    examples: examplesFromMmedit(cases),
    outDir: out,
    resume,
    onProgress: (row) => console.log(JSON.stringify(row)),
  });
  console.log(JSON.stringify({ method, ...result }));
  model.dispose();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
